"""Turning a template and a member into the text that is sent.

Templates are staff-edited Django template text rendered by an engine of its own:
the built-in tags and filters only, no template loaders (so no {% include %} of files)
and no autoescaping (SMS and plain-text e-mail are not HTML). The HTML part of an
e-mail is made from the rendered text, escaped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.defaultfilters import linebreaks_filter
from django.template.defaulttags import DebugNode
from django.template.loader_tags import ExtendsNode, IncludeNode
from django.utils import timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import escape, format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.context_processors import currency_symbol
from messaging.backends import Outgoing
from messaging.errors import TemplateInvalid
from messaging.models import MessageTemplate

_ENGINE = Engine(autoescape=False, libraries={}, loaders=[])
_CACHE_SIZE = 256
_compiled: dict[tuple, tuple[Template, Template]] = {}

# Context names a template may use, with what they hold (shown in admin next to the text).
VARIABLES = {
    "first_name": gettext_lazy("first name"),
    "last_name": gettext_lazy("last name"),
    "full_name": gettext_lazy("first and last name"),
    "card_number": gettext_lazy("card number"),
    "tier": gettext_lazy("tier name"),
    "tier_discount": gettext_lazy("tier discount, %"),
    "balance": gettext_lazy("points balance"),
    "currency": gettext_lazy("currency sign"),
    "offer": gettext_lazy("the offer's title"),
    "code": gettext_lazy("the promo code"),
    "amount": gettext_lazy("an amount of money or points"),
    "deadline": gettext_lazy("until when (a date)"),
    "starts": gettext_lazy("from when (a closed sale's start)"),
    "survey_url": gettext_lazy("the NPS survey link"),
    "unsubscribe_url": gettext_lazy("the unsubscribe link (marketing messages)"),
    "receipt_number": gettext_lazy("receipt number (receipts)"),
    "store": gettext_lazy("store (receipts)"),
    "total_amount": gettext_lazy("receipt total (receipts)"),
    "discount_amount": gettext_lazy("discounts (receipts)"),
    "paid_amount": gettext_lazy("paid with money (receipts)"),
    "points_spent": gettext_lazy("points spent (receipts)"),
    "points_earned": gettext_lazy("points earned (receipts)"),
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str = ""
    unsubscribe_url: str = ""

    def outgoing(self, *, idempotency_key: str, channel: str, to: str) -> Outgoing:
        """The message for a backend. A marketing e-mail carries RFC 8058 one-click
        unsubscribe headers: mail clients offer the button and POST to the link."""
        headers = {}
        if self.unsubscribe_url and channel == "email":
            headers = {
                "List-Unsubscribe": f"<{self.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return Outgoing(
            idempotency_key=idempotency_key,
            channel=channel,
            to=to,
            subject=self.subject,
            body=self.body,
            html=self.html,
            headers=headers,
        )


def member_context(member) -> dict:
    """What a template knows about the member (member.tier must be loaded)."""
    return {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "full_name": member.full_name,
        "card_number": member.card_number,
        "tier": member.tier.name,
        "tier_discount": member.tier.discount_percent,
        "balance": member.points_balance,
        "currency": currency_symbol(),
    }


def _typed(name: str, value):
    """Dates and amounts queued as JSON strings, back as dates and Decimals, so that
    {{ deadline|date }} and {{ amount|floatformat:2 }} work in templates."""
    if not isinstance(value, str):
        return value
    if name == "deadline" or name.endswith(("_date", "_until", "_at")):
        parsed = parse_datetime(value) if "T" in value else parse_date(value)
        if parsed is not None:
            return parsed
    if name == "amount" or name.endswith("_amount"):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def _compiled_for(template: MessageTemplate, language: str) -> tuple[Template, Template]:
    key = (template.pk, template.updated_at, language)
    found = _compiled.get(key)
    if found is None:
        subject, body = template_texts(template, language)
        found = (_ENGINE.from_string(subject), _ENGINE.from_string(body))
        if len(_compiled) >= _CACHE_SIZE:
            _compiled.clear()
        _compiled[key] = found
    return found


def template_texts(template: MessageTemplate, language: str) -> tuple[str, str]:
    """(subject, body) in `language`; English falls back to Russian where left empty."""
    if language == "en" and template.body_en.strip():
        return template.subject_en or template.subject_ru, template.body_en
    return template.subject_ru, template.body_ru


# Tags that compile without a loader but fail at every send ({% include %},
# {% extends %}) or would put the whole context and Python's modules in a message.
_REFUSED_NODES = (IncludeNode, ExtendsNode, DebugNode)


def template_check(text: str) -> None:
    """Raise TemplateInvalid if `text` is not a template the engine can compile, or uses
    a tag a message cannot have."""
    try:
        compiled = _ENGINE.from_string(text)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(_("The template has an error: %(error)s") % {"error": exc}) from exc
    refused = compiled.nodelist.get_nodes_by_type(_REFUSED_NODES)
    if refused:
        raise TemplateInvalid(
            _("A message cannot include or extend other templates, nor use the debug tag.")
        )


def render(
    template: MessageTemplate,
    *,
    language: str,
    context: dict,
    channel: str,
    unsubscribe_url: str = "",
) -> Rendered:
    """The subject, text and (for e-mail) HTML of a message. A marketing e-mail always
    ends with its unsubscribe link, whether or not the template placed one."""
    language = language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    if language == "en" and not template.body_en.strip():
        # The Russian text is sent (template_texts): its dates and footer are Russian too.
        language = settings.LANGUAGE_CODE
    values = {name: _typed(name, value) for name, value in context.items()}
    if unsubscribe_url:
        values["unsubscribe_url"] = unsubscribe_url
    try:
        subject_template, body_template = _compiled_for(template, language)
    except TemplateSyntaxError as exc:  # saved without template_check (shell, import, old rows)
        raise TemplateInvalid(_("The template has an error: %(error)s") % {"error": exc}) from exc
    try:
        with translation.override(language):
            # A Context autoescapes whatever the engine says: SMS and plain text are not HTML.
            subject = " ".join(subject_template.render(Context(values, autoescape=False)).split())
            body = body_template.render(Context(values, autoescape=False)).strip()
    except Exception as exc:  # a filter given a value it cannot take
        # In the caller's language (staff in admin, the program's in the outbox), not the
        # member's.
        raise TemplateInvalid(
            _("The template cannot be rendered: %(error)s") % {"error": exc}
        ) from exc
    with translation.override(language):
        if channel != "email":
            return Rendered(subject=subject, body=body, unsubscribe_url=unsubscribe_url)
        footer = ""
        if unsubscribe_url and unsubscribe_url not in body:
            footer = _("Unsubscribe from these e-mails: %(url)s") % {"url": unsubscribe_url}
            body = f"{body}\n\n{footer}"
        html = linebreaks_filter(escape(body.removesuffix(footer).rstrip()))
        if unsubscribe_url:
            html += format_html(
                '<p style="font-size:12px;color:#666"><a href="{}">{}</a></p>',
                unsubscribe_url,
                _("Unsubscribe"),
            )
    return Rendered(subject=subject, body=body, html=html, unsubscribe_url=unsubscribe_url)


def sample_context(member) -> dict:
    """A preview's context: the member's own values and examples of an event's values."""
    return member_context(member) | {
        # xgettext:no-python-format
        "offer": _("Extra 30% on the spring collection"),
        "code": "WINTER-10AB-CD3E",
        "amount": Decimal("300.00"),
        "deadline": timezone.localdate() + dt.timedelta(days=14),
        "starts": timezone.localdate() + dt.timedelta(days=3),
        "survey_url": "https://example.com/s/…",
        "receipt_number": "A-1042",
        "store": _("Moscow, Tverskaya"),
        "total_amount": Decimal("3000.00"),
        "discount_amount": Decimal("435.00"),
        "paid_amount": Decimal("2065.00"),
        "points_spent": 500,
        "points_earned": 41,
    }
