"""Delivery runs at once over one outbox, on PostgreSQL: every row is sent exactly once.

Each thread is one worker's delivery run with its own database connection; they start
together at a barrier and race for the same 2,000 queued SMS messages (in-memory
backend). Claims (FOR UPDATE SKIP LOCKED) must hand each row to one run only. The
threads hold a connection each and no more, so the module needs no `serial` mark.
"""

import threading

import pytest
from django.db import connection

from members.models import Member
from messaging.models import Kind, Message
from messaging.services import DeliveryStats, messages_deliver, messages_queue_for
from tests import factories
from tests.messaging.conftest import consent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent runs need PostgreSQL row locks and advisory locks; SQLite "
        "serialises the whole database (CI runs this module on PostgreSQL)",
    ),
]

MEMBERS = 50
EVENTS = 40  # MEMBERS × EVENTS messages


def deliver_at_once(workers: int) -> list[DeliveryStats]:
    """Run `workers` delivery runs in threads started together; their stats."""
    barrier = threading.Barrier(workers)
    results: list[DeliveryStats | BaseException | None] = [None] * workers

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = messages_deliver()
        except BaseException as exc:  # reported below, not lost in the thread
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads)
    errors = [r for r in results if not isinstance(r, DeliveryStats)]
    assert errors == []
    return results


@pytest.mark.parametrize("workers", [2, 4])
def test_runs_at_once_send_every_message_exactly_once(tiers, memory_outbox, workers):
    # given: 2,000 marketing SMS to members with consent, queued as campaigns do
    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="sms", body_ru="{{ offer }}")
    for member in factories.MemberFactory.create_batch(MEMBERS, tier=tiers["Base"]):
        consent(member, "sms")
    for event in range(EVENTS):
        queued = messages_queue_for(
            members=Member.objects.all(),
            kind=Kind.OFFER,
            channel="sms",
            event_key=f"offer:{event}",
            context={"offer": f"Предложение {event}"},
        )
        assert queued == MEMBERS
    ids = set(Message.objects.values_list("pk", flat=True))
    assert len(ids) == MEMBERS * EVENTS == 2_000

    # when
    stats = deliver_at_once(workers)

    # then: every row sent once, by one run or another, and every run took a share
    assert sum(s.sent for s in stats) == 2_000
    assert [s.failed + s.suppressed + s.retried + s.recovered for s in stats] == [0] * workers
    assert all(s.sent > 0 for s in stats), [s.sent for s in stats]
    keys = [m.idempotency_key for m in memory_outbox]
    assert len(keys) == 2_000
    assert set(keys) == {f"loyalty-{pk}" for pk in ids}
    rows = Message.objects.values_list("status", "attempts", "claim")
    assert set(rows) == {(Message.Status.SENT, 1, None)}
    assert Message.objects.filter(sent_at__isnull=True).count() == 0
