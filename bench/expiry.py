"""Expiry of N lots: members.services.points_expire against a raw SQL UPDATE of the
same rows, in the same run, each on a fresh copy of the same generated data.

Methods, each measured the same way (fresh clone of the data, VACUUM ANALYZE and
CHECKPOINT, then wall-clock time of the call from this process, commit included):

- raw: `UPDATE members_pointslot SET remaining = 0 WHERE …` — the target's yardstick;
  it writes no ledger entries and leaves balances wrong, so it is not a valid expiry.
- ours: points_expire(), batched, locking, writing one EXPIRE entry per lot and the
  members' balances.
- same work: one unbatched statement doing what points_expire does (lots, ledger,
  balances) without batches or locks: how much of the gap is the work the product
  requires and how much is the batching.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from bench import memory
from bench.checks import Invariants, invariants
from bench.data import MEMBER_TABLES, Generated, members_generate
from bench.database import database_clone, database_drop, database_use, settle
from bench.memory import PeakRss
from members.models import LedgerEntry
from members.services import points_expire

LOTS_PER_MEMBER = 10

RAW = "raw UPDATE"
OURS = "points_expire"
SAME_WORK = "same work, 1 statement"


@dataclass(frozen=True)
class Run:
    method: str
    seconds: float
    lots: int  # lots burnt (rows updated)
    points: int | None  # points burnt, where the method tells
    rss_before: int | None
    rss_peak: int | None
    invariants: Invariants | None = None
    second_run_points: int | None = None  # ours: what running it again burnt
    second_run_new_entries: int | None = None

    @property
    def rss_growth(self) -> int | None:
        return memory.growth(self.rss_before, self.rss_peak)


@dataclass(frozen=True)
class ExpiryFigures:
    generated: Generated
    batch_size: int
    runs: dict[str, Run]

    @property
    def ratio(self) -> float:
        return self.runs[OURS].seconds / self.runs[RAW].seconds


def _raw_update(at: dt.datetime) -> tuple[int, int | None]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_pointslot SET remaining = 0 WHERE remaining > 0 AND expires_at <= %s",
            [at],
        )
        return cursor.rowcount, None


def _same_work(at: dt.datetime) -> tuple[int, int | None]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH burnt AS (
                UPDATE members_pointslot lot SET remaining = 0
                FROM (SELECT id, remaining FROM members_pointslot
                      WHERE remaining > 0 AND expires_at <= %(at)s) old
                WHERE lot.id = old.id
                RETURNING lot.id, lot.member_id, old.remaining
            ), ledger AS (
                INSERT INTO members_ledgerentry
                    (member_id, lot_id, kind, amount, reason, actor, created_at)
                SELECT member_id, id, %(kind)s, -remaining, '', 'bench', %(at)s FROM burnt
            ), balances AS (
                UPDATE members_member m SET points_balance = m.points_balance - b.points
                FROM (SELECT member_id, SUM(remaining) AS points FROM burnt GROUP BY member_id) b
                WHERE m.id = b.member_id
            )
            SELECT COUNT(*), COALESCE(SUM(remaining), 0) FROM burnt
            """,
            {"at": at, "kind": LedgerEntry.Kind.EXPIRE.value},
        )
        lots, points = cursor.fetchone()
        return lots, int(points)


def _ours(at: dt.datetime, batch_size: int) -> tuple[int, int | None]:
    points = points_expire(at=at, batch_size=batch_size)
    lots = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE).count()
    return lots, points


def _measure(method: str, fn: Callable[[], tuple[int, int | None]]) -> Run:
    with PeakRss() as memory:
        started = time.perf_counter()
        lots, points = fn()
        elapsed = time.perf_counter() - started
    return Run(method, elapsed, lots, points, memory.before, memory.peak)


def expiry_bench(
    *, lots: int, batch_size: int, methods: list[str], log: Callable[[str], None]
) -> ExpiryFigures:
    at = timezone.now()
    members = lots // LOTS_PER_MEMBER
    log(f"generating {members:,} members × {LOTS_PER_MEMBER} expired lots + 1 live lot…")
    started = time.perf_counter()
    generated = members_generate(
        members=members, expired_per_member=LOTS_PER_MEMBER, live_per_member=1, at=at
    )
    settle(MEMBER_TABLES)
    log(f"generated in {time.perf_counter() - started:.0f} s")

    template = connection.settings_dict["NAME"]
    copy = f"{template}_run"
    runs: dict[str, Run] = {}
    try:
        for method in methods:
            database_use(copy)  # closes the connection to the template first
            database_clone(template=template, name=copy)
            settle(MEMBER_TABLES)
            log(f"{method}: {generated.expired_lots:,} lots…")
            if method == RAW:
                run = _measure(method, lambda: _raw_update(at))
            elif method == SAME_WORK:
                run = _measure(method, lambda: _same_work(at))
                run = _with_invariants(run, at)
            else:
                run = _measure(method, lambda: _ours(at, batch_size))
                run = _with_invariants(run, at)
                entries = run.invariants.expire_entries
                again = points_expire(at=at, batch_size=batch_size)
                new_entries = invariants(at=at).expire_entries - entries
                run = dataclasses.replace(
                    run, second_run_points=again, second_run_new_entries=new_entries
                )
            log(f"{method}: {run.seconds:.2f} s")
            runs[method] = run
    finally:
        database_use(template)
        database_drop(copy)
    return ExpiryFigures(generated=generated, batch_size=batch_size, runs=runs)


def _with_invariants(run: Run, at: dt.datetime) -> Run:
    return dataclasses.replace(run, invariants=invariants(at=at))
