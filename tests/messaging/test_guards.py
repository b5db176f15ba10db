"""What keeps one bad row or a programming error from stalling the outbox, and how a
delivery run is started after an event commits."""

import smtplib
from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from loyalty.actors import Actor
from loyalty.errors import InvalidInput
from members.models import Member
from messaging.backends import Outgoing, PermanentDeliveryError, TransientDeliveryError
from messaging.backends.mail import EmailBackend
from messaging.models import Kind, Message
from messaging.services import (
    delivery,
    message_queue,
    messages_deliver,
    messages_queue_for,
    messages_recover,
    messages_resend,
)
from messaging.services.delivery import in_doubt_note
from tests import factories
from tests.messaging.conftest import consent

pytestmark = pytest.mark.django_db


@pytest.fixture
def sms_template():
    return factories.MessageTemplateFactory(kind="promo_code", channel="sms")


def test_an_unexpected_error_on_one_row_fails_that_row_and_the_run_goes_on(
    member, sms_template, memory_outbox, monkeypatch
):
    # given three messages, the second of which trips a bug while it is prepared
    consent(member, "sms")
    rows = [
        factories.MessageFactory(member=member, event_key=f"e:{i}", context={"code": "A1"})
        for i in range(3)
    ]
    address = delivery._address

    def broken_for_the_second(message, values):
        if message.pk == rows[1].pk:
            raise RuntimeError("boom")
        return address(message, values)

    monkeypatch.setattr(delivery, "_address", broken_for_the_second)

    # when
    stats = messages_deliver()

    # then the bad row failed with the error, the others went out, nothing is left claimed
    assert (stats.sent, stats.failed) == (2, 1)
    statuses = dict(Message.objects.values_list("pk", "status"))
    assert statuses == {rows[0].pk: "sent", rows[1].pk: "failed", rows[2].pk: "sent"}
    assert Message.objects.get(pk=rows[1].pk).error == "RuntimeError: boom"
    assert len(memory_outbox) == 2
    assert not Message.objects.filter(claim__isnull=False).exists()


def test_a_row_that_keeps_killing_its_worker_is_failed_once_retries_are_used_up(settings, member):
    # given a row left `sending` by a dead run, already tried as often as retries allow
    settings.MESSAGES_RETRY_DELAYS = [60, 300]
    row = factories.MessageFactory(
        member=member, status="sending", claim=424242, attempts=3, error=in_doubt_note()
    )

    # when
    recovered = messages_recover()

    # then it is failed, not put back at the head of the queue
    row.refresh_from_db()
    assert recovered == 1
    assert (row.status, row.attempts, row.claim) == ("failed", 4, None)


@pytest.mark.parametrize(
    ("kind", "channel"), [("promo_code", "e-mail"), ("no_such_kind", "sms"), ("", "")]
)
def test_an_unknown_kind_or_channel_is_refused_when_queued_and_nothing_is_written(
    member, kind, channel
):
    # when / then
    with pytest.raises(InvalidInput):
        message_queue(member=member, kind=kind, channel=channel, event_key="x:1")
    with pytest.raises(InvalidInput):
        messages_queue_for(
            members=Member.objects.filter(pk=member.pk), kind=kind, channel=channel, event_key="x"
        )
    assert not Message.objects.exists()


def test_the_database_refuses_a_row_of_an_unknown_channel(member):
    # when / then: written around the services, the row still cannot exist
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.MessageFactory(member=member, channel="e-mail")
    assert not Message.objects.exists()


def test_points_about_to_burn_is_marketing(member):
    # when
    message = message_queue(member=member, kind=Kind.POINTS_BURN, channel="sms", event_key="b:1")

    # then it needs consent and carries an unsubscribe link
    assert message.is_marketing is True


@override_settings(MESSAGES_DELIVER_ON_COMMIT=True)
def test_one_delivery_run_is_started_after_the_event_commits(
    member, django_capture_on_commit_callbacks
):
    # given
    from django.core.cache import cache

    cache.delete("messaging:deliver-kick")
    with mock.patch("messaging.tasks.messages_deliver_task.apply_async") as started:
        # when two messages are queued in one transaction
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            message_queue(member=member, kind="promo_code", channel="sms", event_key="k:1")
            message_queue(member=member, kind="promo_code", channel="sms", event_key="k:2")

        # then one run starts (the second kick is debounced), without broker retries
        assert len(callbacks) == 2
        started.assert_called_once_with(retry=False)


@override_settings(MESSAGES_DELIVER_ON_COMMIT=True)
def test_no_delivery_run_is_started_when_the_event_rolls_back(
    member, django_capture_on_commit_callbacks
):
    # given
    with mock.patch("messaging.tasks.messages_deliver_task.apply_async") as started:
        # when
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            try:
                with transaction.atomic():
                    message_queue(member=member, kind="promo_code", channel="sms", event_key="r:1")
                    raise RuntimeError("the event fails")
            except RuntimeError:
                pass

        # then
        assert callbacks == []
        started.assert_not_called()
        assert not Message.objects.exists()


def test_an_smtp_server_that_cannot_be_reached_is_a_transient_error(settings):
    # given
    class Unreachable:
        def open(self):
            raise ConnectionRefusedError("connection refused")

    # when / then
    with (
        mock.patch("messaging.backends.mail.get_connection", return_value=Unreachable()),
        pytest.raises(TransientDeliveryError),
    ):
        EmailBackend().open()


@pytest.mark.parametrize(
    ("codes", "error"),
    [
        ([450], TransientDeliveryError),
        ([452, 421], TransientDeliveryError),
        ([550], PermanentDeliveryError),
        ([450, 550], PermanentDeliveryError),
    ],
)
def test_refused_recipients_are_retried_only_when_every_refusal_is_temporary(codes, error):
    # given
    refused = smtplib.SMTPRecipientsRefused(
        {f"r{i}@example.ru": (code, b"no") for i, code in enumerate(codes)}
    )
    backend = EmailBackend()
    backend.connection = mock.Mock()
    outgoing = Outgoing(
        idempotency_key="loyalty-1", channel="email", to="a@example.ru", subject="s", body="b"
    )

    # when / then
    with (
        mock.patch("messaging.backends.mail.EmailMultiAlternatives.send", side_effect=refused),
        pytest.raises(error),
    ):
        backend.send(outgoing)


def test_resending_a_selection_queues_only_its_failed_messages_in_one_update(member):
    # given a failed, a sent and a suppressed message
    failed = factories.MessageFactory(member=member, status="failed", attempts=5, error="503")
    sent = factories.MessageFactory(member=member, status="sent", attempts=1)
    suppressed = factories.MessageFactory(
        member=member, status="suppressed", suppressed_reason="no_consent"
    )
    before = {m.pk: (m.status, m.attempts) for m in (sent, suppressed)}

    # when
    with CaptureQueriesContext(connection) as queries:
        queued = messages_resend(
            messages=Message.objects.filter(pk__in=[failed.pk, sent.pk, suppressed.pk]),
            actor=Actor.for_task("test"),
        )

    # then one statement (besides the savepoint of its atomic block) did it
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1
    assert statements[0].startswith("UPDATE")
    # and only the failed one is back in the queue, with who asked; the others unchanged
    assert queued == 1
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.resent_by) == ("pending", 0, "task:test")
    after = {m.pk: (m.status, m.attempts) for m in Message.objects.filter(pk__in=list(before))}
    assert after == before
