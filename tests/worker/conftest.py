"""A real Celery worker, started as a subprocess for the tests of this folder.

The worker consumes a queue of its own (so no other worker on the same broker takes
these tasks, and this worker takes no one else's) on the Redis broker of
CELERY_BROKER_URL, or redis://127.0.0.1:6379/14 when that is not set, and works on
the pytest test database. It needs PostgreSQL: an in-memory SQLite test database
lives inside the pytest process and cannot be shared with another process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
READY_TIMEOUT = 60
STOP_TIMEOUT = 30


@dataclass(frozen=True)
class Worker:
    queue: str
    broker_url: str
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _broker_url() -> str:
    """The Redis broker, checked to answer; a clear failure (never a skip) otherwise."""
    url = os.environ.get("CELERY_BROKER_URL", "").strip() or DEFAULT_BROKER
    if not url.startswith(("redis://", "rediss://")):
        pytest.fail(
            f"The worker tests need a Redis broker; CELERY_BROKER_URL is {url!r}. "
            f"Unset it to use {DEFAULT_BROKER}, or point it at Redis."
        )
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis at {url} does not answer ({exc}). The worker tests run a real Celery "
            "worker on Redis: start Redis, or set CELERY_BROKER_URL to one that answers."
        )
    return url


def _database_url() -> str:
    """The pytest test database (test_<name>), as a DATABASE_URL for the worker."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        message = (
            "The worker tests need PostgreSQL (DATABASE_URL=postgres://…): the SQLite test "
            "database is in memory, inside this pytest process, and a worker process "
            "cannot see it."
        )
        if os.environ.get("CI"):
            pytest.fail(message + " CI must run the suite on PostgreSQL.")
        pytest.skip(message)
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(db['NAME'], safe='')}"


def _wait_ready(worker: Worker) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(
                f"The Celery worker exited with {worker.process.returncode}:\n{worker.log_tail()}"
            )
        if worker.log.exists() and " ready." in worker.log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    pytest.fail(f"The Celery worker was not ready in {READY_TIMEOUT} s:\n{worker.log_tail()}")


def _stop(worker: Worker) -> None:
    """Warm shutdown (SIGTERM lets the task in flight finish), then kill if it hangs."""
    process = worker.process
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _queue_delete(worker: Worker) -> None:
    """Remove the test queue and its binding from the broker (declared the way Celery
    declares a missing queue, so kombu knows the binding it deletes)."""
    from kombu import Exchange, Queue

    from loyalty.celery import app

    try:
        with app.connection_for_write(worker.broker_url) as conn:
            queue = Queue(worker.queue, Exchange(worker.queue), routing_key=worker.queue)
            bound = queue(conn.default_channel)
            bound.declare()
            bound.delete()
    except Exception as exc:  # cleanup only: a leftover empty queue harms nothing
        sys.stderr.write(f"could not delete the test queue {worker.queue}: {exc}\n")


def worker_start(
    *,
    queue: str,
    name: str,
    broker_url: str,
    database_url: str,
    log,
    extra_env: dict[str, str] | None = None,
) -> Worker:
    """A Celery worker subprocess consuming `queue`, ready to take tasks; `extra_env` is
    added to (and may override) its environment."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loyalty.test_settings",
        "LOYALTY_TESTING": "1",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "loyalty", "worker",
        "--pool=solo", "--concurrency=1", "--loglevel=INFO",
        "-Q", queue, "-n", name,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    worker = Worker(queue=queue, broker_url=broker_url, log=log, process=process)
    try:
        _wait_ready(worker)
    except BaseException:
        _stop(worker)
        raise
    return worker


def poll(what: str, check, *, timeout: float, workers: list[Worker] = (), interval: float = 0.05):
    """Call `check` until it returns something truthy; fail with the workers' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for worker in workers:
            if worker.process.poll() is not None:
                pytest.fail(
                    f"A worker exited ({worker.process.returncode}) while waiting for {what}:"
                    f"\n{logs(workers)}"
                )
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout} s waiting for {what}.\n{logs(workers)}")


def logs(workers: list[Worker]) -> str:
    return "\n".join(f"--- {w.log.name}:\n{w.log_tail(60)}" for w in workers)


def unacked_forget(broker_url: str, queue: str) -> None:
    """Drop the queue's unacknowledged messages (kombu would restore them to the deleted
    test queue after an hour)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    for tag, raw in client.hgetall("unacked").items():
        if json.loads(raw)[2] == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, tmp_path_factory):
    """A started Celery worker on a queue of its own; stopped after the module, even on
    failure."""
    database_url = _database_url()
    broker_url = _broker_url()
    queue = f"loyalty-test-{uuid.uuid4().hex[:12]}"
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    worker = worker_start(
        queue=queue, name=f"{queue}@%h", broker_url=broker_url, database_url=database_url, log=log
    )
    try:
        yield worker
    finally:
        _stop(worker)
        _queue_delete(worker)
