"""NPS surveys: asked NPS_DELAY_DAYS after a purchase, once per NPS_WINDOW_DAYS.

Purchases are real checkouts made at chosen moments (time_machine), so each survey is
tied to the purchase it follows. The checkout also queues a receipt; the assertions
look at NPS messages only.
"""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.core import mail, signing

from loyalty.actors import Actor
from members.models import Purchase
from members.services import checkout_commit
from messaging.errors import BadToken
from messaging.models import Kind, Message, Survey
from messaging.services import messages_deliver, survey_from_token, surveys_queue_due
from tests import factories
from tests.messaging.conftest import T0, consent

DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def nps_settings(settings):
    """The defaults of the issue, pinned so the dates below mean what they say."""
    settings.NPS_DELAY_DAYS = 3
    settings.NPS_CATCHUP_DAYS = 7
    settings.NPS_WINDOW_DAYS = 90
    settings.NPS_SURVEY_LINK_DAYS = 30


_receipts = iter(range(1, 1_000_000))


def buy(member, store, *, at: dt.datetime) -> Purchase:
    with time_machine.travel(at, tick=False):
        return checkout_commit(
            member=member,
            store=store,
            receipt_number=f"R-{next(_receipts)}",
            total="500.00",
            actor=Actor.for_task("test"),
        ).purchase


def queue(at: dt.datetime, **kwargs) -> int:
    with time_machine.travel(at, tick=False):
        return surveys_queue_due(at=at, **kwargs)


def nps_messages():
    return Message.objects.filter(kind=Kind.NPS).order_by("id")


def member_with(tiers, *, email: bool = True, sms: bool = False, address: bool = True):
    member = factories.MemberFactory(tier=tiers["Base"], **({} if address else {"email": ""}))
    if email:
        consent(member, "email")
    if sms:
        consent(member, "sms")
    return member


def test_survey_follows_only_purchases_made_delay_days_ago(tiers, store):
    # given: purchases at the edges of the span [T0 − 10 days, T0 − 3 days]
    at = {
        "three_days_ago": T0 - 3 * DAY,
        "yesterday": T0 - DAY,
        "not_quite_three_days": T0 - 3 * DAY + dt.timedelta(minutes=1),
        "catch_up_edge": T0 - 10 * DAY,
        "too_old": T0 - 10 * DAY - dt.timedelta(minutes=1),
    }
    members = {name: member_with(tiers) for name in at}
    purchases = {name: buy(members[name], store, at=when) for name, when in at.items()}

    # when
    queued = queue(T0)

    # then
    assert queued == 2
    surveys = Survey.objects.order_by("member_id")
    assert [(s.member_id, s.purchase_id) for s in surveys] == [
        (members[name].pk, purchases[name].pk) for name in ("three_days_ago", "catch_up_edge")
    ]


def test_survey_goes_by_e_mail_with_consent_and_address_else_by_sms(tiers, store):
    # given
    members = {
        "email": member_with(tiers, email=True),
        "email_and_sms": member_with(tiers, email=True, sms=True),
        "sms_only": member_with(tiers, email=False, sms=True),
        "email_consent_no_address_sms": member_with(tiers, email=True, sms=True, address=False),
        "email_consent_no_address": member_with(tiers, email=True, address=False),
        "no_consent": member_with(tiers, email=False),
        "push_only": member_with(tiers, email=False),
    }
    consent(members["push_only"], "push")
    for member in members.values():
        buy(member, store, at=T0 - 3 * DAY)

    # when
    queued = queue(T0)

    # then
    assert queued == 4
    channels = dict(Survey.objects.values_list("member_id", "channel"))
    assert channels == {
        members["email"].pk: "email",
        members["email_and_sms"].pk: "email",
        members["sms_only"].pk: "sms",
        members["email_consent_no_address_sms"].pk: "sms",
    }
    assert dict(nps_messages().values_list("member_id", "channel")) == channels


def test_one_survey_per_member_for_the_latest_purchase(tiers, store):
    # given: two purchases in the span
    member = member_with(tiers)
    buy(member, store, at=T0 - 6 * DAY)
    latest = buy(member, store, at=T0 - 4 * DAY)

    # when
    queued = queue(T0)

    # then
    assert queued == 1
    survey = Survey.objects.get()
    assert (survey.member_id, survey.purchase_id, survey.channel) == (member.pk, latest.pk, "email")
    assert survey.created_at == T0
    assert (survey.score, survey.comment, survey.answered_at) == (None, "", None)


def test_survey_message_is_a_marketing_message_with_the_survey_link(tiers, store):
    # given
    member = member_with(tiers)
    buy(member, store, at=T0 - 3 * DAY)

    # when
    queue(T0)

    # then
    survey = Survey.objects.get()
    message = nps_messages().get()
    assert message.member_id == member.pk
    assert message.channel == "email"
    assert message.event_key == f"survey:{survey.pk}"
    assert message.is_marketing is True
    assert message.status == Message.Status.PENDING
    assert message.send_after == T0
    assert message.campaign_id is None
    assert list(message.context) == ["survey_url"]
    url = message.context["survey_url"]
    prefix = f"{settings.LOYALTY_PUBLIC_URL}/m/survey/"
    assert url.startswith(prefix)
    assert url.endswith("/")
    token = url.removeprefix(prefix).removesuffix("/")
    with time_machine.travel(T0 + DAY, tick=False):
        assert survey_from_token(token) == survey


def test_survey_link_expires_and_cannot_be_forged(tiers, store):
    # given
    buy(member_with(tiers), store, at=T0 - 3 * DAY)
    queue(T0)
    url = nps_messages().get().context["survey_url"]
    token = url.rstrip("/").rpartition("/")[2]

    # when / then: past its life
    with (
        time_machine.travel(T0 + 31 * DAY, tick=False),
        pytest.raises(BadToken) as expired,
    ):
        survey_from_token(token)
    assert expired.value.code == "token_expired"

    # when / then: another survey's id under this token's timestamp and signature
    _payload, timestamp, signature = token.split(":")
    other = signing.b64_encode(b'{"s":999999}').decode()
    with time_machine.travel(T0 + DAY, tick=False), pytest.raises(BadToken) as forged:
        survey_from_token(f"{other}:{timestamp}:{signature}")
    assert forged.value.code == "bad_token"


def test_survey_e_mail_is_delivered_with_the_link(tiers, store):
    # given
    member = member_with(tiers)
    buy(member, store, at=T0 - 3 * DAY)
    queue(T0)
    message = nps_messages().get()
    url = message.context["survey_url"]

    # when
    with time_machine.travel(T0, tick=False):
        messages_deliver()

    # then: the receipt and the survey
    [survey_email] = [e for e in mail.outbox if e.subject == "Как вам у нас?"]
    assert survey_email.to == [member.email]
    assert f"\n{url}\n" in survey_email.body
    assert Message.objects.get(pk=message.pk).status == Message.Status.SENT


def test_survey_message_is_suppressed_when_consent_is_withdrawn_before_sending(tiers, store):
    # given
    member = member_with(tiers)
    buy(member, store, at=T0 - 3 * DAY)
    queue(T0)
    consent(member, "email", is_granted=False)

    # when
    with time_machine.travel(T0, tick=False):
        messages_deliver()

    # then: the receipt is sent, the survey is not
    message = nps_messages().get()
    assert message.status == Message.Status.SUPPRESSED
    assert message.suppressed_reason == Message.Suppression.NO_CONSENT
    assert [e.subject for e in mail.outbox] == [f"Ваш чек {Purchase.objects.get().receipt_number}"]


def test_a_member_is_asked_at_most_once_per_window(tiers, store):
    # given: asked at T0 after a purchase three days earlier
    member = member_with(tiers)
    first_purchase = buy(member, store, at=T0 - 3 * DAY)
    assert queue(T0) == 1
    first = Survey.objects.get()

    # when / then: the same day again, the next day (the purchase is still in the span)
    assert queue(T0 + dt.timedelta(hours=6)) == 0
    assert queue(T0 + DAY) == 0

    # when / then: a second purchase, three days later
    buy(member, store, at=T0 + DAY)
    assert queue(T0 + 4 * DAY) == 0
    assert list(Survey.objects.values_list("pk", "purchase_id")) == [(first.pk, first_purchase.pk)]
    assert nps_messages().count() == 1

    # when / then: 91 days after the first survey, with a purchase three days before
    new_purchase = buy(member, store, at=T0 + 88 * DAY)
    assert queue(T0 + 91 * DAY) == 1
    second = Survey.objects.exclude(pk=first.pk).get()
    assert (second.member_id, second.purchase_id) == (member.pk, new_purchase.pk)
    assert second.created_at == T0 + 91 * DAY
    assert list(nps_messages().values_list("event_key", flat=True)) == [
        f"survey:{first.pk}",
        f"survey:{second.pk}",
    ]
    assert queue(T0 + 91 * DAY) == 0


def test_the_window_counts_from_the_last_survey_not_the_last_purchase(tiers, store):
    # given: asked at T0; bought again 86 days later
    member = member_with(tiers)
    buy(member, store, at=T0 - 3 * DAY)
    queue(T0)
    latest = buy(member, store, at=T0 + 86 * DAY)

    # when: a minute before the window ends
    inside = queue(T0 + 90 * DAY - dt.timedelta(minutes=1))

    # then
    assert inside == 0
    assert Survey.objects.count() == 1

    # when: the window has ended
    after = queue(T0 + 90 * DAY)

    # then
    assert after == 1
    assert Survey.objects.order_by("created_at").last().purchase_id == latest.pk


def test_a_second_run_the_same_day_queues_nothing(tiers, store):
    # given
    for _ in range(3):
        buy(member_with(tiers), store, at=T0 - 3 * DAY)
    assert queue(T0) == 3
    surveys = list(Survey.objects.values_list("pk", flat=True))
    messages = list(nps_messages().values_list("pk", flat=True))

    # when
    again = queue(T0 + dt.timedelta(minutes=5))

    # then
    assert again == 0
    assert list(Survey.objects.values_list("pk", flat=True)) == surveys
    assert list(nps_messages().values_list("pk", flat=True)) == messages


def test_members_are_queued_chunk_by_chunk(tiers, store):
    # given: seven members, two of them without consent, between the others
    asked = []
    for i in range(7):
        member = member_with(tiers, email=i not in (2, 5))
        buy(member, store, at=T0 - 3 * DAY)
        if i not in (2, 5):
            asked.append(member.pk)

    # when
    queued = queue(T0, chunk=2)

    # then
    assert queued == 5
    assert sorted(Survey.objects.values_list("member_id", flat=True)) == asked
    assert sorted(nps_messages().values_list("member_id", flat=True)) == asked
