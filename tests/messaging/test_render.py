"""Rendering: a staff-edited template and a member into the text that is sent."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.translation import gettext

from messaging.defaults import DEFAULT_TEMPLATES
from messaging.errors import TemplateInvalid
from messaging.models import Kind
from messaging.render import Rendered, member_context, render, template_check
from messaging.services.outbox import _json_ready
from tests import factories

UNSUBSCRIBE = "https://loyalty.example/m/unsubscribe/abc:def/"


def footer(url: str) -> str:
    with translation.override("ru"):
        return gettext("Unsubscribe from these e-mails: %(url)s") % {"url": url}


def template(body: str, *, subject: str = "", channel: str = "email", **kwargs):
    return factories.MessageTemplateFactory(
        kind=Kind.OFFER, channel=channel, subject_ru=subject, body_ru=body, **kwargs
    )


def test_member_values(silver_member_with_500):
    # given
    member = silver_member_with_500
    text = (
        "{{ first_name }}|{{ last_name }}|{{ full_name }}|{{ card_number }}|{{ tier }}|"
        "{{ tier_discount }}|{{ balance }}|{{ currency }}"
    )

    # when
    rendered = render(
        template(text, channel="sms"),
        language="ru",
        context=member_context(member),
        channel="sms",
    )

    # then: Russian number formats; an SMS has no HTML
    assert rendered == Rendered(
        subject="",
        body=(
            f"{member.first_name}|{member.last_name}|{member.first_name} {member.last_name}|"
            f"{member.card_number}|Серебряный|5,00|500|₽"
        ),
        html="",
    )


def test_dates_and_amounts_queued_as_json_are_dates_and_decimals_again(member):
    # given: the context as the outbox keeps it (JSON strings)
    context = _json_ready(
        {
            "deadline": dt.date(2025, 3, 24),
            "amount": Decimal("300.5"),
            "purchase_at": dt.datetime(2025, 3, 24, 10, 0, tzinfo=dt.UTC),
            "valid_until": dt.date(2025, 4, 1),
            "discount_amount": Decimal("12.345"),
            "code": "2025-03-24",
            "offer_date": "not a date",
            "total_amount": "n/a",
        }
    )
    assert context["deadline"] == "2025-03-24"
    assert context["amount"] == "300.5"
    text = (
        "{{ deadline|date:'j E Y' }}|{{ amount|floatformat:2 }}|{{ purchase_at|date:'j E H:i' }}|"
        "{{ valid_until|date:'d.m.Y' }}|{{ discount_amount|floatformat:2 }}|{{ code }}|"
        "{{ offer_date }}|{{ total_amount }}"
    )

    # when
    rendered = render(template(text, channel="sms"), language="ru", context=context, channel="sms")

    # then: in the program's time zone (Moscow, UTC+3); other strings left as they are
    assert rendered.body == (
        "24 марта 2025|300,50|24 марта 13:00|01.04.2025|12,35|2025-03-24|not a date|n/a"
    )


def test_english_text_is_rendered_with_english_formats(member):
    # given
    context = _json_ready({"deadline": dt.date(2025, 3, 24), "amount": Decimal("1234.5")})

    # when
    rendered = render(
        template("-", body_en="{{ deadline|date }} {{ amount|floatformat:2 }}", channel="sms"),
        language="en",
        context=context,
        channel="sms",
    )

    # then
    assert rendered.body == "March 24, 2025 1234.50"


def test_unknown_language_gets_the_russian_text(member):
    # when
    rendered = render(
        template("Привет", body_en="Hello", channel="sms"),
        language="de",
        context={},
        channel="sms",
    )

    # then
    assert rendered.body == "Привет"


def test_marketing_e_mail_gets_the_unsubscribe_footer_when_the_template_lacks_the_link():
    # when
    rendered = render(
        template("Скидка {{ offer }}", subject="Для вас"),
        language="ru",
        context={"offer": "30%"},
        channel="email",
        unsubscribe_url=UNSUBSCRIBE,
    )

    # then
    assert rendered.subject == "Для вас"
    assert rendered.body == f"Скидка 30%\n\n{footer(UNSUBSCRIBE)}"
    with translation.override("ru"):
        unsubscribe = gettext("Unsubscribe")
    assert rendered.html == (
        "<p>Скидка 30%</p>"
        f'<p style="font-size:12px;color:#666"><a href="{UNSUBSCRIBE}">{unsubscribe}</a></p>'
    )


def test_unsubscribe_footer_is_not_added_twice_when_the_template_has_the_link():
    # when
    rendered = render(
        template("Скидка {{ offer }}\n\nОтписаться: {{ unsubscribe_url }}"),
        language="ru",
        context={"offer": "30%"},
        channel="email",
        unsubscribe_url=UNSUBSCRIBE,
    )

    # then
    assert rendered.body == f"Скидка 30%\n\nОтписаться: {UNSUBSCRIBE}"
    assert rendered.body.count(UNSUBSCRIBE) == 1
    assert footer(UNSUBSCRIBE) not in rendered.body
    assert rendered.html.count(f'<a href="{UNSUBSCRIBE}">') == 1


def test_transactional_e_mail_has_no_unsubscribe_footer():
    # when
    rendered = render(
        template("Ваш чек {{ receipt_number }}"),
        language="ru",
        context={"receipt_number": "R-1"},
        channel="email",
    )

    # then
    assert rendered.body == "Ваш чек R-1"
    assert rendered.html == "<p>Ваш чек R-1</p>"


def test_html_part_escapes_what_members_typed(tiers):
    # given: a member who typed markup into their name
    member = factories.MemberFactory(
        tier=tiers["Base"], first_name="<script>alert(1)</script>", last_name="O'Brien & Co"
    )

    # when
    rendered = render(
        template("Здравствуйте, {{ full_name }}!\nВаша карта: {{ card_number }}"),
        language="ru",
        context=member_context(member),
        channel="email",
        unsubscribe_url=UNSUBSCRIBE,
    )

    # then: the text part is plain text (not escaped); the HTML part is escaped
    assert rendered.body.startswith(
        f"Здравствуйте, <script>alert(1)</script> O'Brien & Co!\nВаша карта: {member.card_number}"
    )
    assert "<script>" not in rendered.html
    assert rendered.html.startswith(
        "<p>Здравствуйте, &lt;script&gt;alert(1)&lt;/script&gt; O&#x27;Brien &amp; Co!<br>"
        f"Ваша карта: {member.card_number}</p>"
    )


def test_sms_text_is_not_html_escaped():
    # given: an offer and a name with characters HTML would escape
    context = {"first_name": "O'Brien", "offer": 'Скидка 10% в "H&M" <онлайн>'}

    # when
    rendered = render(
        template("{{ first_name }}: {{ offer }}", channel="sms"),
        language="ru",
        context=context,
        channel="sms",
    )

    # then: an SMS is plain text, sent as typed
    assert rendered.body == 'O\'Brien: Скидка 10% в "H&M" <онлайн>'


def test_subject_is_one_line():
    # when
    rendered = render(
        template("-", subject="Для  вас,\n  {{ first_name }} "),
        language="ru",
        context={"first_name": "Анна"},
        channel="email",
    )

    # then
    assert rendered.subject == "Для вас, Анна"


# --- Checking templates --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [text for row in DEFAULT_TEMPLATES for text in row[2:]]
    + [factories.MessageTemplateFactory.body_ru, factories.MessageTemplateFactory.body_en],
)
def test_template_check_accepts_the_default_templates(text):
    assert template_check(text) is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{% if %}", "Unexpected end of expression in if tag."),
        ("{{ offer|nosuchfilter }}", "Invalid filter: 'nosuchfilter'"),
        (
            "{% for x in %}{% endfor %}",
            "'for' statements should have at least four words: for x in",
        ),
        (
            "{% if offer %}без конца",
            "Unclosed tag on line 1: 'if'. Looking for one of: elif, else, endif.",
        ),
        (
            "{% nosuchtag %}",
            "Invalid block tag on line 1: 'nosuchtag'. "
            "Did you forget to register or load this tag?",
        ),
        ("{{ }}", "Empty variable tag on line 1"),
    ],
)
def test_template_check_refuses_bad_syntax(text, error):
    # when
    with pytest.raises(TemplateInvalid) as raised:
        template_check(text)

    # then
    assert raised.value.code == "template_invalid"
    # in the language of whoever saves the template
    expected = gettext("The template has an error: %(error)s") % {"error": error}
    assert str(raised.value) == expected


@pytest.mark.parametrize("library", ["static", "i18n", "humanize", "admin_urls", "cache"])
def test_loading_a_tag_library_is_refused_at_compile_time(library):
    # when
    with pytest.raises(TemplateInvalid) as raised:
        template_check(f"{{% load {library} %}}{{{{ first_name }}}}")

    # then
    assert f"'{library}' is not a registered tag library" in str(raised.value)


@pytest.mark.parametrize(
    "text",
    [
        "{% include 'admin/base.html' %}",
        "{% extends 'admin/base.html' %}",
        "{% include name %}",
        "{{ first_name }} {% debug %}",
    ],
)
def test_templates_from_files_and_the_debug_tag_are_refused_by_the_check(text):
    # when
    with pytest.raises(TemplateInvalid) as raised:
        template_check(text)

    # then (in the language of whoever saves the template)
    expected = gettext("A message cannot include or extend other templates, nor use the debug tag.")
    assert str(raised.value) == expected


@pytest.mark.parametrize(
    "text", ["{% include 'admin/base.html' %}", "{% extends 'admin/base.html' %}"]
)
def test_a_stored_template_that_names_a_file_is_refused_when_rendered(text):
    # given: saved without the check (shell, import); the engine has no loaders, so no
    # file can be read into a message
    # when
    with pytest.raises(TemplateInvalid) as raised:
        render(template(text), language="ru", context={}, channel="email")

    # then (in the caller's language, not the member's)
    expected = gettext("The template cannot be rendered: %(error)s") % {"error": "admin/base.html"}
    assert str(raised.value) == expected


def test_render_of_a_stored_template_with_bad_syntax_raises_template_invalid():
    # given: a template that was saved without the check (shell, import, an old version)
    broken = template("Скидка {% if %}")

    # when / then: TemplateInvalid, which delivery records as the message's failure
    with pytest.raises(TemplateInvalid):
        render(broken, language="ru", context={}, channel="email")
