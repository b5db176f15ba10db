"""Pages members reach from a message (no login: the signed link is the key) and the
SMS provider's inbound webhook."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json

from django.conf import settings
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from loyalty.errors import DomainError
from messaging import services
from messaging.errors import BadToken, SurveyAnswered
from messaging.forms import SurveyForm
from messaging.models import Channel
from messaging.tokens import unsubscribe_read


def _link_invalid(request, error: DomainError):
    return render(request, "messaging/link_invalid.html", {"error": error.message}, status=400)


# RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the link itself, with
# no cookie or CSRF token; the signed token is what authorises the change, and all it
# can do is withdraw that member's consent for that channel.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token: str):
    """GET asks to confirm (mail scanners follow links: a GET never unsubscribes);
    POST unsubscribes."""
    try:
        _member_id, channel = unsubscribe_read(token)
        if request.method == "POST":
            _member, channel, record = services.unsubscribe(token=token)
    except BadToken as error:
        return _link_invalid(request, error)
    context = {
        "channel_label": Channel(channel).label.lower() if channel in Channel.values else "",
        "done": request.method == "POST" and record is not None,
        "already": request.method == "POST" and record is None,
    }
    return render(request, "messaging/unsubscribe.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def survey_view(request, token: str):
    try:
        survey = services.survey_from_token(token)
    except BadToken as error:
        return _link_invalid(request, error)
    form = SurveyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            # A second answer changes nothing: the first stands and the thanks shows again.
            with contextlib.suppress(SurveyAnswered):
                services.survey_answer(
                    survey=survey,
                    score=form.cleaned_data["score"],
                    comment=form.cleaned_data["comment"],
                )
            survey.refresh_from_db()
        else:
            status = 400
    context = {"form": form, "scores": range(11), "answered": survey.score is not None}
    return render(request, "messaging/survey.html", context, status=status)


@csrf_exempt
def sms_inbound_view(request):
    """The SMS provider's inbound webhook: {"from": "+7…", "text": "…"} as JSON, signed
    with `X-Signature: sha256=<hex HMAC-SHA256 of the body with
    MESSAGES_SMS_WEBHOOK_SECRET>`. A stop word withdraws the sender's SMS consent."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    secret = settings.MESSAGES_SMS_WEBHOOK_SECRET
    signature = request.headers.get("X-Signature", "").removeprefix("sha256=")
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not secret or not hmac.compare_digest(signature, expected):
        return JsonResponse(
            {"code": "bad_signature", "detail": "The X-Signature header does not match."},
            status=403,
        )
    try:
        payload = json.loads(request.body)
        phone, text = str(payload["from"]), str(payload["text"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {"code": "invalid", "detail": 'Send JSON with "from" and "text".'}, status=400
        )
    record = services.sms_stop_receive(phone=phone, text=text)
    return JsonResponse({"consent_withdrawn": record is not None})
