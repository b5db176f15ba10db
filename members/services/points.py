"""The points ledger: lots in, FIFO out, burns. Every movement is a LedgerEntry on a lot,
and the member's cached balance moves with it in the same transaction, so
`points_balance == sum(ledger) == sum(lot.remaining)` holds after every commit.

Lock order everywhere: member row first, then its lots (by expiry, id).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Sum
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
    lots = list(
        PointsLot.objects.select_for_update()
        .filter(member=member, remaining__gt=0, expires_at__gt=at)
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
def points_adjust(*, member: Member, amount: int, reason: str, actor: Actor) -> int:
    """Manually add (new lot) or remove (oldest first) points, with a reason.

    Raises InsufficientPoints when removing more than the balance; nothing changes then.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidAmount(_("A manual adjustment needs a reason."))
    if amount == 0:
        raise InvalidAmount(_("The adjustment cannot be zero."))
    member = Member.objects.select_for_update().get(pk=member.pk)
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


def points_expire(*, at: dt.datetime | None = None, batch_size: int = 20_000) -> int:
    """Burn the unspent remainder of every lot past its life; returns points burnt.

    Set-based and batched by lot id, one transaction a batch, so memory stays flat and
    a crash loses at most the batch in flight. Safe to run twice: a burnt lot has
    remaining = 0 and is not selected again. Members are locked before their lots,
    in id order, the same order checkout uses, so a concurrent checkout waits or wins
    cleanly and never spends a lot that is burning.
    """
    at = at or timezone.now()
    burnt_total = 0
    last_id = 0
    lot_table = PointsLot._meta.db_table
    ledger_table = LedgerEntry._meta.db_table
    member_table = Member._meta.db_table
    while True:
        with transaction.atomic():
            ids = list(
                PointsLot.objects.filter(remaining__gt=0, expires_at__lte=at, id__gt=last_id)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            last_id = ids[-1]
            lo, hi = ids[0], ids[-1]
            # Lock the members of the batch first (same order as checkout); every lot
            # movement happens under its member's lock, so the batch is stable after this.
            where = (
                f"{lot_table}.id BETWEEN %s AND %s AND {lot_table}.remaining > 0"
                f" AND {lot_table}.expires_at <= %s"
            )
            params = [lo, hi, at]
            list(
                Member.objects.select_for_update()
                .filter(
                    id__in=PointsLot.objects.filter(
                        id__gte=lo, id__lte=hi, remaining__gt=0, expires_at__lte=at
                    ).values("member_id")
                )
                .order_by("id")
                .values_list("id", flat=True)
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""INSERT INTO {ledger_table}
                        (member_id, lot_id, kind, amount, reason, actor, created_at)
                        SELECT member_id, id, %s, -remaining, '', %s, %s FROM {lot_table}
                        WHERE {where}""",
                    [Kind.EXPIRE.value, "task:points_expire", at, *params],
                )
                cursor.execute(
                    f"""UPDATE {member_table} SET points_balance = points_balance - (
                            SELECT SUM(remaining) FROM {lot_table}
                            WHERE {lot_table}.member_id = {member_table}.id AND {where})
                        WHERE id IN (SELECT member_id FROM {lot_table} WHERE {where})""",
                    [*params, *params],
                )
                cursor.execute(
                    f"SELECT COALESCE(SUM(remaining), 0) FROM {lot_table} WHERE {where}", params
                )
                burnt_total += int(cursor.fetchone()[0])
                cursor.execute(f"UPDATE {lot_table} SET remaining = 0 WHERE {where}", params)
    return burnt_total


def ledger_sum(member: Member) -> int:
    return LedgerEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0
