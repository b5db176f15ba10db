"""Fixtures of the campaign checkout tests: the cashier, a receipt helper, races."""

from __future__ import annotations

import itertools

import pytest

from loyalty.actors import Actor
from members.models import Channel
from members.services import checkout_commit
from tests import factories


@pytest.fixture
def cashier_actor(cashier) -> Actor:
    return Actor.for_user(cashier, Channel.CASHIER)


@pytest.fixture
def buy(store, cashier_actor):
    """Commit a receipt with a fresh receipt number; returns the CheckoutResult."""
    numbers = itertools.count(1)

    def buy(member, total, **kwargs):
        return checkout_commit(
            member=member,
            store=store,
            receipt_number=kwargs.pop("receipt", None) or f"R-{next(numbers)}",
            total=total,
            actor=cashier_actor,
            **kwargs,
        )

    return buy


@pytest.fixture
def silver(tiers):
    """A Silver member (5%, earns 2%) without points."""
    return factories.MemberFactory(tier=tiers["Silver"])
