"""The outbox in admin: filters and exact search, "send again" of failed messages only,
delivery counts per day, and list pages whose cost does not grow with the rows."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging.admin.outbox import delivery_chart
from messaging.models import Message
from tests import factories

CHANGELIST = "admin:messaging_message_changelist"


def _listed(client, **params) -> list[int]:
    response = client.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return [m.pk for m in response.context["cl"].result_list]


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _queued_on(message: Message, day: dt.date, hour: int = 12) -> None:
    at = timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))
    Message.objects.filter(pk=message.pk).update(created_at=at)


# --- list ---------------------------------------------------------------------------------


def test_outbox_filters_by_status_and_channel(marketer_client, failed_message, sent_message):
    # given an e-mail besides the two SMS
    email = factories.MessageFactory(channel="email", status="failed")

    # then
    assert _listed(marketer_client, status__exact="failed") == [email.pk, failed_message.pk]
    assert _listed(marketer_client, status__exact="failed", channel__exact="sms") == [
        failed_message.pk
    ]
    assert _listed(marketer_client, channel__exact="email") == [email.pk]


def test_outbox_filters_by_queued_days(marketer_client, failed_message, sent_message):
    # given one message queued three days ago (Moscow time), one today
    today = timezone.localdate()
    _queued_on(failed_message, today - dt.timedelta(days=3), hour=23)

    # when only the day three days ago is chosen, then only that day's message is listed
    day = (today - dt.timedelta(days=3)).isoformat()
    assert _listed(marketer_client, created_at_from=day, created_at_to=day) == [failed_message.pk]
    assert _listed(marketer_client, created_at_from=today.isoformat()) == [sent_message.pk]


@pytest.mark.parametrize("lookup", ["card", "phone", "email"])
def test_outbox_search_finds_the_members_messages_exactly(
    marketer_client, member, failed_message, lookup
):
    # given another member's message
    factories.MessageFactory()
    term = {"card": member.card_number, "phone": str(member.phone), "email": member.email}[lookup]

    # then
    assert _listed(marketer_client, q=term) == [failed_message.pk]
    assert _listed(marketer_client, q=term[:-1]) == []


def test_message_page_shows_the_delivery_record(marketer_client, member):
    # given a message sent and answered by the provider
    message = factories.MessageFactory(
        member=member,
        channel="email",
        status="sent",
        recipient=member.email,
        subject="Ваш чек R-1",
        body="Спасибо за покупку!",
        provider_id="prov-42",
        provider_response='{"accepted": true}',
        resent_by="user:marketer",
        context={"receipt_number": "R-1"},
    )

    # when
    response = marketer_client.get(reverse("admin:messaging_message_change", args=[message.pk]))

    # then
    content = response.content.decode()
    for text in (
        member.email,
        "Ваш чек R-1",
        "Спасибо за покупку!",
        "prov-42",
        "{&quot;accepted&quot;: true}",
        "user:marketer",
        "&quot;receipt_number&quot;: &quot;R-1&quot;",
    ):
        assert text in content, text


# --- send again ---------------------------------------------------------------------------


def test_bulk_send_again_queues_the_failed_and_skips_the_others(
    marketer_client, failed_message, sent_message
):
    # given
    suppressed = factories.MessageFactory(status="suppressed", suppressed_reason="no_consent")
    sent_before = Message.objects.values().get(pk=sent_message.pk)

    # when
    response = marketer_client.post(
        reverse(CHANGELIST),
        {
            "action": "resend_selected",
            "_selected_action": [failed_message.pk, sent_message.pk, suppressed.pk],
        },
        follow=True,
    )

    # then
    assert _messages(response) == [
        "1 message queued to be sent again. 2 skipped: they had not failed."
    ]
    failed_message.refresh_from_db()
    assert failed_message.status == "pending"
    assert failed_message.attempts == 0
    assert failed_message.resent_by == "user:marketer"
    assert Message.objects.values().get(pk=sent_message.pk) == sent_before
    suppressed.refresh_from_db()
    assert suppressed.status == "suppressed"
    assert suppressed.resent_by == ""


def test_send_again_from_the_message_page(marketer_client, failed_message):
    # given the button on a failed message's page
    page_url = reverse("admin:messaging_message_change", args=[failed_message.pk])
    resend_url = reverse("admin:messaging_message_resend_one", args=[failed_message.pk])
    assert resend_url.encode() in marketer_client.get(page_url).content

    # when the dialog is confirmed
    response = marketer_client.post(
        resend_url, {"_form_submitted": "on"}, headers={"HX-Request": "true"}
    )

    # then
    assert response["HX-Redirect"] == page_url
    failed_message.refresh_from_db()
    assert (failed_message.status, failed_message.resent_by) == ("pending", "user:marketer")
    assert _messages(response) == ["1 message queued to be sent again."]


def test_a_message_that_has_not_failed_has_no_send_again(marketer_client, sent_message):
    # given
    before = Message.objects.values().get(pk=sent_message.pk)
    page_url = reverse("admin:messaging_message_change", args=[sent_message.pk])
    resend_url = reverse("admin:messaging_message_resend_one", args=[sent_message.pk])

    # when
    page = marketer_client.get(page_url)
    post = marketer_client.post(resend_url, {"_form_submitted": "on"})

    # then
    assert resend_url.encode() not in page.content
    assert post.status_code == 403
    assert Message.objects.values().get(pk=sent_message.pk) == before


# --- delivery by day ----------------------------------------------------------------------


@pytest.fixture
def delivery_history():
    """Today: 2 SMS sent, 1 failed, 1 pending; 1 e-mail suppressed, 1 sending.
    Two days ago: 3 e-mails sent. Forty days ago: 1 SMS sent."""
    today = timezone.localdate()
    plan = [
        (0, "sms", "sent", 2),
        (0, "sms", "failed", 1),
        (0, "sms", "pending", 1),
        (0, "email", "suppressed", 1),
        (0, "email", "sending", 1),
        (2, "email", "sent", 3),
        (40, "sms", "sent", 1),
    ]
    for days_ago, channel, status, count in plan:
        extra = {}
        if status == "suppressed":
            extra["suppressed_reason"] = "no_consent"
        if status == "sending":
            extra.update(claim=1, claimed_at=timezone.now())
        for message in factories.MessageFactory.create_batch(
            count, channel=channel, status=status, **extra
        ):
            _queued_on(message, today - dt.timedelta(days=days_ago), hour=0)
    return today


def _table(response) -> list[tuple]:
    return [
        (row["day"], row["channel"], row["sent"], row["failed"], row["suppressed"], row["waiting"])
        for row in response.context["rows"]
    ]


def test_delivery_by_day_counts_each_status_per_day_and_channel(marketer_client, delivery_history):
    # given
    today = delivery_history
    url = reverse("admin:messaging_message_delivery_by_day")

    # when the default period (30 days) and then 90 days are shown
    month = marketer_client.get(url)
    quarter = marketer_client.get(url, {"days": "90"})

    # then
    two_days_ago = today - dt.timedelta(days=2)
    assert month.context["days"] == 30
    assert _table(month) == [
        (today, "email", 0, 0, 1, 1),
        (today, "sms", 2, 1, 0, 1),
        (two_days_ago, "email", 3, 0, 0, 0),
    ]
    assert month.context["totals"] == {"sent": 5, "failed": 1, "suppressed": 1, "waiting": 2}
    assert _table(quarter)[-1] == (today - dt.timedelta(days=40), "sms", 1, 0, 0, 0)
    assert b'data-status="sent">3<' in month.content


def test_delivery_chart_has_a_stacked_bar_for_every_day(delivery_history, marketer_client):
    # given
    response = marketer_client.get(
        reverse("admin:messaging_message_delivery_by_day"), {"days": "7"}
    )
    start = timezone.make_aware(
        dt.datetime.combine(delivery_history - dt.timedelta(days=6), dt.time.min)
    )

    # when
    chart = delivery_chart(response.context["rows"], start=start, days=7)

    # then the last bar is today, two before it the e-mails of two days ago
    assert len(chart["labels"]) == 7
    by_label = {d["label"]: d["data"] for d in chart["datasets"]}
    assert by_label == {
        "sent": [0, 0, 0, 0, 3, 0, 2],
        "failed": [0, 0, 0, 0, 0, 0, 1],
        "suppressed": [0, 0, 0, 0, 0, 0, 1],
        "waiting": [0, 0, 0, 0, 0, 0, 2],
    }
    assert b'data-type="bar"' in response.content


def test_an_unknown_period_falls_back_to_30_days(marketer_client):
    response = marketer_client.get(
        reverse("admin:messaging_message_delivery_by_day"), {"days": "1000"}
    )

    assert response.status_code == 200
    assert response.context["days"] == 30


# --- query counts -------------------------------------------------------------------------


def test_outbox_list_costs_the_same_queries_for_10_and_50_messages(
    marketer_client, django_assert_num_queries
):
    # given 10 messages of different members and campaigns
    def make(n):
        for _ in range(n):
            factories.MessageFactory(campaign=factories.CampaignFactory(), status="failed")

    url = reverse(CHANGELIST)
    make(10)
    marketer_client.get(url)  # warms per-process caches (content types, templates)
    with CaptureQueriesContext(connection) as ten:
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 10

    # when there are 50
    make(40)

    # then the page costs exactly as many queries
    with django_assert_num_queries(len(ten.captured_queries)):
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 50
