"""Recovery of a delivery run that died mid-batch, on PostgreSQL.

A run is alive while its connection holds the session advisory lock (7302, claim id).
A dead run is simulated by rows in status `sending` under a claim whose lock nobody
holds; a live one by a second connection (plain psycopg, outside Django) holding it.
"""

import datetime as dt

import psycopg
import pytest
from django.db import connection

from messaging.models import Kind, Message
from messaging.services import messages_deliver, messages_recover
from messaging.services.delivery import in_doubt_note
from tests import factories
from tests.messaging.conftest import T0, consent

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a live run is told by its advisory lock, a PostgreSQL feature (CI runs PostgreSQL)",
)

LOCK_SPACE = 7302
DEAD = 4242
LIVE = 5151


@pytest.fixture
def other_session():
    """Another database session (another worker's), to hold advisory locks with."""
    db = connection.settings_dict
    session = psycopg.connect(
        dbname=db["NAME"],
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        autocommit=True,
    )
    yield session
    session.close()


def hold(session, claim_id: int) -> None:
    session.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_SPACE, claim_id])


def locks_held_here() -> int:
    """Delivery-claim advisory locks this (Django's) session still holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
            " AND pid = pg_backend_pid()",
            [LOCK_SPACE],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def reachable(member):
    """The member, with SMS consent, and the SMS template their messages use."""
    factories.MessageTemplateFactory()
    consent(member, "sms")
    return member


def sending(member, claim_id: int, count: int, *, attempts: int = 0) -> list[Message]:
    """`count` rows a run with `claim_id` claimed at T0, in id order."""
    return [
        factories.MessageFactory(
            member=member,
            kind=Kind.PROMO_CODE,
            status=Message.Status.SENDING,
            claim=claim_id,
            claimed_at=T0,
            attempts=attempts,
            send_after=T0 - dt.timedelta(minutes=1),
        )
        for _ in range(count)
    ]


def state(message: Message) -> tuple:
    m = Message.objects.get(pk=message.pk)
    return (m.status, m.claim, m.claimed_at, m.attempts, m.error, m.send_after)


def test_dead_claim_goes_back_to_the_queue_with_only_its_first_row_in_doubt(reachable):
    # given: a run died with three rows claimed; other rows are not its business
    first, second, third = sending(reachable, DEAD, 3)
    pending = factories.MessageFactory(member=reachable)
    sent = factories.MessageFactory(member=reachable, status=Message.Status.SENT, attempts=1)
    untouched = {m.pk: state(m) for m in (pending, sent)}

    # when
    recovered = messages_recover()

    # then: the lowest id may have reached the provider; the others were never tried
    assert recovered == 3
    back = (Message.Status.PENDING, None, None)
    assert state(first) == (*back, 1, in_doubt_note(), T0 - dt.timedelta(minutes=1))
    assert state(second) == (*back, 0, "", T0 - dt.timedelta(minutes=1))
    assert state(third) == (*back, 0, "", T0 - dt.timedelta(minutes=1))
    assert {m.pk: state(m) for m in (pending, sent)} == untouched
    assert locks_held_here() == 0


def test_in_doubt_row_that_was_a_retry_counts_one_more_attempt(reachable):
    # given: the run died while sending a row on its third attempt
    first, second = sending(reachable, DEAD, 2, attempts=2)

    # when
    messages_recover()

    # then
    assert state(first)[3] == 3
    assert state(second)[3] == 2


def test_each_dead_claim_has_its_own_row_in_doubt(reachable):
    # given: two dead runs
    a1, a2 = sending(reachable, DEAD, 2)
    b1, b2 = sending(reachable, DEAD + 1, 2)

    # when
    recovered = messages_recover()

    # then
    assert recovered == 4
    assert [state(m)[3:5] for m in (a1, a2, b1, b2)] == [
        (1, in_doubt_note()),
        (0, ""),
        (1, in_doubt_note()),
        (0, ""),
    ]


def test_claim_of_a_live_run_is_left_alone(reachable, other_session):
    # given: another worker's session holds the lock of its claim
    live = sending(reachable, LIVE, 2)
    dead = sending(reachable, DEAD, 2)
    hold(other_session, LIVE)
    before = [state(m) for m in live]

    # when
    recovered = messages_recover()

    # then: only the dead run's rows come back
    assert recovered == 2
    assert [state(m) for m in live] == before
    assert [state(m)[0] for m in live] == [Message.Status.SENDING] * 2
    assert [state(m)[0] for m in dead] == [Message.Status.PENDING] * 2
    assert locks_held_here() == 0

    # when: that worker dies (its session ends, and the lock with it)
    other_session.close()

    # then
    assert messages_recover() == 2
    assert [state(m)[:4] for m in live] == [
        (Message.Status.PENDING, None, None, 1),
        (Message.Status.PENDING, None, None, 0),
    ]


def test_delivery_run_sends_each_row_of_a_dead_claim_once(reachable, memory_outbox):
    # given
    rows = sending(reachable, DEAD, 3)

    # when: the next run recovers the claim and sends its rows
    stats = messages_deliver()

    # then: each once, with its own idempotency key; the row in doubt counts two attempts
    assert (stats.recovered, stats.sent) == (3, 3)
    assert [m.idempotency_key for m in memory_outbox] == [f"loyalty-{m.pk}" for m in rows]
    sent = [Message.objects.get(pk=m.pk) for m in rows]
    assert [m.status for m in sent] == [Message.Status.SENT] * 3
    assert [m.attempts for m in sent] == [2, 1, 1]
    assert [m.error for m in sent] == [in_doubt_note(), "", ""]  # it may have arrived twice
    assert [m.provider_id for m in sent] == [f"loyalty-{m.pk}" for m in rows]
    assert locks_held_here() == 0

    # when: another run
    again = messages_deliver()

    # then
    assert (again.recovered, again.handled) == (0, 0)
    assert len(memory_outbox) == 3


def test_delivery_run_does_not_touch_a_live_run_s_rows(reachable, other_session, memory_outbox):
    # given
    live = sending(reachable, LIVE, 2)
    hold(other_session, LIVE)
    queued = factories.MessageFactory(member=reachable)
    before = [state(m) for m in live]

    # when
    stats = messages_deliver()

    # then
    assert (stats.recovered, stats.sent) == (0, 1)
    assert [m.idempotency_key for m in memory_outbox] == [f"loyalty-{queued.pk}"]
    assert [state(m) for m in live] == before
