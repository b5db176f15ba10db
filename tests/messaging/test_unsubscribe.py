"""One-click unsubscribe (RFC 8058): the signed link is the key, a POST unsubscribes
without a session or CSRF token, a GET never does, an altered link changes nothing."""

import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from members.models import ConsentRecord
from messaging.models import Kind, Message
from messaging.services import message_queue, messages_deliver
from messaging.tokens import survey_token, unsubscribe_token
from tests import factories
from tests.messaging.conftest import consent
from tests.messaging.conftest import consent_state as state

ONE_CLICK = "List-Unsubscribe=One-Click"  # the body mail clients send (RFC 8058)


def tampered(token: str, part: str) -> str:
    index = 0 if part == "payload" else len(token) - 1
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


@pytest.fixture
def mail_client():
    """What a mail client is to the site: no cookies, no session, no CSRF token."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def subscribed(member):
    """A member who agreed to offers by e-mail and by SMS."""
    consent(member, "email")
    consent(member, "sms")
    return member


def url(token: str) -> str:
    return reverse("messaging:unsubscribe", args=[token])


def one_click(client: Client, path: str):
    return client.post(path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded")


def in_russian(text: str) -> str:
    with translation.override("ru"):
        return gettext(text)


def test_get_asks_to_confirm_and_changes_nothing(mail_client, subscribed):
    # given
    before = state(subscribed)

    # when a mail scanner or the member opens the link
    response = mail_client.get(url(unsubscribe_token(member_id=subscribed.pk, channel="email")))

    # then it shows a confirmation page in Russian, with a button that posts back
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ru">' in html
    assert '<form method="post">' in html
    assert 'name="List-Unsubscribe" value="One-Click"' in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-store" in response["Cache-Control"]
    # and the consent is untouched
    assert state(subscribed) == before


def test_one_click_post_unsubscribes_without_session_or_csrf(mail_client, subscribed):
    # given a client with no cookie at all
    assert not mail_client.cookies
    before_records = ConsentRecord.objects.count()

    # when it posts the RFC 8058 body to the link
    response = one_click(
        mail_client, url(unsubscribe_token(member_id=subscribed.pk, channel="email"))
    )

    # then e-mail consent is withdrawn, SMS consent kept
    assert response.status_code == 200
    assert '<html lang="ru">' in response.content.decode()
    subscribed.refresh_from_db()
    assert subscribed.consent_email is False
    assert subscribed.consent_sms is True
    # and the withdrawal is in the consent history, by the member themselves
    assert ConsentRecord.objects.count() == before_records + 1
    record = ConsentRecord.objects.latest("id")
    assert record.member == subscribed
    assert record.channel == "email"
    assert record.is_granted is False
    assert record.source == in_russian("unsubscribe link")
    assert record.actor == f"member:{subscribed.card_number}"


def test_the_history_is_kept_in_russian_whatever_language_the_page_is_in(subscribed):
    # given a member whose browser chose English on the site
    client = Client(enforce_csrf_checks=True)
    client.cookies["django_language"] = "en"

    # when
    response = one_click(client, url(unsubscribe_token(member_id=subscribed.pk, channel="email")))

    # then the page is English, the legal record is in the program's language
    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()
    assert ConsentRecord.objects.latest("id").source == in_russian("unsubscribe link")


def test_the_page_speaks_the_members_language_of_messages(mail_client, subscribed):
    # given a member who gets their messages in English
    subscribed.language = "en"
    subscribed.save(update_fields=["language"])

    # when
    response = mail_client.get(url(unsubscribe_token(member_id=subscribed.pk, channel="email")))

    # then
    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()
    assert response["Content-Language"] == "en"


def test_a_second_post_records_nothing_new(mail_client, subscribed):
    # given the member has unsubscribed once
    path = url(unsubscribe_token(member_id=subscribed.pk, channel="email"))
    one_click(mail_client, path)
    before = state(subscribed)

    # when the mail client (or the member) posts again
    response = one_click(mail_client, path)

    # then the page says so and the history has no second withdrawal
    assert response.status_code == 200
    assert state(subscribed) == before


def test_get_after_unsubscribing_says_so_without_a_button(mail_client, subscribed):
    # given
    path = url(unsubscribe_token(member_id=subscribed.pk, channel="email"))
    one_click(mail_client, path)
    before = state(subscribed)

    # when
    response = mail_client.get(path)

    # then
    assert response.status_code == 200
    assert "<form" not in response.content.decode()
    assert state(subscribed) == before


def test_the_confirmation_pages_button_unsubscribes(mail_client, subscribed):
    # given the form the confirmation page shows, as a browser submits it
    path = url(unsubscribe_token(member_id=subscribed.pk, channel="email"))

    # when
    response = mail_client.post(path, {"List-Unsubscribe": "One-Click"})

    # then
    assert response.status_code == 200
    subscribed.refresh_from_db()
    assert subscribed.consent_email is False


def test_an_sms_link_withdraws_sms_consent_only(mail_client, subscribed):
    # given
    before_records = ConsentRecord.objects.count()

    # when
    response = one_click(
        mail_client, url(unsubscribe_token(member_id=subscribed.pk, channel="sms"))
    )

    # then
    assert response.status_code == 200
    subscribed.refresh_from_db()
    assert (subscribed.consent_email, subscribed.consent_sms) == (True, False)
    assert ConsentRecord.objects.count() == before_records + 1
    assert ConsentRecord.objects.latest("id").channel == "sms"


@pytest.mark.parametrize("part", ["payload", "signature"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_altered_token_is_refused_and_changes_nothing(mail_client, subscribed, part, method):
    # given
    token = tampered(unsubscribe_token(member_id=subscribed.pk, channel="email"), part)
    before = state(subscribed)

    # when
    if method == "post":
        response = one_click(mail_client, url(token))
    else:
        response = mail_client.get(url(token))

    # then
    assert response.status_code == 400
    assert "<form" not in response.content.decode()
    assert state(subscribed) == before


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda member: survey_token(survey_id=member.pk), id="survey token"),
        pytest.param(
            lambda member: unsubscribe_token(member_id=member.pk, channel="fax"),
            id="unknown channel",
        ),
        pytest.param(
            lambda member: unsubscribe_token(member_id=member.pk + 10_000, channel="email"),
            id="no such member",
        ),
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_token_that_is_not_an_unsubscribe_link_is_refused(
    mail_client, subscribed, make_token, method
):
    # given
    token = make_token(subscribed)
    before = state(subscribed)

    # when
    if method == "post":
        response = one_click(mail_client, url(token))
    else:
        response = mail_client.get(url(token))

    # then
    assert response.status_code == 400
    assert state(subscribed) == before


def test_the_link_of_a_deleted_member_is_refused(mail_client, subscribed):
    # given a member who has since been deleted, and another who has not
    other = factories.MemberFactory()
    consent(other, "email")
    token = unsubscribe_token(member_id=subscribed.pk, channel="email")
    subscribed.delete()
    before = state(other)

    # when
    response = one_click(mail_client, url(token))

    # then
    assert response.status_code == 400
    assert state(other) == before


def test_other_methods_are_not_allowed(mail_client, subscribed):
    # given
    path = url(unsubscribe_token(member_id=subscribed.pk, channel="email"))
    before = state(subscribed)

    # when
    response = mail_client.put(path, data=ONE_CLICK)

    # then
    assert response.status_code == 405
    assert state(subscribed) == before


# --- Through delivery ------------------------------------------------------------------


def test_a_delivered_marketing_email_carries_a_working_one_click_link(mail_client, subscribed):
    # given a marketing e-mail queued and delivered
    factories.MessageTemplateFactory(kind=Kind.PROMO_CODE, channel="email")
    message_queue(
        member=subscribed,
        kind=Kind.PROMO_CODE,
        channel="email",
        event_key="test:spring",
        context={"code": "WINTER-10AB-CD3E", "deadline": "2025-04-01"},
    )
    mail.outbox.clear()
    messages_deliver()

    # then it carries both RFC 8058 headers, and the link in its text and HTML
    assert len(mail.outbox) == 1
    email = mail.outbox[0].message()
    header = email["List-Unsubscribe"]
    link = re.fullmatch(r"<(.+)>", header).group(1)
    assert link.startswith(settings.LOYALTY_PUBLIC_URL.rstrip("/") + "/m/unsubscribe/")
    assert email["List-Unsubscribe-Post"] == ONE_CLICK
    assert link in mail.outbox[0].body
    html, mimetype = mail.outbox[0].alternatives[0]
    assert mimetype == "text/html"
    assert f'href="{link}"' in html

    # when the mail client posts to the header's link
    before_records = ConsentRecord.objects.count()
    response = one_click(mail_client, urlsplit(link).path)

    # then the member is unsubscribed from e-mail
    assert response.status_code == 200
    subscribed.refresh_from_db()
    assert subscribed.consent_email is False
    assert ConsentRecord.objects.count() == before_records + 1

    # and the next marketing e-mail is not sent
    message_queue(
        member=subscribed,
        kind=Kind.PROMO_CODE,
        channel="email",
        event_key="test:summer",
        context={"code": "SUMMER-10AB-CD3E", "deadline": "2025-07-01"},
    )
    mail.outbox.clear()
    messages_deliver()
    assert mail.outbox == []
    assert Message.objects.get(event_key="test:summer").status == Message.Status.SUPPRESSED


def test_a_receipt_email_carries_no_unsubscribe(subscribed):
    # given a transactional e-mail
    message_queue(
        member=subscribed,
        kind=Kind.RECEIPT,
        channel="email",
        event_key="purchase:1",
        context={"receipt_number": "A-1001", "store": "Москва, Тверская"},
    )
    mail.outbox.clear()

    # when
    messages_deliver()

    # then
    assert len(mail.outbox) == 1
    email = mail.outbox[0].message()
    assert email["List-Unsubscribe"] is None
    assert email["List-Unsubscribe-Post"] is None
    assert "/m/unsubscribe/" not in mail.outbox[0].body
    assert all("/m/unsubscribe/" not in html for html, _type in mail.outbox[0].alternatives)
