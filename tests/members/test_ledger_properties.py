"""Random sequences of grants, purchases (earning and spending), refunds, manual adjustments
and time passing with the expiry task, against two members. After every step:
balance == sum(ledger) == sum(lot remaining) >= 0, every lot equals its entries, and each
purchase agrees with its ledger rows. Refused steps must change nothing."""

import datetime as dt
import functools
import os
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from members.errors import InsufficientPoints, PointsOverLimit, RefundNotAllowed
from members.models import LedgerEntry, Member, PointsLot, Purchase, Refund
from members.selectors import points_spendable
from members.services import (
    checkout_commit,
    checkout_evaluate,
    points_adjust,
    points_expire,
    points_grant,
    purchase_refund,
)
from tests import factories
from tests.members.conftest import T0, assert_ledger_holds

MEMBERS = 2
CENT = Decimal("0.01")

steps = st.one_of(
    st.tuples(st.just("grant"), st.integers(0, MEMBERS - 1), st.integers(1, 500)),
    st.tuples(
        st.just("buy"),
        st.integers(0, MEMBERS - 1),
        st.integers(1, 3_000_000),  # kopecks, up to 30,000 ₽: tiers move up too
        st.one_of(st.none(), st.integers(0, 1500)),  # None spends the most allowed
    ),
    st.tuples(
        st.just("refund"),
        st.integers(0, 50),  # which purchase (modulo how many there are)
        st.one_of(st.none(), st.integers(1, 120)),  # None = the rest; else % of paid
    ),
    st.tuples(
        st.just("adjust"),
        st.integers(0, MEMBERS - 1),
        st.integers(-300, 300).filter(bool),
    ),
    st.tuples(st.just("time"), st.integers(1, 400), st.booleans()),  # days; run expiry?
)


def database_state():
    return (
        list(Member.objects.order_by("pk").values_list("pk", "points_balance", "tier_id")),
        list(PointsLot.objects.order_by("pk").values_list("pk", "remaining")),
        LedgerEntry.objects.count(),
        list(Purchase.objects.order_by("pk").values_list("pk", "refunded_paid")),
        Refund.objects.count(),
    )


def assert_purchases_agree_with_the_ledger():
    ledger = {
        row["purchase_id"]: row
        for row in LedgerEntry.objects.filter(purchase__isnull=False)
        .values("purchase_id")
        .annotate(
            spent=Sum("amount", filter=Q(kind="spend"), default=0),
            earned=Sum("amount", filter=Q(kind="earn"), default=0),
            returned=Sum("amount", filter=Q(kind="refund", amount__gt=0), default=0),
        )
    }
    refunds = {
        row["purchase_id"]: row
        for row in Refund.objects.values("purchase_id").annotate(
            amount=Sum("amount"), withheld=Sum("money_withheld")
        )
    }
    nothing = {"spent": 0, "earned": 0, "returned": 0, "amount": 0, "withheld": 0}
    for purchase in Purchase.objects.all():
        rows = ledger.get(purchase.pk, nothing)
        assert -rows["spent"] == purchase.points_spent
        assert rows["earned"] == purchase.points_earned
        assert rows["returned"] == purchase.points_returned
        assert 0 <= purchase.refunded_paid <= purchase.paid
        assert purchase.is_fully_refunded == (purchase.refunded_paid == purchase.paid)
        refunded = refunds.get(purchase.pk, nothing)
        assert refunded["amount"] == purchase.refunded_paid
        assert 0 <= refunded["withheld"] <= purchase.refunded_paid


def run_step(step, *, people, store, actor, traveller, receipts) -> bool:
    """Run one step; returns False when the step was (rightly) refused."""
    kind = step[0]
    if kind == "grant":
        _kind, who, amount = step
        points_grant(member=people[who], amount=amount, reason="gift", actor=actor)
    elif kind == "buy":
        _kind, who, kopecks, points = step
        member = Member.objects.get(pk=people[who].pk)
        total = Decimal(kopecks).scaleb(-2)
        allowed = checkout_evaluate(
            member=member, store=store, total=total, points_to_spend=0
        ).breakdown.points_max
        commit = functools.partial(
            checkout_commit,
            member=member,
            store=store,
            receipt_number=f"R-{next(receipts)}",
            total=total,
            points_to_spend=points,
            actor=actor,
        )
        if points is not None and points > allowed:
            with pytest.raises(PointsOverLimit) as exc_info:
                commit()
            assert exc_info.value.params["allowed"] == allowed
            return False
        assert commit().breakdown.points_spent == (allowed if points is None else points)
    elif kind == "refund":
        _kind, pick, percent = step
        purchases = list(Purchase.objects.order_by("pk"))
        if not purchases:
            return False
        purchase = purchases[pick % len(purchases)]
        amount = None if percent is None else (purchase.paid * percent / 100).quantize(CENT)
        refund = functools.partial(purchase_refund, purchase=purchase, amount=amount, actor=actor)
        if (
            purchase.is_fully_refunded
            or amount == 0
            or (amount is not None and amount > purchase.refundable)
        ):
            with pytest.raises(RefundNotAllowed):
                refund()
            return False
        refund()
    elif kind == "adjust":
        _kind, who, amount = step
        member = Member.objects.get(pk=people[who].pk)
        adjust = functools.partial(
            points_adjust, member=member, amount=amount, reason="correction", actor=actor
        )
        if -amount > points_spendable(member, at=timezone.now()):
            with pytest.raises(InsufficientPoints):
                adjust()
            return False
        adjust()
    else:
        _kind, days, expire = step
        traveller.shift(dt.timedelta(days=days))
        if expire:
            burnt_before = burnt_so_far()
            burnt = points_expire()
            assert burnt == burnt_before - burnt_so_far()
            assert points_expire() == 0
            assert not PointsLot.objects.filter(
                remaining__gt=0, expires_at__lte=timezone.now()
            ).exists()
    return True


def burnt_so_far() -> int:
    return LedgerEntry.objects.filter(kind="expire").aggregate(s=Sum("amount"))["s"] or 0


@settings(
    max_examples=50,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(steps, min_size=1, max_size=20))
def test_random_sequences_keep_the_ledger_whole(sequence, store, task_actor):
    # each example starts at T0 on fresh members and is rolled back at the end
    with time_machine.travel(T0, tick=False) as traveller, transaction.atomic():
        people = [factories.MemberFactory() for _ in range(MEMBERS)]
        receipts = iter(range(1, 10_000))
        for step in sequence:
            before = database_state()
            changed = run_step(
                step,
                people=people,
                store=store,
                actor=task_actor,
                traveller=traveller,
                receipts=receipts,
            )
            if not changed:
                assert database_state() == before, step
            for member in people:
                assert_ledger_holds(member)
            assert_purchases_agree_with_the_ledger()
        transaction.set_rollback(True)
