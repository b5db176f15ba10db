"""Promo codes at a million: promocodes.services.generation_job_run against a raw COPY
of as many random codes into the same table, in the same run; then the batch exported
as CSV (and XLSX) with promocodes.exports.

Generation methods, each measured the same way (promocodes_promocode emptied with
TRUNCATE, VACUUM ANALYZE and CHECKPOINT, then wall-clock time from this process,
commits included):

- generation_job_run: the real job, in process, with its default chunk size: codes
  made with `secrets` and their check character, one COPY and one job update per
  chunk, each chunk its own transaction.
- raw COPY: the yardstick. As many random strings of the same length (secrets bytes
  mapped onto the alphabet, no check character), written with one COPY in one
  transaction. Not a valid generation: no check character, no job, no resume.

The job runs first, so its memory is measured in a process that has not yet held the
raw side's megabytes; its codes are then checked and exported before the table is
emptied for the raw COPY.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from bench import memory
from bench.database import settle
from bench.memory import PeakRss
from promocodes import codes
from promocodes.exports import csv_stream, xlsx_file
from promocodes.models import CodeBatch, GenerationJob, PromoCode

OURS = "generation_job_run"
RAW = "raw COPY"

_CODE = PromoCode._meta.db_table
_BATCH = CodeBatch._meta.db_table
_COLUMNS = "(batch_id, code, member_id, max_uses, uses, status, request_id)"


@dataclass(frozen=True)
class Measured:
    seconds: float
    rss_before: int | None
    rss_peak: int | None
    load: float | None  # 1-minute load average when it started (others' CPU use)

    @property
    def rss_growth(self) -> int | None:
        return memory.growth(self.rss_before, self.rss_peak)


@dataclass(frozen=True)
class CodesCheck:
    """What the job left in the table."""

    rows: int
    distinct: int
    wrong_length: int
    bad_check_char: int  # codes whose last character is not codes.check_char of the rest
    job_status: str
    job_generated: int
    job_collisions: int

    def holds(self, expected: int) -> bool:
        return (
            self.rows == self.distinct == self.job_generated == expected
            and self.wrong_length == 0
            and self.bad_check_char == 0
            and self.job_status == GenerationJob.Status.DONE
        )


@dataclass(frozen=True)
class Export:
    file_format: str
    rows: int  # CSV: data rows written (header not counted); XLSX: codes of the batch
    size: int  # bytes written
    measured: Measured


@dataclass(frozen=True)
class PromoFigures:
    codes: int
    code_length: int
    chunk_size: int
    runs: dict[str, Measured]
    check: CodesCheck
    making_seconds: float  # the job's Python side alone: make, split and format its codes
    csv: Export
    xlsx: Export | None

    @property
    def ratio(self) -> float:
        return self.runs[OURS].seconds / self.runs[RAW].seconds


def promocodes_reset() -> None:
    """Empty every promo code table (batches, codes, jobs, recipients, redemptions)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {_BATCH} RESTART IDENTITY CASCADE")


def _codes_empty() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {_CODE} RESTART IDENTITY CASCADE")
    settle([_CODE])


def _batch(count: int) -> CodeBatch:
    now = timezone.now()
    return CodeBatch.objects.create(
        name=f"Bench: {count:,} codes",
        count=count,
        valid_from=now,
        valid_until=now + dt.timedelta(days=30),
        reward_kind=CodeBatch.Reward.PERCENT,
        reward_value=Decimal(10),
    )


def _measure(fn: Callable[[], object]) -> tuple[Measured, object]:
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    with PeakRss() as memory:
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
    return Measured(elapsed, memory.before, memory.peak, load), result


def _raw_copy(batch: CodeBatch, count: int) -> int:
    """`count` random codes of the batch's length in one COPY: fixed-width records built
    with bytes operations, so making them costs tens of milliseconds."""
    length = batch.code_format.code_length
    # 256 is a multiple of 32: every character of the alphabet equally likely.
    to_char = bytes(ord(codes.CODE_CHARS[b % len(codes.CODE_CHARS)]) for b in range(256))
    random_codes = secrets.token_bytes(length * count).translate(to_char)
    head = f"{batch.pk}\t".encode()
    tail = f"\t\\N\t{batch.uses_per_code}\t0\t{PromoCode.Status.ACTIVE}\t\n".encode()
    record = len(head) + length + len(tail)
    data = bytearray(record * count)
    for i, byte in enumerate(head):
        data[i::record] = bytes([byte]) * count
    for i in range(length):
        data[len(head) + i :: record] = random_codes[i::length]
    for i, byte in enumerate(tail):
        data[len(head) + length + i :: record] = bytes([byte]) * count
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.copy(f"COPY {_CODE} {_COLUMNS} FROM STDIN") as copy,
    ):
        copy.write(data)
    return count


def _job_run(batch: CodeBatch, chunk_size: int | None) -> GenerationJob:
    from promocodes.services import generation_job_run

    # Created directly, not with batch_generation_start: that queues a Celery task.
    job = GenerationJob.objects.create(batch=batch, requested=batch.count)
    if chunk_size is None:
        return generation_job_run(job_id=job.pk)
    return generation_job_run(job_id=job.pk, chunk_size=chunk_size)


def _making_seconds(batch: CodeBatch, count: int, chunk_size: int) -> float:
    """The Python side of the job without the database: make, split and format the COPY
    text of `count` codes in chunks, as promocodes.services._codes_insert does."""
    fmt = batch.code_format
    tail = f"\t{batch.uses_per_code}\t0\t{PromoCode.Status.ACTIVE}\t\n"
    prefix = f"{batch.pk}\t"
    started = time.perf_counter()
    left = count
    while left > 0:
        wanted = min(chunk_size, left)
        texts = list(codes.codes_split(codes.codes_generate(fmt, wanted), fmt))
        "".join(f"{prefix}{t}\t\\N{tail}" for t in texts)
        left -= wanted
    return time.perf_counter() - started


def _codes_check(batch: CodeBatch, job: GenerationJob) -> CodesCheck:
    length = batch.code_format.code_length
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT COUNT(*), COUNT(DISTINCT code), COUNT(*) FILTER (WHERE length(code) <> %s)
                FROM {_CODE} WHERE batch_id = %s""",
            [length, batch.pk],
        )
        rows, distinct, wrong_length = cursor.fetchone()
    # Every code through the product's own check, streamed (a server-side cursor).
    bad = sum(
        not codes.has_valid_check(code)
        for code in PromoCode.objects.filter(batch=batch)
        .values_list("code", flat=True)
        .iterator(chunk_size=50_000)
    )
    job.refresh_from_db()
    return CodesCheck(
        rows=rows,
        distinct=distinct,
        wrong_length=wrong_length,
        bad_check_char=bad,
        job_status=job.status,
        job_generated=job.generated,
        job_collisions=job.collisions,
    )


def _csv_export(batch: CodeBatch) -> Export:
    def run() -> tuple[int, int]:
        size = lines = 0
        with open(os.devnull, "w", encoding="utf-8") as sink:
            for piece in csv_stream(batch):
                sink.write(piece)
                size += len(piece.encode())
                lines += piece.count("\n")
        return lines - 1, size  # the header is the first line

    measured, (rows, size) = _measure(run)
    return Export("CSV", rows, size, measured)


def _xlsx_export(batch: CodeBatch, count: int) -> Export:
    """XLSX of the first `count` codes: a batch of that size with the same codes."""
    if count < batch.count:
        batch = _batch_copy(batch, count)

    def run() -> int:
        with xlsx_file(batch) as out:
            out.seek(0, os.SEEK_END)
            return out.tell()

    measured, size = _measure(run)
    return Export("XLSX", PromoCode.objects.filter(batch=batch).count(), size, measured)


def _batch_copy(batch: CodeBatch, count: int) -> CodeBatch:
    """A batch holding the first `count` codes of `batch` (moved to it, set-based)."""
    smaller = _batch(count)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {_CODE} SET batch_id = %s WHERE id IN (
                    SELECT id FROM {_CODE} WHERE batch_id = %s ORDER BY id LIMIT %s)""",
            [smaller.pk, batch.pk, count],
        )
    return smaller


def promocodes_bench(
    *,
    count: int,
    xlsx_count: int,
    chunk_size: int | None,
    log: Callable[[str], None],
) -> PromoFigures:
    from promocodes.services import CHUNK_SIZE

    promocodes_reset()
    batch = _batch(count)
    runs: dict[str, Measured] = {}

    _codes_empty()
    log(f"{OURS}: {count:,} codes (chunk {chunk_size or CHUNK_SIZE:,})…")
    runs[OURS], job = _measure(lambda: _job_run(batch, chunk_size))
    log(f"{OURS}: {runs[OURS].seconds:.2f} s; checking every code…")
    check = _codes_check(batch, job)
    making = _making_seconds(batch, count, chunk_size or CHUNK_SIZE)

    settle([_CODE])
    log(f"export: CSV of {count:,} codes…")
    csv = _csv_export(batch)
    log(f"export: CSV {csv.measured.seconds:.2f} s")
    xlsx = None
    if xlsx_count > 0:
        xlsx_count = min(xlsx_count, count)
        log(f"export: XLSX of {xlsx_count:,} codes…")
        xlsx = _xlsx_export(batch, xlsx_count)
        log(f"export: XLSX {xlsx.measured.seconds:.2f} s")

    _codes_empty()
    log(f"{RAW}: {count:,} codes…")
    runs[RAW], _ = _measure(lambda: _raw_copy(batch, count))
    log(f"{RAW}: {runs[RAW].seconds:.2f} s")

    promocodes_reset()
    return PromoFigures(
        codes=count,
        code_length=batch.code_format.code_length,
        chunk_size=chunk_size or CHUNK_SIZE,
        runs=runs,
        check=check,
        making_seconds=making,
        csv=csv,
        xlsx=xlsx,
    )
