"""The scheduled tasks through a real broker and a real worker process (PostgreSQL).

Each task is sent through Redis to a Celery worker subprocess working on the test
database; its result comes back through the django-db result backend. Running a task
a second time must change nothing.
"""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from celery.exceptions import TimeoutError as CeleryTimeout
from django.db.models import Sum
from django.utils import timezone
from django_celery_results.models import TaskResult

from loyalty.actors import Actor
from loyalty.celery import app
from members.models import Channel, LedgerEntry, Member, PointsLot
from members.services import checkout_commit, points_adjust, points_grant
from members.tasks import points_expire_task, tier_review_task
from tests import factories

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TASK_TIMEOUT = 60
TASK = Actor.for_task("test")


def run_on_worker(worker, task):
    """Send `task` through the broker to the test worker; its return value."""
    with app.connection_for_write(worker.broker_url) as conn:
        result = task.apply_async(queue=worker.queue, connection=conn)
    try:
        return result.get(timeout=TASK_TIMEOUT)
    except CeleryTimeout:
        pytest.fail(
            f"{task.name} was not done in {TASK_TIMEOUT} s. Worker log:\n{worker.log_tail()}"
        )


def grant_at(member, amount, *, at):
    with time_machine.travel(at, tick=False):
        return points_grant(member=member, amount=amount, reason="test", actor=TASK)


def spend_at(member, amount, *, at):
    with time_machine.travel(at, tick=False):
        points_adjust(member=member, amount=-amount, reason="test spend", actor=TASK)


def ledger_state() -> tuple[list, dict, dict]:
    """Every ledger entry id, every balance and every lot's remainder."""
    return (
        list(LedgerEntry.objects.order_by("id").values_list("id", flat=True)),
        dict(Member.objects.values_list("id", "points_balance")),
        dict(PointsLot.objects.values_list("id", "remaining")),
    )


def sums(member) -> tuple[int, int, int]:
    """(cached balance, ledger sum, sum of lot remainders)."""
    return (
        Member.objects.values_list("points_balance", flat=True).get(pk=member.pk),
        LedgerEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0,
        PointsLot.objects.filter(member=member).aggregate(s=Sum("remaining"))["s"] or 0,
    )


def test_points_expiry_runs_from_the_broker_and_twice_changes_nothing(celery_worker, tiers):
    # given lots earned 400 and 380 days ago (burnt 35 and 15 days ago), and live ones
    now = timezone.now()
    long_ago, less_long_ago, lately = (
        now - dt.timedelta(days=400),
        now - dt.timedelta(days=380),
        now - dt.timedelta(days=10),
    )
    anna, boris, clara = (factories.MemberFactory(tier=tiers["Base"]) for _ in range(3))
    anna_old = grant_at(anna, 120, at=long_ago)
    spend_at(anna, 20, at=long_ago + dt.timedelta(days=30))
    anna_live = grant_at(anna, 50, at=lately)
    boris_spent = grant_at(boris, 40, at=long_ago)
    spend_at(boris, 40, at=long_ago + dt.timedelta(days=1))
    boris_old = grant_at(boris, 30, at=less_long_ago)
    clara_live = grant_at(clara, 70, at=lately)

    # when the worker runs the expiry task
    burnt = run_on_worker(celery_worker, points_expire_task)

    # then exactly the unspent remainders of the lots past their life are burnt
    assert burnt == 130
    assert list(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE)
        .order_by("member_id")
        .values_list("member_id", "lot_id", "amount", "actor")
    ) == [
        (anna.pk, anna_old.pk, -100, "task:points_expire"),
        (boris.pk, boris_old.pk, -30, "task:points_expire"),
    ]
    assert dict(PointsLot.objects.values_list("id", "remaining")) == {
        anna_old.pk: 0,
        anna_live.pk: 50,
        boris_spent.pk: 0,
        boris_old.pk: 0,
        clara_live.pk: 70,
    }
    assert sums(anna) == (50, 50, 50)
    assert sums(boris) == (0, 0, 0)
    assert sums(clara) == (70, 70, 70)

    # when it runs a second time
    before = ledger_state()
    burnt_again = run_on_worker(celery_worker, points_expire_task)

    # then nothing changed
    assert burnt_again == 0
    assert ledger_state() == before
    assert (
        TaskResult.objects.filter(task_name=points_expire_task.name, status="SUCCESS").count() == 2
    )


def test_tier_review_runs_from_the_broker_and_twice_changes_nothing(
    celery_worker, tiers, store, cashier
):
    # given a Gold member whose spend (2,250 after discount) now earns only Silver, a Base
    # member with 1,500 spent, one without purchases, and Silver lowered to 1,000
    cashier_actor = Actor.for_user(cashier, Channel.CASHIER)
    gold = factories.MemberFactory(tier=tiers["Gold"])
    spender = factories.MemberFactory(tier=tiers["Base"])
    newcomer = factories.MemberFactory(tier=tiers["Base"])
    for n, (member, total) in enumerate([(gold, "2500.00"), (spender, "1500.00")]):
        checkout_commit(
            member=member,
            store=store,
            receipt_number=f"R-{n}",
            total=total,
            points_to_spend=0,
            actor=cashier_actor,
        )
    tiers["Silver"].threshold = Decimal("1000")
    tiers["Silver"].save(update_fields=["threshold"])
    assert dict(Member.objects.values_list("id", "tier_id")) == {
        gold.pk: tiers["Gold"].pk,
        spender.pk: tiers["Base"].pk,
        newcomer.pk: tiers["Base"].pk,
    }

    # when the worker runs the tier review
    moves = run_on_worker(celery_worker, tier_review_task)

    # then one member moved up and one down, both to Silver
    assert moves == {"up": 1, "down": 1}
    after = dict(Member.objects.values_list("id", "tier_id"))
    assert after == {
        gold.pk: tiers["Silver"].pk,
        spender.pk: tiers["Silver"].pk,
        newcomer.pk: tiers["Base"].pk,
    }

    # when it runs a second time
    moves_again = run_on_worker(celery_worker, tier_review_task)

    # then nobody moves
    assert moves_again == {"up": 0, "down": 0}
    assert dict(Member.objects.values_list("id", "tier_id")) == after
