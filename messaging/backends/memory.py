"""Keeps sent messages in a list of this process: for tests and benchmarks."""

import threading

from messaging.backends import Accepted, Backend, Outgoing

outbox: list[Outgoing] = []
_lock = threading.Lock()


class MemoryBackend(Backend):
    def send(self, message: Outgoing) -> Accepted:
        with _lock:
            outbox.append(message)
        return Accepted(provider_id=message.idempotency_key, response="memory")


def clear() -> None:
    with _lock:
        outbox.clear()
