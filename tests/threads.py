"""Real threads with real transactions, released at once (concurrency tests)."""

from __future__ import annotations

import threading

from django.db import connection


def race(count: int, work) -> list[tuple[str, object]]:
    """Run work(i) in `count` threads released at once; ("ok", result) or ("error", exc)."""
    barrier = threading.Barrier(count)
    results: list[tuple[str, object] | None] = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", work(i))
        except Exception as exc:
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results
