"""Issue 5, acceptances 2 and 6 through real Celery workers: campaigns_advance_task sent
twice at once to two worker processes on Redis (PostgreSQL) invites, announces and
issues once; each member gets each message once."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from campaigns.models import Offer, Participant
from campaigns.services import core
from campaigns.tasks import campaigns_advance_task
from loyalty.celery import app
from loyalty.models import Tier
from members.models import Member
from messaging.models import Message
from tests import factories
from tests.worker.conftest import (
    Worker,
    _broker_url,
    _database_url,
    _queue_delete,
    _stop,
    poll,
    unacked_forget,
    worker_start,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MEMBERS = 400
DONE_TIMEOUT = 90


@pytest.fixture
def two_workers(django_db_setup, tmp_path):
    """Two workers on one queue of the test's own, started side by side; stopped and the
    queue removed afterwards, even on failure."""
    database_url = _database_url()
    broker_url = _broker_url()
    queue = f"loyalty-test-campaigns-{uuid.uuid4().hex[:12]}"

    started: list[Worker] = []

    def start(name: str) -> Worker:
        worker = worker_start(
            queue=queue,
            name=f"{queue}-{name}@%h",
            broker_url=broker_url,
            database_url=database_url,
            log=tmp_path / f"{name}.log",
        )
        started.append(worker)
        return worker

    try:
        # Side by side: a worker takes seconds to start on a busy machine.
        with ThreadPoolExecutor(max_workers=2) as pool:
            workers = list(pool.map(start, ["worker-1", "worker-2"]))
        yield workers
    finally:
        for worker in started:
            _stop(worker)
        if started:
            _queue_delete(started[0])
            unacked_forget(broker_url, queue)


def task_send(worker: Worker) -> str:
    with app.connection_for_write(worker.broker_url) as conn:
        return campaigns_advance_task.apply_async(queue=worker.queue, connection=conn).id


def test_campaigns_advance_sent_twice_at_once_to_two_workers_sends_each_message_once(
    two_workers,
):
    # given 400 members with e-mail consent, a closed sale starting tomorrow (its 3-day
    # announcement is due) and an offer that started a minute ago, each holding out 10%
    tier = Tier.objects.order_by("threshold").first()
    Member.objects.bulk_create(
        factories.MemberFactory.build_batch(MEMBERS, tier=tier, consent_email=True)
    )
    now = timezone.now()
    sale = factories.ClosedSaleFactory(
        starts_at=now + dt.timedelta(days=1), ends_at=now + dt.timedelta(days=3),
        holdout_percent=Decimal("10"), channel="email",
    )  # fmt: skip
    offer = factories.OfferCampaignFactory(
        status="scheduled", starts_at=now - dt.timedelta(minutes=1),
        ends_at=now + dt.timedelta(days=7), holdout_percent=Decimal("10"), channel="email",
    )  # fmt: skip
    members = set(Member.objects.values_list("pk", flat=True))
    reached = {
        campaign.pk: {m for m in members if not core.is_holdout(campaign, m)}
        for campaign in (sale, offer)
    }

    # when the task is sent twice at once, to two workers
    # (one queue: either worker takes either task)
    task_ids = [task_send(two_workers[0]), task_send(two_workers[0])]
    results = poll(
        "both task results",
        lambda: (
            len(found := list(TaskResult.objects.filter(task_id__in=task_ids, status="SUCCESS")))
            == 2
            and found
        ),
        timeout=DONE_TIMEOUT,
        workers=two_workers,
    )

    # then each worker ran one, and between them they wrote what one run writes
    assert len({result.worker for result in results}) == 2, [r.worker for r in results]
    written = Counter()
    for result in results:
        written.update(json.loads(result.result))
    assert written["activated"] == 1
    assert written["participants"] == 2 * MEMBERS
    assert written["offers"] == len(reached[offer.pk])
    assert written["offer"] == len(reached[offer.pk])
    assert written["sale_announce"] == len(reached[sale.pk])

    # and each reached member has one offer and each message once
    assert Participant.objects.count() == 2 * MEMBERS
    assert Counter(Offer.objects.values_list("member_id", flat=True)) == Counter(reached[offer.pk])
    assert Counter(Message.objects.values_list("campaign_id", "member_id", "kind")) == Counter(
        [(offer.pk, m, "offer") for m in reached[offer.pk]]
        + [(sale.pk, m, "sale_announce") for m in reached[sale.pk]]
    )
    sale.refresh_from_db()
    offer.refresh_from_db()
    assert (sale.status, sale.invited_at is not None, sale.announced_at is not None) == (
        "scheduled",
        True,
        True,
    )
    assert (offer.status, offer.issued_at is not None) == ("active", True)
