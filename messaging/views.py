"""Pages members reach from a message (no login: the signed link is the key) and the
SMS provider's inbound webhook."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import pgettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from messaging import services
from messaging.errors import BadToken, SurveyAnswered
from messaging.forms import SurveyForm
from messaging.models import Channel
from messaging.services.consent import consent_given, unsubscribe_link_read

# Completes "We will not send you offers … any more." and the like.
_BY_CHANNEL = {
    Channel.EMAIL: pgettext_lazy("offers sent", "by e-mail"),
    Channel.SMS: pgettext_lazy("offers sent", "by SMS"),
    Channel.PUSH: pgettext_lazy("offers sent", "as push notifications"),
}


def _page(request, template: str, context: dict, *, member=None, status: int = 200):
    """A page in the member's language of messages (the e-mail they came from was in
    it), unless they chose a language on the site itself."""
    language = translation.get_language()
    if member is not None and settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
        language = member.language
    with translation.override(language):
        response = render(request, template, context, status=status)
    response["Content-Language"] = language
    # The token in the address is the key to the page: keep it out of search engines.
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _link_invalid(request, error: BadToken):
    context = {
        "error": error.message,
        "expired": error.code == "token_expired",
        "link_days": settings.NPS_SURVEY_LINK_DAYS,
    }
    return _page(request, "messaging/link_invalid.html", context, status=400)


# RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the link itself, with
# no cookie or CSRF token; the signed token is what authorises the change, and all it
# can do is withdraw that member's consent for that channel. Any POST body is taken:
# the confirmation page's own button posts here too.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_view(request, token: str):
    """GET asks to confirm (mail scanners follow links: a GET never unsubscribes);
    POST unsubscribes."""
    try:
        if request.method == "POST":
            member, channel, record = services.unsubscribe(token=token)
            state = "done" if record is not None else "already"
        else:
            member, channel = unsubscribe_link_read(token)
            state = "confirm" if consent_given(member, channel) else "already"
    except BadToken as error:
        return _link_invalid(request, error)
    return _page(
        request,
        "messaging/unsubscribe.html",
        {"state": state, "channel": channel, "by_channel": _BY_CHANNEL[channel]},
        member=member,
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def survey_view(request, token: str):
    try:
        survey = services.survey_from_token(token)
    except BadToken as error:
        return _link_invalid(request, error)
    member = survey.member
    if survey.score is not None:
        # Answered already (a second tab, a reload): the first answer stands.
        return _page(request, "messaging/survey.html", {"answered": True}, member=member)
    form = SurveyForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        # A concurrent first answer wins; this one changes nothing and sees the thanks.
        with contextlib.suppress(SurveyAnswered):
            services.survey_answer(
                survey=survey,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )
        # Back to GET, which shows the thanks: a reload does not post again.
        return redirect(request.path)
    return _page(
        request,
        "messaging/survey.html",
        {"form": form, "answered": False},
        member=member,
        status=400 if form.is_bound else 200,
    )


def _signature_valid(request) -> bool:
    secret = settings.MESSAGES_SMS_WEBHOOK_SECRET
    if not secret:  # a webhook nobody configured accepts nothing
        return False
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    signature = request.headers.get("X-Signature", "").removeprefix("sha256=")
    # Bytes: compare_digest refuses a str with non-ASCII characters (TypeError, a 500).
    return hmac.compare_digest(signature.encode(), expected.encode())


@csrf_exempt
@require_POST
def sms_inbound_view(request):
    """The SMS provider's inbound webhook: {"from": "+7…", "text": "…"} as JSON, signed
    with `X-Signature: sha256=<hex HMAC-SHA256 of the body with
    MESSAGES_SMS_WEBHOOK_SECRET>`. A stop word withdraws the sender's SMS consent."""
    if not _signature_valid(request):
        return JsonResponse(
            {"code": "bad_signature", "detail": "The X-Signature header does not match."},
            status=403,
        )
    try:
        payload = json.loads(request.body)
        phone, text = payload["from"], payload["text"]
        # Some providers send the number as a JSON number: a STOP must not be lost to that.
        if isinstance(phone, int) and not isinstance(phone, bool):
            phone = str(phone)
        if not isinstance(phone, str) or not isinstance(text, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {"code": "invalid", "detail": 'Send a JSON object with "from" and "text".'},
            status=400,
        )
    record = services.sms_stop_receive(phone=phone, text=text)
    return JsonResponse({"consent_withdrawn": record is not None})
