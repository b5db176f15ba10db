"""Acceptance 4: a generation job killed mid-way and restarted ends with exactly the
requested count and no duplicates (PostgreSQL, Redis, real Celery worker processes).

The worker is killed with SIGKILL in the middle of a job, as the OOM killer or a lost
host would. Its message stays unacknowledged on Redis and would be redelivered only
after the broker's visibility timeout (an hour), so the job is picked up again by the
beat's resume task (generation_jobs_resume), which finds it without progress and queues
it again for a second worker. That run continues from the last committed chunk.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection

from loyalty.actors import Actor
from loyalty.celery import app
from promocodes import codes, services, tasks
from promocodes.models import GenerationJob, PromoCode
from tests import factories
from tests.worker.conftest import (
    Worker,
    _broker_url,
    _database_url,
    _queue_delete,
    _stop,
    poll,
    unacked_forget,
    worker_start,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REQUESTED = 400_000
CHUNK = 5_000
KILL_AFTER = 4 * CHUNK  # committed codes seen before the worker is killed
PROGRESS_TIMEOUT = 180
UNLOCK_TIMEOUT = 60
DONE_TIMEOUT = 600


def worker_new(*, queue: str, broker_url: str, database_url: str, log) -> Worker:
    """One more worker on `queue` (a distinct node name: the killed one may linger)."""
    return worker_start(
        queue=queue,
        name=f"{queue}-{uuid.uuid4().hex[:6]}@%h",
        broker_url=broker_url,
        database_url=database_url,
        log=log,
    )


def job_now(job_id: int) -> GenerationJob:
    return GenerationJob.objects.get(pk=job_id)


def job_lock_held(job_id: int) -> bool:
    """Whether some session holds the job's advisory lock (a run in progress)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
               AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2""",
            [services._LOCK_SPACE, job_id],
        )
        return cursor.fetchone()[0] > 0


def code_counts(batch_id: int) -> tuple[int, int]:
    """(COUNT(*), COUNT(DISTINCT code)) of the batch's codes, from the database."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(DISTINCT code) FROM {PromoCode._meta.db_table} "
            "WHERE batch_id = %s",
            [batch_id],
        )
        return tuple(cursor.fetchone())


@pytest.fixture
def workers(django_db_setup, tmp_path):
    """Starts workers on one queue of the test's own; each is stopped (or already dead)
    and the queue deleted afterwards, even on failure."""
    database_url = _database_url()
    broker_url = _broker_url()
    queue = f"loyalty-test-gen-{uuid.uuid4().hex[:12]}"
    started: list[Worker] = []

    def start() -> Worker:
        log = tmp_path / f"worker-{len(started) + 1}.log"
        worker = worker_new(queue=queue, broker_url=broker_url, database_url=database_url, log=log)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            _stop(worker)
        if started:
            _queue_delete(started[-1])
            unacked_forget(broker_url, queue)


@pytest.fixture
def sent_to(monkeypatch):
    """Route the service's `generation_job_run_task.delay(job_id)` to the current test
    worker's queue on Redis (with a small chunk); returns a holder for that worker."""
    current: dict[str, Worker] = {}
    sent: list[int] = []

    def delay(job_id: int):
        worker = current["worker"]
        sent.append(job_id)
        with app.connection_for_write(worker.broker_url) as conn:
            return tasks.generation_job_run_task.apply_async(
                args=[job_id], kwargs={"chunk_size": CHUNK}, queue=worker.queue, connection=conn
            )

    monkeypatch.setattr(tasks.generation_job_run_task, "delay", delay)
    current["sent"] = sent
    return current


def test_a_job_killed_mid_way_and_resumed_makes_exactly_the_requested_codes(workers, sent_to):
    # given a worker, and a batch of 400,000 codes whose generation is started
    first = workers()
    sent_to["worker"] = first
    batch = factories.CodeBatchFactory(count=REQUESTED)
    job = services.batch_generation_start(batch=batch, actor=Actor.for_task("test"))
    assert sent_to["sent"] == [job.pk]

    # when some chunks are committed, the worker is killed outright (SIGKILL)
    poll(
        f"{KILL_AFTER} codes committed",
        lambda: job_now(job.pk).generated >= KILL_AFTER,
        timeout=PROGRESS_TIMEOUT,
        workers=[first],
    )
    first.process.kill()
    first.process.wait(timeout=30)
    assert first.process.returncode == -9
    # PostgreSQL ends the dead worker's session when it reads the closed socket; with it go
    # the chunk in flight (rolled back) and the job's advisory lock.
    poll("the dead run's lock to go", lambda: not job_lock_held(job.pk), timeout=UNLOCK_TIMEOUT)

    # then the job stopped part-way, and exactly its committed chunks are in the table
    killed = job_now(job.pk)
    assert killed.status == GenerationJob.Status.RUNNING
    assert KILL_AFTER <= killed.generated < REQUESTED
    assert (killed.generated + killed.collisions) % CHUNK == 0  # whole chunks only
    assert code_counts(batch.pk) == (killed.generated, killed.generated)
    before_kill = set(PromoCode.objects.filter(batch=batch).values_list("code", flat=True))

    # when a new worker starts and the resume task finds the job without progress
    second = workers()
    sent_to["worker"] = second
    # Every job without progress since now: the dead one (a live run would only be sent
    # again to find its lock held and return).
    resumed = services.generation_jobs_resume(stale_after=dt.timedelta(0))
    assert resumed == [job.pk]
    done = poll(
        "the resumed job to finish",
        lambda: (j := job_now(job.pk)).status == GenerationJob.Status.DONE and j,
        timeout=DONE_TIMEOUT,
        workers=[second],
    )

    # then exactly the requested number of codes, none twice, the first run's kept
    assert (done.generated, done.requested) == (REQUESTED, REQUESTED)
    assert code_counts(batch.pk) == (REQUESTED, REQUESTED)
    after = set(PromoCode.objects.filter(batch=batch).values_list("code", flat=True))
    assert before_kill <= after
    assert all(codes.has_valid_check(code) for code in after)
    assert done.finished_at > done.started_at

    # and resuming again finds nothing to do
    assert services.generation_jobs_resume(stale_after=dt.timedelta(0)) == []
