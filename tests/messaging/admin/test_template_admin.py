"""Message templates in admin: a broken template is refused with a form error, the
preview shows a real member's values, a test send reaches the staff address."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from messaging.backends import PermanentDeliveryError
from messaging.models import MessageTemplate
from tests import factories

ADD = "admin:messaging_messagetemplate_add"


def _form(**values) -> dict:
    data = {
        "kind": "points_burn",
        "channel": "email",
        "campaign": "",
        "is_active": "on",
        "subject_ru": "Добро пожаловать, {{ first_name }}!",
        "body_ru": "{{ first_name }}, ваша карта {{ card_number }}.",
        "subject_en": "",
        "body_en": "",
    }
    return data | values


def _preview_url(template) -> str:
    return reverse("admin:messaging_messagetemplate_preview", args=[template.pk])


@pytest.fixture
def offer_email():
    return factories.MessageTemplateFactory(
        kind="offer",
        channel="email",
        subject_ru="{{ first_name }}, подарок для вас",
        body_ru="{{ first_name }}, на вашей карте {{ card_number }} {{ balance }} баллов. "
        "Уровень: {{ tier }}.",
        subject_en="{{ first_name }}, a gift for you",
        body_en="{{ first_name }}, card {{ card_number }} holds {{ balance }} points.",
    )


@pytest.fixture
def ivan(member):
    member.first_name = "Иван"
    member.save(update_fields=["first_name"])
    return member


# --- the form -----------------------------------------------------------------------------


def test_marketer_adds_a_template(marketer_client):
    # when
    response = marketer_client.post(reverse(ADD), _form())

    # then
    assert response.status_code == 302
    template = MessageTemplate.objects.get(kind="points_burn", channel="email")
    assert template.subject_ru == "Добро пожаловать, {{ first_name }}!"
    assert template.history.count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"body_ru": "Привет, {{ first name }}"}, "body_ru"),
        ({"body_ru": "{% if code %}Код {{ code }}"}, "body_ru"),
        ({"subject_ru": "{{ first_name|nosuchfilter }}"}, "subject_ru"),
        ({"body_en": "{% nosuchtag %}"}, "body_en"),
        ({"subject_ru": ""}, "subject_ru"),
        ({"channel": "push", "subject_ru": ""}, "subject_ru"),
    ],
    ids=[
        "unparsable variable",
        "unclosed if",
        "unknown filter",
        "unknown tag",
        "e-mail without subject",
        "push without title",
    ],
)
def test_a_broken_template_is_refused_on_its_field_and_nothing_saved(
    marketer_client, values, field
):
    # when
    response = marketer_client.post(reverse(ADD), _form(**values))

    # then
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == [field]
    assert not MessageTemplate.objects.filter(kind="points_burn").exists()


def test_the_syntax_error_is_shown_to_the_marketer(marketer_client):
    response = marketer_client.post(reverse(ADD), _form(body_ru="Привет, {{ first name }}"))

    errors = response.context["adminform"].form.errors["body_ru"]
    assert errors[0].startswith("The template has an error:")


def test_an_sms_needs_no_subject(marketer_client):
    response = marketer_client.post(reverse(ADD), _form(channel="sms", subject_ru=""))

    assert response.status_code == 302
    assert MessageTemplate.objects.filter(kind="points_burn", channel="sms").exists()


def test_an_edit_that_breaks_the_template_changes_nothing(marketer_client, offer_email):
    # given
    before = MessageTemplate.objects.values().get(pk=offer_email.pk)
    url = reverse("admin:messaging_messagetemplate_change", args=[offer_email.pk])
    data = _form(kind="offer", body_ru="{{ first_name|nosuchfilter }}")

    # when
    response = marketer_client.post(url, data)

    # then
    assert response.status_code == 200
    assert "body_ru" in response.context["adminform"].form.errors
    assert MessageTemplate.objects.values().get(pk=offer_email.pk) == before
    assert offer_email.history.count() == 1


def test_a_second_general_template_of_a_kind_and_channel_is_refused(marketer_client):
    # given the default NPS e-mail template
    data = _form(kind="nps", channel="email")

    # when
    response = marketer_client.post(reverse(ADD), data)

    # then
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert MessageTemplate.objects.filter(kind="nps", channel="email").count() == 1


def test_the_change_page_lists_the_variables_and_links_the_preview(marketer_client, offer_email):
    response = marketer_client.get(
        reverse("admin:messaging_messagetemplate_change", args=[offer_email.pk])
    )

    assert response.status_code == 200
    assert b"{{ unsubscribe_url }}" in response.content
    assert b"{{ first_name }}" in response.content
    assert _preview_url(offer_email).encode() in response.content


# --- preview ------------------------------------------------------------------------------


@pytest.mark.parametrize("lookup", ["card", "phone", "email"])
def test_preview_shows_the_members_own_values(marketer_client, offer_email, ivan, lookup):
    # given the member found by card number, phone or e-mail
    query = {
        "card": ivan.card_number,
        "phone": str(ivan.phone),
        "email": ivan.email.upper(),
    }[lookup]

    # when
    response = marketer_client.get(_preview_url(offer_email), {"member": query, "language": "ru"})

    # then
    rendered = response.context["rendered"]
    assert rendered.subject == "Иван, подарок для вас"
    body, footer = rendered.body.split("\n\n")
    assert body == f"Иван, на вашей карте {ivan.card_number} 0 баллов. Уровень: {ivan.tier.name}."
    # the footer is in the member's language (Russian), whatever the admin's
    with translation.override(ivan.language):
        footer_start = gettext("Unsubscribe from these e-mails: %(url)s") % {"url": "http"}
    assert footer.startswith(footer_start)
    assert "/m/unsubscribe/" in rendered.html
    assert f"на вашей карте {ivan.card_number}".encode() in response.content


def test_preview_in_english_and_in_the_members_language(marketer_client, offer_email, ivan):
    # given a member who chose English
    ivan.language = "en"
    ivan.save(update_fields=["language"])

    # when the language is left to the member, then chosen as Russian
    own = marketer_client.get(_preview_url(offer_email), {"member": ivan.card_number})
    russian = marketer_client.get(
        _preview_url(offer_email), {"member": ivan.card_number, "language": "ru"}
    )

    # then
    assert own.context["rendered"].subject == "Иван, a gift for you"
    assert russian.context["rendered"].subject == "Иван, подарок для вас"


@pytest.mark.parametrize(
    "query", ["2700000000000", "+79990000000", "nobody@example.ru", "not a member"]
)
def test_preview_of_an_unknown_member_is_a_form_error(marketer_client, offer_email, query):
    response = marketer_client.get(_preview_url(offer_email), {"member": query})

    assert response.status_code == 200
    assert response.context["rendered"] is None
    assert "member" in response.context["preview_form"].errors


def test_preview_of_an_sms_has_no_html(marketer_client, ivan):
    template = MessageTemplate.objects.get(kind="nps", channel="sms", campaign=None)

    response = marketer_client.get(_preview_url(template), {"member": ivan.card_number})

    rendered = response.context["rendered"]
    assert (
        rendered.body
        == "Иван, оцените наш магазин от 0 до 10: https://example.com/s/… Отказ от SMS: СТОП"
    )
    assert rendered.html == ""
    assert b"<iframe" not in response.content


# --- test send ----------------------------------------------------------------------------


def test_test_send_of_an_email_reaches_the_staff_address(
    marketer_client, offer_email, ivan, mailoutbox, memory_outbox, caplog
):
    # when
    caplog.set_level("INFO", logger="messaging.services.templates")
    response = marketer_client.post(
        _preview_url(offer_email),
        {"member": ivan.card_number, "language": "en", "to": "marketer@shop.example"},
    )

    # then
    assert response.status_code == 302
    assert response["Location"].startswith(_preview_url(offer_email))
    [email] = mailoutbox
    assert email.to == ["marketer@shop.example"]
    assert email.subject == "Иван, a gift for you"
    assert email.body.startswith(f"Иван, card {ivan.card_number} holds 0 points.")
    # the test's unsubscribe link cannot unsubscribe the member
    assert "/m/unsubscribe/test/" in email.extra_headers["List-Unsubscribe"]
    assert "/m/unsubscribe/test/" in email.body
    assert email.extra_headers["Message-ID"].startswith("<loyalty-test-")
    assert memory_outbox == []
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["The test message was sent to marketer@shop.example."]
    [logged] = [r for r in caplog.records if r.name == "messaging.services.templates"]
    assert (logged.actor, logged.template, logged.member) == (
        "user:marketer",
        offer_email.pk,
        ivan.pk,
    )


def test_test_send_of_an_sms_goes_to_the_typed_phone(
    marketer_client, ivan, mailoutbox, memory_outbox
):
    # given
    template = MessageTemplate.objects.get(kind="nps", channel="sms", campaign=None)

    # when the phone is typed as people do
    response = marketer_client.post(
        _preview_url(template),
        {"member": ivan.card_number, "language": "ru", "to": "8 (999) 123-45-67"},
    )

    # then
    assert response.status_code == 302
    [sms] = memory_outbox
    assert sms.to == "+79991234567"
    assert sms.channel == "sms"
    assert (
        sms.body
        == "Иван, оцените наш магазин от 0 до 10: https://example.com/s/… Отказ от SMS: СТОП"
    )
    assert sms.idempotency_key.startswith("loyalty-test-")
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("channel", "to"), [("email", "not-an-address"), ("sms", "12345"), ("email", "")]
)
def test_test_send_to_a_bad_address_is_a_form_error_and_sends_nothing(
    marketer_client, ivan, mailoutbox, memory_outbox, channel, to
):
    # given
    template = MessageTemplate.objects.get(kind="nps", channel=channel, campaign=None)

    # when
    response = marketer_client.post(
        _preview_url(template), {"member": ivan.card_number, "language": "ru", "to": to}
    )

    # then
    assert response.status_code == 200
    assert "to" in response.context["send_form"].errors
    assert response.context["rendered"] is not None  # the preview stays on the page
    assert mailoutbox == []
    assert memory_outbox == []


def test_test_send_refused_by_the_provider_is_an_error_message(
    marketer_client, ivan, memory_outbox, monkeypatch
):
    # given an SMS provider that refuses the number
    def refuse(self, message):
        raise PermanentDeliveryError("number blocked")

    monkeypatch.setattr("messaging.backends.memory.MemoryBackend.send", refuse)
    template = MessageTemplate.objects.get(kind="nps", channel="sms", campaign=None)

    # when
    response = marketer_client.post(
        _preview_url(template),
        {"member": ivan.card_number, "language": "ru", "to": "+79991234567"},
    )

    # then
    assert response.status_code == 200
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["The test message was not sent: number blocked"]
    assert memory_outbox == []


def test_test_send_writes_nothing_to_the_outbox(marketer_client, offer_email, ivan, mailoutbox):
    marketer_client.post(
        _preview_url(offer_email),
        {"member": ivan.card_number, "language": "ru", "to": "marketer@shop.example"},
    )

    assert len(mailoutbox) == 1
    assert not ivan.messages.exists()
