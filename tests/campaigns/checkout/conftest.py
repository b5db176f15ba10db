"""Fixtures of the campaign checkout tests: the cashier, a receipt helper, races."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connection

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


def race(count: int, work) -> list[tuple[str, object]]:
    """Run work(i) in `count` threads released at once; ("ok", result) or ("error", exc)."""
    barrier = threading.Barrier(count)
    results: list[tuple[str, object] | None] = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", work(i))
        except Exception as exc:
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results
