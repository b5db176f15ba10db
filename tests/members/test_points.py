"""The points ledger: FIFO spend by burn date, expiry, grants and manual adjustments."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction

from members.errors import InsufficientPoints, InvalidAmount, PointsOverLimit
from members.models import LedgerEntry, PointsLot
from members.services import checkout_evaluate, points_adjust, points_expire, points_grant
from tests import factories
from tests.members.conftest import T0, assert_ledger_holds

DAY = dt.timedelta(days=1)
Kind = LedgerEntry.Kind


def lots_of(member):
    return list(PointsLot.objects.filter(member=member).order_by("id").values_list("remaining"))


def entries(member, kind):
    return list(
        LedgerEntry.objects.filter(member=member, kind=kind)
        .order_by("id")
        .values_list("lot_id", "amount")
    )


def state(member):
    member.refresh_from_db()
    return (
        member.points_balance,
        list(LedgerEntry.objects.order_by("id").values_list("id", "amount")),
        list(PointsLot.objects.order_by("id").values_list("id", "remaining")),
    )


# --- Lots and FIFO spend --------------------------------------------------------------------


def test_grant_opens_a_lot_that_burns_after_the_points_life(member, grant, time_machine):
    # given
    time_machine.move_to(T0, tick=False)

    # when
    lot = grant(member, 120, reason="Welcome gift")

    # then
    assert (lot.amount, lot.remaining) == (120, 120)
    assert lot.earned_at == T0
    assert lot.expires_at == T0 + 365 * DAY
    entry = LedgerEntry.objects.get(lot=lot)
    assert (entry.kind, entry.amount, entry.reason, entry.actor) == (
        "grant",
        120,
        "Welcome gift",
        "task:test",
    )
    assert assert_ledger_holds(member) == 120


@pytest.mark.parametrize("amount", [0, -5])
def test_grant_needs_a_positive_amount(member, task_actor, amount):
    with pytest.raises(InvalidAmount):
        points_grant(member=member, amount=amount, reason="x", actor=task_actor)

    assert LedgerEntry.objects.count() == 0


def test_spend_takes_the_lots_that_burn_first(member, grant, buy, time_machine, program):
    # given three lots: A (100, burns day 365), B (200, burns day 375), and C (300)
    # granted last under a 30-day points life, so it burns first (day 50)
    time_machine.move_to(T0, tick=False)
    lot_a = grant(member, 100)
    time_machine.shift(10 * DAY)
    lot_b = grant(member, 200)
    time_machine.shift(10 * DAY)
    program.points_life_days = 30
    program.save()
    lot_c = grant(member, 300)
    program.points_life_days = 365
    program.save()

    # when a Base member spends 350 on a 1,500 ₽ receipt
    result = buy(member, "1500", points=350)

    # then C goes first, then A partly; B is untouched
    lot_a.refresh_from_db()
    lot_b.refresh_from_db()
    lot_c.refresh_from_db()
    assert (lot_c.remaining, lot_a.remaining, lot_b.remaining) == (0, 50, 200)
    assert entries(member, Kind.SPEND) == [(lot_c.pk, -300), (lot_a.pk, -50)]
    assert result.breakdown.points_earned == 11  # 1% of 1,150
    assert assert_ledger_holds(member) == 600 - 350 + 11


def test_lots_burning_the_same_moment_are_spent_in_order(member, grant, buy, time_machine):
    # given two lots granted at the same instant
    time_machine.move_to(T0, tick=False)
    first = grant(member, 40)
    second = grant(member, 40)

    # when
    buy(member, "200", points=50)

    # then
    assert entries(member, Kind.SPEND) == [(first.pk, -40), (second.pk, -10)]
    assert lots_of(member)[:2] == [(0,), (30,)]
    assert_ledger_holds(member)


# --- Expiry -------------------------------------------------------------------------------


def test_expiry_burns_the_unspent_remainder_once(member, grant, buy, time_machine):
    # given a lot of 100 of which 30 were spent, and a newer lot of 40
    time_machine.move_to(T0, tick=False)
    old = grant(member, 100)
    buy(member, "100", points=30)  # earns 1% of 70 = 0
    time_machine.shift(200 * DAY)
    new = grant(member, 40)
    time_machine.shift(166 * DAY)  # one day past the old lot's life

    # when
    burnt = points_expire()

    # then
    assert burnt == 70
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.remaining, new.remaining) == (0, 40)
    expired = LedgerEntry.objects.get(kind=Kind.EXPIRE)
    assert (expired.lot_id, expired.amount, expired.actor) == (old.pk, -70, "task:points_expire")
    assert assert_ledger_holds(member) == 40

    # and a second run changes nothing
    before = state(member)
    assert points_expire() == 0
    assert state(member) == before


def test_expiry_boundary_is_the_burn_moment(member, grant, time_machine):
    # given
    time_machine.move_to(T0, tick=False)
    lot = grant(member, 10)

    # then a lot is alive until its burn moment and burns at it
    assert points_expire(at=lot.expires_at - dt.timedelta(microseconds=1)) == 0
    assert points_expire(at=lot.expires_at) == 10
    assert assert_ledger_holds(member) == 0


def test_expiry_of_a_fully_spent_lot_burns_nothing(member, grant, buy, time_machine):
    time_machine.move_to(T0, tick=False)
    grant(member, 30)
    buy(member, "100", points=30)
    before = state(member)

    assert points_expire(at=T0 + 400 * DAY) == 0
    assert state(member) == before


def test_expiry_of_many_members_in_small_batches(grant, time_machine):
    # given five members with lots, expired in batches of two
    time_machine.move_to(T0, tick=False)
    members = [factories.MemberFactory() for _ in range(5)]
    for n, m in enumerate(members, start=1):
        grant(m, 10 * n)

    # when
    burnt = points_expire(at=T0 + 366 * DAY, batch_size=2)

    # then
    assert burnt == 150
    for m in members:
        assert assert_ledger_holds(m) == 0


def test_points_past_their_life_cannot_pay_before_the_expiry_task_runs(
    member, grant, buy, store, time_machine
):
    # given 500 points past their life (the nightly burn has not run yet) and 100 fresh
    time_machine.move_to(T0, tick=False)
    grant(member, 500)
    time_machine.shift(366 * DAY)
    grant(member, 100)

    # then only the fresh points may pay
    b = checkout_evaluate(member=member, store=store, total="3000", points_to_spend=None)
    assert b.breakdown.points_max == 100
    with pytest.raises(PointsOverLimit):
        buy(member, "3000", points=101)

    # when all allowed are spent
    purchase = buy(member, "3000", points=None).purchase

    # then the purchase and the ledger agree on what was spent
    assert purchase.points_spent == 100
    assert entries(member, Kind.SPEND)[0][1] == -100
    assert purchase.paid == purchase.total - 100
    assert_ledger_holds(member)


# --- Manual adjustment ----------------------------------------------------------------------


def test_adjust_up_opens_a_lot_with_the_reason(member, grant, cashier_actor):
    # when
    added = points_adjust(
        member=member, amount=50, reason="  Компенсация за сбой  ", actor=cashier_actor
    )

    # then
    assert added == 50
    entry = LedgerEntry.objects.get(member=member)
    assert (entry.kind, entry.amount, entry.reason, entry.actor) == (
        "adjust",
        50,
        "Компенсация за сбой",
        "user:cashier",
    )
    assert assert_ledger_holds(member) == 50


def test_adjust_down_takes_the_oldest_first(member, grant, cashier_actor, time_machine):
    # given
    time_machine.move_to(T0, tick=False)
    older = grant(member, 20)
    time_machine.shift(DAY)
    newer = grant(member, 40)

    # when
    taken = points_adjust(member=member, amount=-30, reason="Ошибка кассира", actor=cashier_actor)

    # then
    assert taken == -30
    assert entries(member, Kind.ADJUST) == [(older.pk, -20), (newer.pk, -10)]
    assert set(LedgerEntry.objects.filter(kind=Kind.ADJUST).values_list("reason", flat=True)) == {
        "Ошибка кассира"
    }
    assert assert_ledger_holds(member) == 30


@pytest.mark.parametrize(
    ("amount", "reason", "error"),
    [
        (10, "", InvalidAmount),
        (-10, "   ", InvalidAmount),
        (0, "Zero", InvalidAmount),
        (-61, "More than the balance", InsufficientPoints),
    ],
)
def test_bad_adjustment_changes_nothing(member, grant, cashier_actor, amount, reason, error):
    # given a balance of 60
    grant(member, 60)
    before = state(member)

    # when
    with pytest.raises(error):
        points_adjust(member=member, amount=amount, reason=reason, actor=cashier_actor)

    # then
    assert state(member) == before


def test_adjust_down_cannot_take_points_past_their_life(member, grant, cashier_actor, time_machine):
    # given 100 points past their life (not burnt yet) and 50 fresh: balance 150
    time_machine.move_to(T0, tick=False)
    grant(member, 100)
    time_machine.shift(366 * DAY)
    grant(member, 50)
    before = state(member)

    # when taking more than the fresh points
    with pytest.raises(InsufficientPoints):
        points_adjust(member=member, amount=-120, reason="Списание", actor=cashier_actor)

    # then nothing changed, not even the fresh lot
    assert state(member) == before

    # and taking the fresh points works
    points_adjust(member=member, amount=-50, reason="Списание", actor=cashier_actor)
    assert assert_ledger_holds(member) == 100


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only trigger is PostgreSQL-only (migration members/0002)",
)
def test_ledger_refuses_update_and_delete(member, grant):
    grant(member, 10)
    entry = LedgerEntry.objects.get(member=member)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1000)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()

    assert LedgerEntry.objects.get(pk=entry.pk).amount == 10


def test_adjust_against_a_balance_that_changed_is_refused_and_changes_nothing(
    member, grant, task_actor
):
    # given the staff member confirmed against a balance of 0, then 50 points arrived
    grant(member, 50)

    # when
    with pytest.raises(InvalidAmount) as exc_info:
        points_adjust(
            member=member, amount=100, reason="Компенсация", actor=task_actor, expected_balance=0
        )

    # then
    assert exc_info.value.code == "balance_changed"
    assert assert_ledger_holds(member) == 50
