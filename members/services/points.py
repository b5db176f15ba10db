"""The points ledger: lots in, FIFO out, burns. Every movement is a LedgerEntry on a lot,
and the member's cached balance moves with it in the same transaction, so
`points_balance == sum(ledger) == sum(lot.remaining)` holds after every commit.

Lock order everywhere: member row first, then its lots (by expiry, id).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.actors import Actor
from loyalty.models import ProgramSettings
from members.errors import InsufficientPoints, InvalidAmount
from members.models import LedgerEntry, Member, PointsLot, Purchase, Refund

Kind = LedgerEntry.Kind


@dataclass(frozen=True)
class Movement:
    lot_id: int
    amount: int


def _balance_add(member: Member, delta: int) -> None:
    if delta:
        Member.objects.filter(pk=member.pk).update(points_balance=F("points_balance") + delta)
        member.points_balance += delta


def lot_open(
    *,
    member: Member,
    amount: int,
    kind: str,
    at: dt.datetime,
    actor: Actor,
    purchase: Purchase | None = None,
    reason: str = "",
    life_days: int | None = None,
) -> PointsLot:
    """Add `amount` points as a new lot burning after the program's points life."""
    if life_days is None:
        life_days = ProgramSettings.load().points_life_days
    lot = PointsLot.objects.create(
        member=member,
        amount=amount,
        remaining=amount,
        earned_at=at,
        expires_at=at + dt.timedelta(days=life_days),
        purchase=purchase,
    )
    LedgerEntry.objects.create(
        member=member,
        lot=lot,
        kind=kind,
        amount=amount,
        purchase=purchase,
        reason=reason,
        actor=actor.label,
        created_at=at,
    )
    _balance_add(member, amount)
    return lot


def lots_take(
    *,
    member: Member,
    amount: int,
    kind: str,
    at: dt.datetime,
    actor: Actor,
    purchase: Purchase | None = None,
    refund: Refund | None = None,
    reason: str = "",
    prefer_lot_id: int | None = None,
) -> int:
    """Take up to `amount` points from open, unburnt lots, oldest first; returns how many.

    The caller holds the member's row lock. `prefer_lot_id` is drained first (a refund
    takes back the purchase's own earned lot before touching older points).
    """
    if amount <= 0:
        return 0
    # Lots past their life are not spendable, but a refund takes back its own lot even
    # when that lot is due to burn tonight: those points are the ones being reversed.
    spendable = Q(expires_at__gt=at)
    if prefer_lot_id is not None:
        spendable |= Q(id=prefer_lot_id)
    lots = list(
        PointsLot.objects.select_for_update()
        .filter(spendable, member=member, remaining__gt=0)
        .order_by("expires_at", "id")
    )
    if prefer_lot_id is not None:
        lots.sort(key=lambda lot: lot.id != prefer_lot_id)
    taken = 0
    entries = []
    for lot in lots:
        if taken == amount:
            break
        part = min(lot.remaining, amount - taken)
        lot.remaining -= part
        taken += part
        entries.append(
            LedgerEntry(
                member=member,
                lot=lot,
                kind=kind,
                amount=-part,
                purchase=purchase,
                refund=refund,
                reason=reason,
                actor=actor.label,
                created_at=at,
            )
        )
    touched = [e.lot for e in entries]
    PointsLot.objects.bulk_update(touched, ["remaining"])
    LedgerEntry.objects.bulk_create(entries)
    _balance_add(member, -taken)
    return taken


def lots_return(
    *,
    member: Member,
    movements: list[Movement],
    at: dt.datetime,
    actor: Actor,
    purchase: Purchase,
    refund: Refund,
) -> int:
    """Put spent points back on the lots they came from (keeping those lots' burn date)."""
    ids = [m.lot_id for m in movements if m.amount > 0]
    lots = PointsLot.objects.select_for_update().in_bulk(ids)
    entries = []
    for m in movements:
        if m.amount <= 0:
            continue
        lot = lots[m.lot_id]
        lot.remaining += m.amount
        entries.append(
            LedgerEntry(
                member=member,
                lot=lot,
                kind=Kind.REFUND,
                amount=m.amount,
                purchase=purchase,
                refund=refund,
                actor=actor.label,
                created_at=at,
            )
        )
    PointsLot.objects.bulk_update([e.lot for e in entries], ["remaining"])
    LedgerEntry.objects.bulk_create(entries)
    returned = sum(e.amount for e in entries)
    _balance_add(member, returned)
    return returned


@transaction.atomic
def points_grant(*, member: Member, amount: int, reason: str, actor: Actor) -> PointsLot:
    """Grant bonus points as a new lot (welcome, referral, campaign gifts)."""
    if amount <= 0:
        raise InvalidAmount(_("Points to grant must be a positive whole number."))
    member = Member.objects.select_for_update().get(pk=member.pk)
    return lot_open(
        member=member,
        amount=amount,
        kind=Kind.GRANT,
        at=timezone.now(),
        actor=actor,
        reason=reason,
    )


@transaction.atomic
def points_adjust(
    *,
    member: Member,
    amount: int,
    reason: str,
    actor: Actor,
    expected_balance: int | None = None,
) -> int:
    """Manually add (new lot) or remove (oldest first) points, with a reason.

    Raises InsufficientPoints when removing more than the balance; nothing changes then.
    `expected_balance` is the balance the staff member confirmed against; checked under
    the member's lock, a second submit of the same confirmation is refused
    (`balance_changed`) instead of adjusting twice.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidAmount(_("A manual adjustment needs a reason."))
    if amount == 0:
        raise InvalidAmount(_("The adjustment cannot be zero."))
    member = Member.objects.select_for_update().get(pk=member.pk)
    if expected_balance is not None and expected_balance != member.points_balance:
        raise InvalidAmount(
            _("The balance changed to %(balance)s since you confirmed; check and try again.")
            % {"balance": member.points_balance},
            code="balance_changed",
        )
    now = timezone.now()
    if amount > 0:
        lot_open(member=member, amount=amount, kind=Kind.ADJUST, at=now, actor=actor, reason=reason)
        return amount
    if -amount > member.points_balance:
        raise InsufficientPoints(
            _("The member has only %(balance)s points.") % {"balance": member.points_balance}
        )
    taken = lots_take(
        member=member, amount=-amount, kind=Kind.ADJUST, at=now, actor=actor, reason=reason
    )
    if taken != -amount:
        # Points on lots past their burn date await the expiry task and cannot be taken.
        raise InsufficientPoints(_("Only %(taken)s points are not yet burnt.") % {"taken": taken})
    return amount


def points_expire(*, at: dt.datetime | None = None, batch_size: int = 5_000) -> int:
    """Burn the unspent remainder of every lot past its life; returns points burnt.

    Writes one EXPIRE ledger entry per burnt lot and lowers the members' cached balance.
    Set-based and batched by lot id: a batch is the next `batch_size` lots due (keyset
    on id); on PostgreSQL it also burns the other lots due of those members, so each
    balance moves once a run. One transaction a batch, so memory stays flat and a crash
    loses at most the batch in flight. Safe to run twice: a burnt lot has remaining = 0
    and is not selected again.
    Members are locked before their lots, in id order, the same order checkout uses, so
    a concurrent checkout waits or wins cleanly and never spends a lot that is burning.
    """
    # UTC always: the SQLite path compares stored datetimes as text.
    at = (at or timezone.now()).astimezone(dt.UTC)
    expire_batch = (
        _expire_batch_postgresql if connection.vendor == "postgresql" else _expire_batch_portable
    )
    burnt_total = 0
    last_id = 0
    retries = 0
    while True:
        with transaction.atomic():
            batch = expire_batch(at=at, after_id=last_id, batch_size=batch_size)
        if batch.last_id is None:
            return burnt_total
        burnt_total += batch.points
        if batch.skipped and retries < _EXPIRE_RETRIES:
            # A lot changed under a concurrent refund between the batch's snapshot and
            # its member lock: take the same ids again with a fresh snapshot.
            retries += 1
            continue
        # After the retries, whatever is left is burnt by the next run.
        retries = 0
        last_id = batch.last_id


@dataclass(frozen=True)
class _ExpiredBatch:
    last_id: int | None  # the keyset: highest lot id of the batch, None when none is due
    points: int
    skipped: int = 0  # lots due that changed concurrently and were left for a retry


_EXPIRE_RETRIES = 3
_LOT = PointsLot._meta.db_table
_LEDGER = LedgerEntry._meta.db_table
_MEMBER = Member._meta.db_table
_EXPIRE_ACTOR = "task:points_expire"

# One statement a batch; its parts run in one snapshot, ordered by data dependency.
# `batch` is the next `batch_size` lots due by id; `locked` locks their members in id
# order; `due` is every lot due of those members, so a member's balance moves once a
# run even when their lots are spread over many batches (a lot beyond the batch's
# last id that is burnt here is not due any more when its turn comes). The UPDATE
# takes a lot's row lock only after its member's. A lot whose remainder changed after
# the snapshot (a refund that committed while its member lock was awaited) fails
# `lot.remaining = due.remaining`, so no entry is written from a stale value: it is
# counted as skipped and the caller takes the batch again.
_EXPIRE_BATCH_SQL = f"""
WITH batch AS MATERIALIZED (
    SELECT id, member_id FROM {_LOT}
    WHERE id > %(after_id)s AND remaining > 0 AND expires_at <= %(at)s
    ORDER BY id
    LIMIT %(batch_size)s
), locked AS MATERIALIZED (
    SELECT id FROM {_MEMBER}
    WHERE id IN (SELECT member_id FROM batch)
    ORDER BY id
    FOR UPDATE
), due AS MATERIALIZED (
    SELECT lot.id, lot.member_id, lot.remaining FROM {_LOT} lot
    WHERE lot.member_id IN (SELECT id FROM locked)
        AND lot.remaining > 0 AND lot.expires_at <= %(at)s
), burnt AS (
    UPDATE {_LOT} lot SET remaining = 0
    FROM due
    WHERE lot.id = due.id AND lot.remaining = due.remaining
    RETURNING lot.id, lot.member_id, due.remaining
), ledger AS (
    INSERT INTO {_LEDGER} (member_id, lot_id, kind, amount, reason, actor, created_at)
    SELECT member_id, id, %(kind)s, -remaining, '', %(actor)s, %(at)s FROM burnt
), balances AS (
    UPDATE {_MEMBER} member SET points_balance = member.points_balance - per_member.points
    FROM (SELECT member_id, SUM(remaining) AS points FROM burnt GROUP BY member_id) per_member
    WHERE member.id = per_member.member_id
)
SELECT
    (SELECT MAX(id) FROM batch),
    (SELECT COALESCE(SUM(remaining), 0) FROM burnt),
    (SELECT COUNT(*) FROM due) - (SELECT COUNT(*) FROM burnt)
"""


def _expire_batch_postgresql(*, at: dt.datetime, after_id: int, batch_size: int) -> _ExpiredBatch:
    with connection.cursor() as cursor:
        cursor.execute(
            _EXPIRE_BATCH_SQL,
            {
                "after_id": after_id,
                "at": at,
                "batch_size": batch_size,
                "kind": Kind.EXPIRE.value,
                "actor": _EXPIRE_ACTOR,
            },
        )
        last_id, points, skipped = cursor.fetchone()
    return _ExpiredBatch(last_id=last_id, points=int(points), skipped=int(skipped))


def _expire_batch_portable(*, at: dt.datetime, after_id: int, batch_size: int) -> _ExpiredBatch:
    """The next `batch_size` lots due by id, for SQLite (no row locks, no data-modifying
    CTEs); its write transaction already holds the lock on the whole database."""
    due = PointsLot.objects.filter(remaining__gt=0, expires_at__lte=at, id__gt=after_id)
    boundary = list(due.order_by("id").values_list("id", flat=True)[batch_size - 1 : batch_size])
    last_id = boundary[0] if boundary else due.aggregate(last=Max("id"))["last"]
    if last_id is None:
        return _ExpiredBatch(last_id=None, points=0)
    where = (
        f"{_LOT}.id > %s AND {_LOT}.id <= %s AND {_LOT}.remaining > 0 AND {_LOT}.expires_at <= %s"
    )
    params = [after_id, last_id, at]
    # No row locks to take: the write transaction (BEGIN IMMEDIATE) already holds the
    # database's write lock, which covers the batch's members and lots.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(SUM(remaining), 0) FROM {_LOT} WHERE {where}", params)
        burnt = int(cursor.fetchone()[0])
        cursor.execute(
            f"""INSERT INTO {_LEDGER} (member_id, lot_id, kind, amount, reason, actor, created_at)
                SELECT member_id, id, %s, -remaining, '', %s, %s FROM {_LOT} WHERE {where}""",
            [Kind.EXPIRE.value, _EXPIRE_ACTOR, at, *params],
        )
        cursor.execute(
            f"""UPDATE {_MEMBER} SET points_balance = points_balance - (
                    SELECT SUM(remaining) FROM {_LOT}
                    WHERE {_LOT}.member_id = {_MEMBER}.id AND {where})
                WHERE id IN (SELECT member_id FROM {_LOT} WHERE {where})""",
            [*params, *params],
        )
        cursor.execute(f"UPDATE {_LOT} SET remaining = 0 WHERE {where}", params)
    return _ExpiredBatch(last_id=last_id, points=burnt)


def ledger_sum(member: Member) -> int:
    return LedgerEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0
