"""Checkout commits per second in one process: members.services.checkout_commit with
points spent (as many as allowed) and earned, on members that hold a few lots each."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from bench.checks import Invariants, invariants
from bench.data import MEMBER_TABLES, members_generate
from bench.database import settle
from loyalty.actors import Actor
from loyalty.models import Store
from members.models import Channel, Member, Purchase
from members.services import checkout_commit


@dataclass(frozen=True)
class CheckoutFigures:
    members: int
    commits: int
    seconds: float
    p50_ms: float
    p95_ms: float
    points_spent: int
    points_earned: int
    invariants: Invariants
    commit_floor_ms: float  # p50 of a one-row write and its commit: the disk flush

    @property
    def per_second(self) -> float:
        return self.commits / self.seconds


def _total(i: int) -> Decimal:
    """Receipts from 300 to 5,000 ₽, spread so tiers and the points cap vary."""
    return Decimal(f"{300 + (i * 7919) % 4700}.90")


def checkout_bench(*, members: int, commits: int, warmup: int = 50) -> CheckoutFigures:
    at = timezone.now()
    members_generate(members=members, expired_per_member=0, live_per_member=3, at=at)
    store, _ = Store.objects.get_or_create(code="BENCH-01", defaults={"name": "Bench store"})
    cashier, _ = get_user_model().objects.get_or_create(username="bench-cashier")
    actor = Actor.for_user(cashier, Channel.CASHIER)
    settle([*MEMBER_TABLES, "members_purchase"])
    people = list(Member.objects.order_by("id"))

    def commit(i: int) -> None:
        checkout_commit(
            member=people[i % len(people)],
            store=store,
            receipt_number=f"BENCH-{i:07d}",
            total=_total(i),
            points_to_spend=None,  # as many as the cap allows
            actor=actor,
        )

    for i in range(warmup):
        commit(i)
    latencies = []
    started = time.perf_counter()
    for i in range(warmup, warmup + commits):
        t0 = time.perf_counter()
        commit(i)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started

    floor = []
    for member in people[:200]:
        t0 = time.perf_counter()
        with transaction.atomic():
            Member.objects.filter(pk=member.pk).update(points_balance=F("points_balance"))
        floor.append(time.perf_counter() - t0)

    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    spent = Purchase.objects.aggregate(spent=Sum("points_spent"), earned=Sum("points_earned"))
    return CheckoutFigures(
        members=members,
        commits=commits,
        seconds=elapsed,
        p50_ms=cuts[49] * 1000,
        p95_ms=cuts[94] * 1000,
        points_spent=spent["spent"] or 0,
        points_earned=spent["earned"] or 0,
        invariants=invariants(at=timezone.now()),
        commit_floor_ms=statistics.median(floor) * 1000,
    )
