"""Fixtures for the member service tests: actors, a checkout helper and the ledger check."""

import datetime as dt
import itertools

import pytest
from django.db.models import Sum

from loyalty.actors import Actor
from members.models import Channel, LedgerEntry, Member, PointsLot
from members.services import checkout_commit, points_grant
from tests import factories

# A fixed, ordinary moment for tests that travel in time (Moscow afternoon).
T0 = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)


def ledger_totals(member: Member) -> tuple[int, int, int]:
    """(cached balance, ledger sum, sum of lot remainders) of a member, from the database."""
    balance = Member.objects.values_list("points_balance", flat=True).get(pk=member.pk)
    ledger = LedgerEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0
    lots = PointsLot.objects.filter(member=member).aggregate(s=Sum("remaining"))["s"] or 0
    return balance, ledger, lots


def assert_ledger_holds(member: Member) -> int:
    """balance == sum(ledger) == sum(lot.remaining) >= 0, and each lot equals its entries."""
    balance, ledger, lots = ledger_totals(member)
    assert balance == ledger == lots, (balance, ledger, lots)
    assert balance >= 0
    per_lot = dict(
        LedgerEntry.objects.filter(member=member)
        .values("lot_id")
        .annotate(s=Sum("amount"))
        .values_list("lot_id", "s")
    )
    for lot in PointsLot.objects.filter(member=member):
        assert lot.remaining == per_lot.get(lot.pk, 0), lot
        assert 0 <= lot.remaining <= lot.amount
    return balance


@pytest.fixture
def cashier_actor(cashier) -> Actor:
    return Actor.for_user(cashier, Channel.CASHIER)


@pytest.fixture
def task_actor() -> Actor:
    return Actor.for_task("test")


@pytest.fixture
def buy(store, cashier_actor):
    """Commit a receipt with a fresh receipt number; returns the CheckoutResult."""
    numbers = itertools.count(1)

    def buy(member, total, *, points=0, receipt=None, actor=None, **kwargs):
        return checkout_commit(
            member=member,
            store=kwargs.pop("store", store),
            receipt_number=receipt or f"R-{next(numbers)}",
            total=total,
            points_to_spend=points,
            actor=actor or cashier_actor,
            **kwargs,
        )

    return buy


@pytest.fixture
def grant(task_actor):
    def grant(member, amount, reason="test"):
        lot = points_grant(member=member, amount=amount, reason=reason, actor=task_actor)
        member.refresh_from_db()
        return lot

    return grant


@pytest.fixture
def silver(tiers):
    """A Silver member (5%, earns 2%) without points."""
    return factories.MemberFactory(tier=tiers["Silver"])
