"""Generation jobs on the real database: exact counts, chunking, collisions skipped and
topped up (on PostgreSQL through the COPY → INSERT … ON CONFLICT fallback), resuming
after a crash, personal batches, and the resume task."""

import datetime as dt
import random

import pytest
from django.db import connection
from django.utils import timezone

from loyalty.actors import Actor
from promocodes import codes, errors, services, tasks
from promocodes.models import BatchRecipient, CodeBatch, GenerationJob, PromoCode
from promocodes.services import (
    batch_generation_start,
    generation_job_run,
    generation_jobs_resume,
    promo_code_issue,
)
from tests import factories

ACTOR = Actor.for_task("test")


class Boom(RuntimeError):
    pass


def fresh(seed: int):
    """A reproducible stand-in for secrets.token_bytes."""
    return random.Random(seed).randbytes


class Recorder:
    """A random source that remembers what it gave."""

    def __init__(self, source):
        self.source = source
        self.calls: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        data = self.source(n)
        self.calls.append(data)
        return data


def then(first: list[bytes], rest):
    """Give `first` (one block per call) and then what `rest` gives."""
    queue = list(first)

    def source(n: int) -> bytes:
        return queue.pop(0) if queue else rest(n)

    return source


def failing_on(call: int, source):
    """`source`, raising Boom on its `call`-th call (1-based)."""
    count = 0

    def wrapped(n: int) -> bytes:
        nonlocal count
        count += 1
        if count == call:
            raise Boom(f"worker lost on call {call}")
        return source(n)

    return wrapped


def never(n: int) -> bytes:
    raise AssertionError("a finished job drew random bytes")


def job_of(batch: CodeBatch, requested: int | None = None) -> GenerationJob:
    return GenerationJob.objects.create(
        batch=batch, requested=batch.count if requested is None else requested
    )


def batch_codes(batch: CodeBatch) -> list[str]:
    return list(PromoCode.objects.filter(batch=batch).values_list("code", flat=True))


def assert_well_formed(batch: CodeBatch, expected: int) -> list[str]:
    made = batch_codes(batch)
    assert len(made) == expected
    assert len(set(made)) == expected
    fmt = batch.code_format
    for code in made:
        assert len(code) == fmt.code_length
        assert code.startswith(batch.prefix)
        assert set(code[len(batch.prefix) : -1]) <= set(codes.ALPHABETS[batch.alphabet])
        assert codes.has_valid_check(code)
    return made


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The job ids sent to the broker (the task's delay, recorded instead)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.generation_job_run_task, "delay", sent.append)
    return sent


# --- Starting a job ------------------------------------------------------------------------


def test_start_queues_a_job_for_the_batch_count_on_commit(
    queued, django_capture_on_commit_callbacks
):
    # given a batch of 250 codes
    batch = factories.CodeBatchFactory(count=250)

    # when generation starts
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_generation_start(batch=batch, actor=ACTOR)

    # then a queued job asks for 250 codes, sent to the worker once committed
    job.refresh_from_db()
    assert (job.status, job.requested, job.generated, job.collisions) == ("queued", 250, 0, 0)
    assert queued == [job.pk]


def test_start_while_a_job_is_queued_or_running_returns_that_job(
    queued, django_capture_on_commit_callbacks
):
    # given a batch with a queued job
    batch = factories.CodeBatchFactory(count=250)
    with django_capture_on_commit_callbacks(execute=True):
        first = batch_generation_start(batch=batch, actor=ACTOR)

    for status in (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING):
        GenerationJob.objects.filter(pk=first.pk).update(status=status)

        # when generation is started again
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            again = batch_generation_start(batch=batch, actor=ACTOR)

        # then the same job comes back and nothing more is queued
        assert again.pk == first.pk
        assert callbacks == []
    assert GenerationJob.objects.count() == 1
    assert queued == [first.pk]


def test_start_after_a_finished_job_only_tops_the_batch_up(queued):
    # given a batch of 40 codes made by a finished job
    batch = factories.CodeBatchFactory(count=40)
    generation_job_run(job_id=job_of(batch).pk, chunk_size=16)

    # when generation starts again: as it is, then after the count was raised to 50
    unchanged = batch_generation_start(batch=batch, actor=ACTOR)
    generation_job_run(job_id=unchanged.pk)
    CodeBatch.objects.filter(pk=batch.pk).update(count=50)
    batch.refresh_from_db()
    raised = batch_generation_start(batch=batch, actor=ACTOR)
    generation_job_run(job_id=raised.pk)

    # then the first asks for nothing and the second for the 10 missing codes
    unchanged.refresh_from_db()
    raised.refresh_from_db()
    assert (unchanged.status, unchanged.requested, unchanged.generated) == ("done", 0, 0)
    assert (raised.status, raised.requested, raised.generated) == ("done", 10, 10)
    assert_well_formed(batch, 50)


def test_start_of_an_imported_batch_is_refused(queued):
    # given
    batch = factories.CodeBatchFactory(source=CodeBatch.Source.IMPORTED)

    # when / then
    with pytest.raises((errors.BatchNotImported, errors.BatchNotGenerated)):
        batch_generation_start(batch=batch, actor=ACTOR)
    assert not GenerationJob.objects.exists()
    assert queued == []


# --- Running a job ---------------------------------------------------------------------------


def test_a_job_makes_exactly_the_requested_codes_in_chunks():
    # given a job of 1,000 codes with a prefix, made 128 at a time
    batch = factories.CodeBatchFactory(count=1_000, prefix="SPRNG", uses_per_code=2)
    job = job_of(batch)
    chunks = Recorder(fresh(1))

    # when it runs
    done = generation_job_run(job_id=job.pk, chunk_size=128, random_bytes=chunks)

    # then exactly 1,000 unique, well-formed codes, drawn in ceil(1000 / 128) = 8 chunks
    assert_well_formed(batch, 1_000)
    assert len(chunks.calls) == 8
    assert (done.status, done.requested, done.generated, done.collisions) == (
        "done",
        1_000,
        1_000,
        0,
    )
    assert done.started_at is not None
    assert done.finished_at >= done.started_at
    assert done.percent == 100
    rows = set(
        PromoCode.objects.filter(batch=batch).values_list(
            "max_uses", "uses", "status", "member_id", "request_id"
        )
    )
    assert rows == {(2, 0, "active", None, "")}


@pytest.mark.parametrize("alphabet", sorted(codes.ALPHABETS))
def test_a_job_works_for_every_alphabet(alphabet):
    # given
    batch = factories.CodeBatchFactory(count=300, alphabet=alphabet, length=12, prefix="K7")

    # when
    generation_job_run(job_id=job_of(batch).pk, chunk_size=100)

    # then
    assert_well_formed(batch, 300)


def test_codes_colliding_with_another_batch_are_skipped_and_topped_up():
    # given batch A filled from a recorded source, and batch B of the same format whose
    # first chunk repeats A's first chunk exactly
    a = factories.CodeBatchFactory(count=300)
    recorder = Recorder(fresh(1))
    generation_job_run(job_id=job_of(a).pk, chunk_size=100, random_bytes=recorder)
    b = factories.CodeBatchFactory(count=300)
    job = job_of(b)

    # when B's job runs
    done = generation_job_run(
        job_id=job.pk, chunk_size=100, random_bytes=then(recorder.calls[:1], fresh(2))
    )

    # then the 100 repeated codes were skipped and made up for: B still has exactly 300
    assert done.collisions == 100
    assert (done.status, done.generated) == ("done", 300)
    b_codes = assert_well_formed(b, 300)
    assert set(b_codes).isdisjoint(batch_codes(a))
    assert PromoCode.objects.count() == 600


def test_a_chunk_partly_colliding_keeps_its_new_codes():
    # given batch A, and batch B whose first chunk repeats the first half of A's first
    # chunk (50 codes of 10 bytes each) and is fresh after it
    a = factories.CodeBatchFactory(count=100)
    recorder = Recorder(fresh(1))
    generation_job_run(job_id=job_of(a).pk, chunk_size=100, random_bytes=recorder)
    half = recorder.calls[0][:500]
    tail = fresh(2)
    b = factories.CodeBatchFactory(count=230)

    # when B's job runs (on PostgreSQL the chunk's COPY fails on the first repeated code
    # and the chunk is written again with INSERT … ON CONFLICT DO NOTHING)
    done = generation_job_run(
        job_id=job_of(b).pk,
        chunk_size=100,
        random_bytes=then([half + tail(1016 - 500)], fresh(3)),
    )

    # then the 50 new codes of that chunk were kept and the 50 repeats topped up
    assert done.collisions == 50
    assert (done.status, done.generated) == ("done", 230)
    assert set(assert_well_formed(b, 230)).isdisjoint(batch_codes(a))


def test_codes_repeated_inside_one_chunk_are_skipped():
    # given a source whose first chunk is one code repeated 100 times
    batch = factories.CodeBatchFactory(count=150)
    one_code = bytes(range(10)) * 102

    # when
    done = generation_job_run(
        job_id=job_of(batch).pk, chunk_size=100, random_bytes=then([one_code], fresh(4))
    )

    # then that chunk kept one of them, and the job still made exactly 150
    assert done.collisions == 99
    assert (done.status, done.generated) == ("done", 150)
    assert_well_formed(batch, 150)


def test_a_job_that_cannot_find_new_codes_fails_instead_of_spinning():
    # given 200 codes asked of a format that has only 8 (one digit)
    batch = factories.CodeBatchFactory(count=200, alphabet="digits", length=1)

    # when
    done = generation_job_run(job_id=job_of(batch).pk, chunk_size=50, random_bytes=fresh(5))

    # then it gave up after ten chunks without a new code, keeping the 8 it made
    done.refresh_from_db()
    assert done.status == GenerationJob.Status.FAILED
    assert done.generated == 8
    assert "10" in done.error
    assert done.finished_at is not None
    assert_well_formed(batch, 8)


def test_a_run_that_dies_mid_way_resumes_to_exactly_the_requested_count():
    # given a job of 450 codes whose run dies on its third chunk of 100
    batch = factories.CodeBatchFactory(count=450)
    job = job_of(batch)
    with pytest.raises(Boom):
        generation_job_run(job_id=job.pk, chunk_size=100, random_bytes=failing_on(3, fresh(1)))

    # then the two committed chunks are there, and the job says so
    job.refresh_from_db()
    assert (job.status, job.generated) == ("running", 200)
    assert len(batch_codes(batch)) == 200
    first_codes = set(batch_codes(batch))

    # when it is run again
    done = generation_job_run(job_id=job.pk, chunk_size=100, random_bytes=fresh(2))

    # then it continued where it stopped: exactly 450, none twice, the first 200 kept
    assert (done.status, done.generated, done.requested) == ("done", 450, 450)
    assert first_codes <= set(assert_well_formed(batch, 450))


def test_a_run_that_dies_records_its_error_and_counts_the_attempt():
    # given a job whose run dies on its second chunk
    batch = factories.CodeBatchFactory(count=300)
    job = job_of(batch)

    # when
    with pytest.raises(Boom):
        generation_job_run(job_id=job.pk, chunk_size=100, random_bytes=failing_on(2, fresh(3)))

    # then staff see why, and the attempt is counted
    job.refresh_from_db()
    assert (job.status, job.generated, job.attempts) == ("running", 100, 1)
    assert job.error.startswith("Boom")


def test_a_job_that_keeps_dying_is_given_up_after_its_attempts():
    # given a job that already started JOB_ATTEMPTS_MAX runs, none finished
    from promocodes.services import JOB_ATTEMPTS_MAX

    batch = factories.CodeBatchFactory(count=300)
    job = job_of(batch)
    GenerationJob.objects.filter(pk=job.pk).update(
        attempts=JOB_ATTEMPTS_MAX, status="running", error="Boom: disk full"
    )

    # when the resume task runs it once more
    given_up = generation_job_run(job_id=job.pk, random_bytes=never)

    # then it is FAILED with the reason, and no code was made
    assert given_up.status == "failed"
    assert given_up.finished_at is not None
    assert "Boom: disk full" in given_up.error
    assert str(JOB_ATTEMPTS_MAX) in given_up.error
    assert batch_codes(batch) == []


def test_a_finished_job_is_not_run_again():
    # given a done job
    batch = factories.CodeBatchFactory(count=30)
    job = job_of(batch)
    generation_job_run(job_id=job.pk, chunk_size=7)
    job.refresh_from_db()
    before = (job.status, job.generated, job.finished_at, sorted(batch_codes(batch)))

    # when it is run again (a redelivered message)
    again = generation_job_run(job_id=job.pk, random_bytes=never)

    # then nothing is drawn or written
    job.refresh_from_db()
    assert again.status == "done"
    assert (job.status, job.generated, job.finished_at, sorted(batch_codes(batch))) == before


def test_a_failed_job_is_not_run_again():
    # given
    batch = factories.CodeBatchFactory(count=30)
    job = job_of(batch)
    GenerationJob.objects.filter(pk=job.pk).update(status=GenerationJob.Status.FAILED)

    # when
    again = generation_job_run(job_id=job.pk, random_bytes=never)

    # then
    assert (again.status, again.generated) == ("failed", 0)
    assert batch_codes(batch) == []


def test_the_task_runs_the_job():
    # given
    batch = factories.CodeBatchFactory(count=25)
    job = job_of(batch)

    # when the Celery task body runs (in process)
    generated = tasks.generation_job_run_task.apply(args=[job.pk]).get()

    # then
    assert generated == 25
    assert_well_formed(batch, 25)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="advisory locks are PostgreSQL's")
def test_a_run_while_another_holds_the_job_does_nothing():
    # given a job whose advisory lock another session holds (a run still in progress)
    import psycopg

    batch = factories.CodeBatchFactory(count=30)
    job = job_of(batch)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [services._LOCK_SPACE, job.pk])

        # when a second run starts
        again = generation_job_run(job_id=job.pk, random_bytes=never)

    # then it leaves the job to the first
    assert (again.status, again.generated) == ("queued", 0)
    assert batch_codes(batch) == []


# --- Personal batches ------------------------------------------------------------------------


@pytest.fixture
def personal(tiers):
    """A personal batch with seven recipients."""
    batch = factories.CodeBatchFactory(is_personal=True, count=7, uses_per_code=1)
    members = [factories.MemberFactory(tier=tiers["Base"]) for _ in range(7)]
    BatchRecipient.objects.bulk_create(BatchRecipient(batch=batch, member=m) for m in members)
    return batch, members


def owners(batch) -> list[int]:
    return sorted(PromoCode.objects.filter(batch=batch).values_list("member_id", flat=True))


def test_a_personal_batch_gets_one_code_per_recipient(personal, queued):
    # given
    batch, members = personal

    # when generation starts and runs three codes at a time
    job = batch_generation_start(batch=batch, actor=ACTOR)
    assert job.requested == 7
    done = generation_job_run(job_id=job.pk, chunk_size=3)

    # then each recipient has exactly one code
    assert (done.status, done.generated) == ("done", 7)
    assert owners(batch) == sorted(m.pk for m in members)
    assert_well_formed(batch, 7)


def test_a_personal_job_resumes_after_a_crash(personal):
    # given a personal job that died on its second chunk of three
    batch, members = personal
    job = job_of(batch, requested=7)
    with pytest.raises(Boom):
        generation_job_run(job_id=job.pk, chunk_size=3, random_bytes=failing_on(2, fresh(1)))
    assert len(owners(batch)) == 3

    # when it runs again
    done = generation_job_run(job_id=job.pk, chunk_size=3)

    # then every recipient has one code, none two
    assert (done.status, done.generated) == ("done", 7)
    assert owners(batch) == sorted(m.pk for m in members)


def test_a_recipient_issued_a_code_already_gets_no_second_one(personal, queued):
    # given a recipient who was issued a personal code before generation
    batch, members = personal
    issued, _ = promo_code_issue(batch=batch, member=members[3], actor=ACTOR)

    # when generation starts and runs
    job = batch_generation_start(batch=batch, actor=ACTOR)
    done = generation_job_run(job_id=job.pk, chunk_size=3)

    # then it made codes for the six others only
    assert job.requested == 6
    assert (done.status, done.generated) == ("done", 6)
    assert owners(batch) == sorted(m.pk for m in members)
    assert PromoCode.objects.get(member=members[3]).pk == issued.pk


def test_a_personal_job_ends_when_recipients_got_codes_meanwhile(personal):
    # given a job for all seven recipients, two of whom are issued codes before it runs
    batch, members = personal
    job = job_of(batch, requested=7)
    for member in members[:2]:
        promo_code_issue(batch=batch, member=member, actor=ACTOR)

    # when it runs
    done = generation_job_run(job_id=job.pk, chunk_size=3)

    # then it made the five missing codes and finished
    assert (done.status, done.generated, done.requested) == ("done", 5, 5)
    assert owners(batch) == sorted(m.pk for m in members)


def test_a_personal_chunk_colliding_with_other_codes_is_topped_up(personal):
    # given another batch's three codes, and a personal job whose first chunk of three
    # repeats them
    batch, members = personal
    other = factories.CodeBatchFactory(count=3)
    recorder = Recorder(fresh(1))
    generation_job_run(job_id=job_of(other).pk, chunk_size=3, random_bytes=recorder)

    # when the personal job runs
    done = generation_job_run(
        job_id=job_of(batch, requested=7).pk,
        chunk_size=3,
        random_bytes=then(recorder.calls[:1], fresh(2)),
    )

    # then the three repeats were skipped and their recipients served by later chunks
    assert (done.status, done.generated, done.collisions) == ("done", 7, 3)
    assert owners(batch) == sorted(m.pk for m in members)
    assert set(assert_well_formed(batch, 7)).isdisjoint(batch_codes(other))


# --- The resume task -------------------------------------------------------------------------


def test_resume_requeues_only_stale_jobs(queued):
    # given jobs in every state, some with recent progress and some without
    now = timezone.now()
    batch = factories.CodeBatchFactory(count=10)

    def job(status, *, created_ago, heartbeat_ago=None):
        made = job_of(batch)
        GenerationJob.objects.filter(pk=made.pk).update(
            status=status,
            created_at=now - created_ago,
            heartbeat_at=None if heartbeat_ago is None else now - heartbeat_ago,
        )
        return made.pk

    minutes = dt.timedelta(minutes=1)
    dead_running = job("running", created_ago=20 * minutes, heartbeat_ago=10 * minutes)
    live_running = job("running", created_ago=20 * minutes, heartbeat_ago=minutes / 2)
    lost_queued = job("queued", created_ago=10 * minutes)
    new_queued = job("queued", created_ago=minutes / 2)
    job("done", created_ago=60 * minutes, heartbeat_ago=50 * minutes)
    job("failed", created_ago=60 * minutes, heartbeat_ago=50 * minutes)

    # when the resume task runs with the default two minutes
    resumed = generation_jobs_resume()

    # then only the jobs without progress for two minutes are sent again
    assert sorted(resumed) == sorted([dead_running, lost_queued])
    assert sorted(queued) == sorted([dead_running, lost_queued])
    assert live_running not in queued
    assert new_queued not in queued

    # and the resume task of the beat does the same
    queued.clear()
    assert sorted(tasks.generation_jobs_resume_task.apply().get()) == sorted(
        [dead_running, lost_queued]
    )


def test_a_resumed_job_finishes(queued):
    # given a job that died after its first chunk, ten minutes ago
    batch = factories.CodeBatchFactory(count=90)
    job = job_of(batch)
    with pytest.raises(Boom):
        generation_job_run(job_id=job.pk, chunk_size=40, random_bytes=failing_on(2, fresh(1)))
    ago = timezone.now() - dt.timedelta(minutes=10)
    GenerationJob.objects.filter(pk=job.pk).update(created_at=ago, heartbeat_at=ago)

    # when the resume task sends it again and the worker runs what was sent
    assert generation_jobs_resume() == [job.pk]
    for job_id in queued:
        generation_job_run(job_id=job_id, chunk_size=40)

    # then
    job.refresh_from_db()
    assert (job.status, job.generated) == ("done", 90)
    assert_well_formed(batch, 90)
    assert generation_jobs_resume() == []
