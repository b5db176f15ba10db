"""Delivery: consent and templates decided at send time, and every outcome recorded.

SMS goes to the in-memory backend of the test settings, e-mail to Django's locmem
outbox. Provider failures come from ScriptedBackend below, configured through
settings.MESSAGES_SMS_BACKEND like any real provider.
"""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.utils import translation
from django.utils.translation import gettext

from messaging.backends import (
    Accepted,
    Backend,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from messaging.models import TRANSACTIONAL_KINDS, Channel, Kind, Message, MessageTemplate
from messaging.services import message_queue, messages_deliver
from tests import factories
from tests.messaging.conftest import T0, consent

# What ScriptedBackend does on each send, in order: an exception to raise, or None to
# accept; and every message it was given.
script: list[Exception | None] = []
calls: list[Outgoing] = []


class ScriptedBackend(Backend):
    def send(self, message: Outgoing) -> Accepted:
        calls.append(message)
        outcome = script.pop(0) if script else None
        if outcome is not None:
            raise outcome
        return Accepted(provider_id=f"prov-{len(calls)}", response='{"status": "queued"}')


@pytest.fixture
def scripted(settings):
    settings.MESSAGES_SMS_BACKEND = f"{__name__}.ScriptedBackend"
    script.clear()
    calls.clear()
    yield script
    script.clear()
    calls.clear()


@pytest.fixture
def promo_template():
    """The SMS promo code template of the factory (Russian and English texts)."""
    return factories.MessageTemplateFactory()


def busy() -> TransientDeliveryError:
    return TransientDeliveryError("provider busy", response='{"error": "busy"}')


def promo_queue(member, *, event_key: str = "batch:1", campaign=None) -> Message:
    return message_queue(
        member=member,
        kind=Kind.PROMO_CODE,
        channel="sms",
        event_key=event_key,
        context={"code": "WINTER-10AB", "deadline": dt.date(2025, 3, 24)},
        campaign=campaign,
    )


def row(message: Message) -> Message:
    return Message.objects.get(pk=message.pk)


def assert_not_sent(message: Message) -> None:
    assert message.recipient == ""
    assert message.subject == ""
    assert message.body == ""
    assert message.provider_id == ""
    assert message.sent_at is None
    assert message.claim is None
    assert message.claimed_at is None


# --- Consent, addresses and templates, decided when the message is sent ----------------


def test_marketing_sms_with_consent_withdrawn_after_queueing_is_suppressed(
    member, promo_template, memory_outbox
):
    # given: queued while the member had consent, withdrawn before the run
    consent(member, "sms")
    message = promo_queue(member)
    consent(member, "sms", is_granted=False)

    # when
    stats = messages_deliver()

    # then
    assert (stats.sent, stats.suppressed, stats.failed, stats.retried) == (0, 1, 0, 0)
    message = row(message)
    assert message.status == Message.Status.SUPPRESSED
    assert message.suppressed_reason == Message.Suppression.NO_CONSENT
    assert message.attempts == 0
    assert message.error == ""
    assert_not_sent(message)
    assert memory_outbox == []


def test_marketing_e_mail_with_consent_withdrawn_after_queueing_is_suppressed(member):
    # given
    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="email", body_ru="{{ offer }}")
    consent(member, "email")
    message = message_queue(
        member=member, kind=Kind.OFFER, channel="email", event_key="o:1", context={"offer": "X"}
    )
    consent(member, "email", is_granted=False)

    # when
    messages_deliver()

    # then
    message = row(message)
    assert message.status == Message.Status.SUPPRESSED
    assert message.suppressed_reason == Message.Suppression.NO_CONSENT
    assert_not_sent(message)
    assert mail.outbox == []


def test_consent_granted_after_queueing_lets_the_message_go(member, promo_template, memory_outbox):
    # given: queued without consent (consent is not checked when queueing)
    message = promo_queue(member)
    consent(member, "sms")

    # when
    stats = messages_deliver()

    # then
    assert stats.sent == 1
    assert row(message).status == Message.Status.SENT
    assert [sent.to for sent in memory_outbox] == [str(member.phone)]


def test_consent_on_another_channel_does_not_count(member, promo_template, memory_outbox):
    # given
    consent(member, "email")
    consent(member, "push")
    message = promo_queue(member)

    # when
    messages_deliver()

    # then
    assert row(message).suppressed_reason == Message.Suppression.NO_CONSENT
    assert memory_outbox == []


@pytest.mark.parametrize("kind", sorted(TRANSACTIONAL_KINDS))
def test_transactional_kinds_are_sent_without_marketing_consent(member, memory_outbox, kind):
    # given: no consent at all
    factories.MessageTemplateFactory(kind=kind, channel="sms", body_ru="Баланс: {{ balance }}")
    message = message_queue(member=member, kind=kind, channel="sms", event_key="e:1")

    # when
    stats = messages_deliver()

    # then
    assert stats.sent == 1
    message = row(message)
    assert message.is_marketing is False
    assert message.status == Message.Status.SENT
    assert message.body == "Баланс: 0"
    assert [sent.to for sent in memory_outbox] == [str(member.phone)]


def test_e_mail_to_a_member_without_an_address_is_suppressed(tiers):
    # given
    member = factories.MemberFactory(tier=tiers["Base"], email="")
    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="email", body_ru="{{ offer }}")
    consent(member, "email")
    message = message_queue(member=member, kind=Kind.OFFER, channel="email", event_key="o:1")

    # when
    stats = messages_deliver()

    # then
    assert stats.suppressed == 1
    message = row(message)
    assert message.status == Message.Status.SUPPRESSED
    assert message.suppressed_reason == Message.Suppression.NO_ADDRESS
    assert message.attempts == 0
    assert_not_sent(message)
    assert mail.outbox == []


def test_push_goes_to_the_newest_active_device_and_is_suppressed_without_one(tiers, memory_outbox):
    # given: one member with two active devices and an inactive newer one; one with none
    from messaging.models import PushDevice

    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="push", body_ru="{{ offer }}")
    with_devices, without = factories.MemberFactory.create_batch(2, tier=tiers["Base"])
    for member in (with_devices, without):
        consent(member, "push")
    with time_machine.travel(T0, tick=False):
        PushDevice.objects.create(member=with_devices, token="old-token", platform="android")
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        PushDevice.objects.create(member=with_devices, token="new-token", platform="ios")
    with time_machine.travel(T0 + dt.timedelta(days=2), tick=False):
        PushDevice.objects.create(
            member=with_devices, token="gone-token", platform="ios", is_active=False
        )
    PushDevice.objects.create(member=without, token="off-token", platform="web", is_active=False)
    sent = message_queue(member=with_devices, kind=Kind.OFFER, channel="push", event_key="o:1")
    nowhere = message_queue(member=without, kind=Kind.OFFER, channel="push", event_key="o:1")

    # when
    messages_deliver()

    # then
    assert row(sent).status == Message.Status.SENT
    assert row(sent).recipient == "new-token"
    assert row(nowhere).suppressed_reason == Message.Suppression.NO_ADDRESS
    assert [(m.channel, m.to) for m in memory_outbox] == [("push", "new-token")]


def test_message_of_an_inactive_template_is_suppressed(member, promo_template, memory_outbox):
    # given
    consent(member, "sms")
    message = promo_queue(member)
    MessageTemplate.objects.filter(pk=promo_template.pk).update(is_active=False)

    # when
    stats = messages_deliver()

    # then
    assert stats.suppressed == 1
    message = row(message)
    assert message.status == Message.Status.SUPPRESSED
    assert message.suppressed_reason == Message.Suppression.TEMPLATE_INACTIVE
    assert message.attempts == 0
    assert_not_sent(message)
    assert memory_outbox == []


def test_message_without_a_template_fails_with_a_clear_error(member, memory_outbox):
    # given: there is no birthday SMS template
    MessageTemplate.objects.filter(kind=Kind.BIRTHDAY, channel="sms").delete()
    consent(member, "sms")
    message = message_queue(member=member, kind=Kind.BIRTHDAY, channel="sms", event_key="b:2025")

    # when
    stats = messages_deliver()

    # then: the error is written in the program's language
    assert stats.failed == 1
    message = row(message)
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    with translation.override(settings.LANGUAGE_CODE):
        expected = gettext("There is no template for %(kind)s by %(channel)s.") % {
            "kind": Kind.BIRTHDAY.label,
            "channel": Channel.SMS.label,
        }
    assert message.error == expected
    assert message.provider_response == ""
    assert_not_sent(message)
    assert memory_outbox == []


def test_template_that_does_not_compile_fails_its_message_and_the_run_goes_on(
    tiers, promo_template, memory_outbox
):
    # given: an offer template saved without the check (shell, import, old data), queued
    # before a promo code message of a template that works
    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="sms", body_ru="Скидка {% if %}")
    broken_for, fine_for = factories.MemberFactory.create_batch(2, tier=tiers["Base"])
    for member in (broken_for, fine_for):
        consent(member, "sms")
    broken = message_queue(member=broken_for, kind=Kind.OFFER, channel="sms", event_key="o:1")
    fine = promo_queue(fine_for)

    # when
    stats = messages_deliver()

    # then: the broken one failed with the template's error; nothing is left claimed
    assert (stats.sent, stats.failed) == (1, 1)
    broken = row(broken)
    assert broken.status == Message.Status.FAILED
    assert broken.attempts == 1
    with translation.override(settings.LANGUAGE_CODE):
        expected = gettext("The template has an error: %(error)s") % {
            "error": "Unexpected end of expression in if tag."
        }
    assert broken.error == expected
    assert_not_sent(broken)
    assert row(fine).status == Message.Status.SENT
    assert [m.to for m in memory_outbox] == [str(fine_for.phone)]
    assert Message.objects.filter(status=Message.Status.SENDING).count() == 0


def test_campaign_template_beats_the_general_one(member, memory_outbox):
    # given: a general template, one campaign with its own and one without
    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="sms", body_ru="Общий: {{ offer }}")
    own, other = factories.CampaignFactory.create_batch(2)
    factories.MessageTemplateFactory(
        kind=Kind.OFFER, channel="sms", campaign=own, body_ru="Свой: {{ offer }}"
    )
    consent(member, "sms")
    context = {"offer": "-30%"}
    queued = [
        message_queue(
            member=member,
            kind=Kind.OFFER,
            channel="sms",
            event_key=f"o:{i}",
            context=context,
            campaign=campaign,
        )
        for i, campaign in enumerate([own, other, None, own])
    ]

    # when: one run, so the run's template cache is exercised across campaigns
    messages_deliver()

    # then
    assert [row(m).body for m in queued] == [
        "Свой: -30%",
        "Общий: -30%",
        "Общий: -30%",
        "Свой: -30%",
    ]
    assert [m.body for m in memory_outbox] == [row(m).body for m in queued]


def test_inactive_campaign_template_stops_the_campaign_even_with_a_general_one(
    member, memory_outbox
):
    # given
    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="sms", body_ru="Общий")
    campaign = factories.CampaignFactory()
    factories.MessageTemplateFactory(
        kind=Kind.OFFER, channel="sms", campaign=campaign, body_ru="Свой", is_active=False
    )
    consent(member, "sms")
    message = message_queue(
        member=member, kind=Kind.OFFER, channel="sms", event_key="o:1", campaign=campaign
    )

    # when
    messages_deliver()

    # then
    assert row(message).suppressed_reason == Message.Suppression.TEMPLATE_INACTIVE
    assert memory_outbox == []


# --- Outcomes ----------------------------------------------------------------------------


def test_sent_message_records_what_was_sent(member, promo_template, memory_outbox):
    # given
    consent(member, "sms")
    with time_machine.travel(T0, tick=False):
        message = promo_queue(member)

    # when
    with time_machine.travel(T0 + dt.timedelta(seconds=30), tick=False):
        stats = messages_deliver()

    # then
    assert (stats.sent, stats.suppressed, stats.failed, stats.retried) == (1, 0, 0, 0)
    text = f"{member.first_name}, ваш промокод WINTER-10AB действует до 24 марта."
    message = row(message)
    assert message.status == Message.Status.SENT
    assert message.recipient == str(member.phone)
    assert message.subject == "Подарок для вас"
    assert message.body == text
    assert message.provider_id == f"loyalty-{message.pk}"
    assert message.provider_response == "memory"
    assert message.sent_at == T0 + dt.timedelta(seconds=30)
    assert message.send_after == T0
    assert message.attempts == 1
    assert message.error == ""
    assert message.claim is None
    assert message.claimed_at is None
    assert memory_outbox == [
        Outgoing(
            idempotency_key=f"loyalty-{message.pk}",
            channel="sms",
            to=str(member.phone),
            subject="Подарок для вас",
            body=text,
        )
    ]


def test_a_sent_message_is_not_sent_again(member, promo_template, memory_outbox):
    # given
    consent(member, "sms")
    promo_queue(member)
    messages_deliver()

    # when
    stats = messages_deliver()

    # then
    assert stats.handled == 0
    assert len(memory_outbox) == 1


def test_transient_error_puts_the_message_back_after_the_first_delay(member, scripted):
    # given
    consent(member, "sms")
    factories.MessageTemplateFactory()
    with time_machine.travel(T0, tick=False):
        message = promo_queue(member)
    scripted.append(busy())

    # when
    with time_machine.travel(T0, tick=False):
        stats = messages_deliver()

    # then
    assert (stats.sent, stats.failed, stats.retried) == (0, 0, 1)
    message = row(message)
    assert message.status == Message.Status.PENDING
    assert message.attempts == 1
    assert message.send_after == T0 + dt.timedelta(seconds=settings.MESSAGES_RETRY_DELAYS[0])
    assert message.error == "provider busy"
    assert message.provider_response == '{"error": "busy"}'
    assert_not_sent(message)
    assert len(calls) == 1


def test_retried_message_waits_for_its_send_after(member, scripted):
    # given: the first attempt failed at T0, the retry is due at T0 + 60 s
    consent(member, "sms")
    factories.MessageTemplateFactory()
    with time_machine.travel(T0, tick=False):
        message = promo_queue(member)
        scripted.append(busy())
        messages_deliver()
    due = T0 + dt.timedelta(seconds=settings.MESSAGES_RETRY_DELAYS[0])
    before = row(message)

    # when: a run one second early
    with time_machine.travel(due - dt.timedelta(seconds=1), tick=False):
        early = messages_deliver()

    # then: not tried, not changed
    assert early.handled == 0
    assert len(calls) == 1
    assert row(message).updated_at == before.updated_at
    assert row(message).attempts == 1

    # when: a run when it is due
    with time_machine.travel(due, tick=False):
        on_time = messages_deliver()

    # then: sent on the second attempt, with the same idempotency key as the first
    assert on_time.sent == 1
    message = row(message)
    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert message.sent_at == due
    assert message.error == ""
    assert message.provider_id == "prov-2"
    assert message.provider_response == '{"status": "queued"}'
    assert [c.idempotency_key for c in calls] == [f"loyalty-{message.pk}"] * 2


def test_transient_errors_fail_the_message_once_the_delays_are_used_up(member, scripted):
    # given
    delays = settings.MESSAGES_RETRY_DELAYS
    assert delays == [60, 300, 1800, 7200]
    consent(member, "sms")
    factories.MessageTemplateFactory()
    with time_machine.travel(T0, tick=False):
        message = promo_queue(member)
    scripted.extend(busy() for _ in range(len(delays) + 1))

    # when / then: each failure waits the next delay…
    at = T0
    for attempt, delay in enumerate(delays, start=1):
        with time_machine.travel(at, tick=False):
            assert messages_deliver().retried == 1
        message = row(message)
        assert (message.status, message.attempts) == (Message.Status.PENDING, attempt)
        assert message.send_after == at + dt.timedelta(seconds=delay)
        at = message.send_after

    # …and the one after the last delay fails it for good
    with time_machine.travel(at, tick=False):
        assert messages_deliver().failed == 1
    message = row(message)
    assert message.status == Message.Status.FAILED
    assert message.attempts == len(delays) + 1
    assert message.error == "provider busy"
    assert message.provider_response == '{"error": "busy"}'
    assert_not_sent(message)
    assert [c.idempotency_key for c in calls] == [f"loyalty-{message.pk}"] * (len(delays) + 1)

    # a failed message is never picked up again
    with time_machine.travel(at + dt.timedelta(days=1), tick=False):
        assert messages_deliver().handled == 0
    assert len(calls) == len(delays) + 1


def test_permanent_error_fails_the_message_at_once(member, scripted):
    # given
    consent(member, "sms")
    factories.MessageTemplateFactory()
    with time_machine.travel(T0, tick=False):
        message = promo_queue(member)
    scripted.append(PermanentDeliveryError("number refused", response='{"error": "refused"}'))

    # when
    with time_machine.travel(T0, tick=False):
        stats = messages_deliver()

    # then
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 0)
    message = row(message)
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert message.error == "number refused"
    assert message.provider_response == '{"error": "refused"}'
    assert message.send_after == T0
    assert_not_sent(message)
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        assert messages_deliver().handled == 0
    assert len(calls) == 1


def test_unexpected_backend_exception_is_treated_as_transient(member, scripted):
    # given
    consent(member, "sms")
    factories.MessageTemplateFactory()
    with time_machine.travel(T0, tick=False):
        message = promo_queue(member)
    scripted.append(RuntimeError("socket closed"))

    # when
    with time_machine.travel(T0, tick=False):
        stats = messages_deliver()

    # then
    assert stats.retried == 1
    message = row(message)
    assert message.status == Message.Status.PENDING
    assert message.attempts == 1
    assert message.send_after == T0 + dt.timedelta(seconds=settings.MESSAGES_RETRY_DELAYS[0])
    assert message.error == "RuntimeError: socket closed"
    assert message.provider_response == ""
    assert_not_sent(message)


def test_one_failing_message_does_not_stop_the_rest_of_the_batch(tiers, scripted):
    # given
    factories.MessageTemplateFactory()
    members = factories.MemberFactory.create_batch(3, tier=tiers["Base"])
    for member in members:
        consent(member, "sms")
    queued = [promo_queue(member) for member in members]
    scripted.extend([None, PermanentDeliveryError("refused"), busy()])

    # when
    stats = messages_deliver()

    # then: in id order, one outcome each
    assert (stats.sent, stats.failed, stats.retried) == (1, 1, 1)
    assert [row(m).status for m in queued] == [
        Message.Status.SENT,
        Message.Status.FAILED,
        Message.Status.PENDING,
    ]
    assert [c.to for c in calls] == [str(m.phone) for m in members]


# --- Language ----------------------------------------------------------------------------


def test_member_who_chose_english_gets_the_english_text(tiers):
    # given
    member = factories.MemberFactory(tier=tiers["Base"], language="en", first_name="Anna")
    factories.MessageTemplateFactory(
        kind=Kind.OFFER,
        channel="email",
        subject_ru="Для вас, {{ first_name }}",
        body_ru="Предложение: {{ offer }} до {{ deadline|date:'j E' }}",
        subject_en="For you, {{ first_name }}",
        body_en="Offer: {{ offer }} until {{ deadline|date:'F j' }}",
    )
    consent(member, "email")
    message = message_queue(
        member=member,
        kind=Kind.OFFER,
        channel="email",
        event_key="o:1",
        context={"offer": "30% off", "deadline": dt.date(2025, 3, 24)},
    )

    # when
    messages_deliver()

    # then
    message = row(message)
    assert message.subject == "For you, Anna"
    assert message.body.startswith("Offer: 30% off until March 24\n\n")
    assert mail.outbox[0].subject == "For you, Anna"


@pytest.mark.parametrize(
    ("subject_en", "body_en", "subject", "body_start"),
    [
        ("", "", "Для вас, Anna", "Предложение до 24 марта"),
        ("For you", "  ", "Для вас, Anna", "Предложение до 24 марта"),
        ("", "Offer until {{ deadline|date:'F j' }}", "Для вас, Anna", "Offer until March 24"),
    ],
    ids=["no_english", "blank_english_body", "english_body_without_subject"],
)
def test_empty_english_text_falls_back_to_russian(tiers, subject_en, body_en, subject, body_start):
    # given
    member = factories.MemberFactory(tier=tiers["Base"], language="en", first_name="Anna")
    factories.MessageTemplateFactory(
        kind=Kind.OFFER,
        channel="email",
        subject_ru="Для вас, {{ first_name }}",
        body_ru="Предложение до {{ deadline|date:'j E' }}",
        subject_en=subject_en,
        body_en=body_en,
    )
    consent(member, "email")
    message = message_queue(
        member=member,
        kind=Kind.OFFER,
        channel="email",
        event_key="o:1",
        context={"deadline": dt.date(2025, 3, 24)},
    )

    # when
    messages_deliver()

    # then
    message = row(message)
    assert message.status == Message.Status.SENT
    assert message.subject == subject
    assert message.body.startswith(f"{body_start}\n\n")


def test_marketing_e_mail_carries_one_click_unsubscribe(member):
    # given
    factories.MessageTemplateFactory(kind=Kind.OFFER, channel="email", body_ru="{{ offer }}")
    consent(member, "email")
    message = message_queue(
        member=member, kind=Kind.OFFER, channel="email", event_key="o:1", context={"offer": "X"}
    )

    # when
    messages_deliver()

    # then
    message = row(message)
    email = mail.outbox[0]
    link = email.extra_headers["List-Unsubscribe"].removeprefix("<").removesuffix(">")
    assert link.startswith(f"{settings.LOYALTY_PUBLIC_URL}/m/unsubscribe/")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.extra_headers["Message-ID"] == f"<loyalty-{message.pk}@localhost>"
    assert email.body.count(link) == 1
    assert email.body == message.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html"
    assert html.count(f'href="{link}"') == 1
