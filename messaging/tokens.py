"""Signed links in messages: unsubscribe and NPS survey. A token carries the ids it is
for and Django's signature over them (SECRET_KEY), so it cannot be altered or forged."""

from __future__ import annotations

import datetime as dt
import functools

from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse

from messaging.errors import BadToken

_UNSUBSCRIBE_SALT = "messaging.unsubscribe"
_SURVEY_SALT = "messaging.survey"


def unsubscribe_token(*, member_id: int, channel: str) -> str:
    return signing.dumps({"m": member_id, "c": channel}, salt=_UNSUBSCRIBE_SALT)


def unsubscribe_read(token: str) -> tuple[int, str]:
    """(member id, channel) of a token; raises BadToken. Unsubscribe links never expire:
    a years-old e-mail must still stop the next one."""
    try:
        data = signing.loads(token, salt=_UNSUBSCRIBE_SALT)
        return int(data["m"]), str(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise BadToken() from exc


def survey_token(*, survey_id: int) -> str:
    return signing.dumps({"s": survey_id}, salt=_SURVEY_SALT)


def survey_read(token: str) -> int:
    """The survey id of a token; raises BadToken, or BadToken(expired) past its life."""
    max_age = dt.timedelta(days=settings.NPS_SURVEY_LINK_DAYS)
    try:
        return int(signing.loads(token, salt=_SURVEY_SALT, max_age=max_age)["s"])
    except signing.SignatureExpired as exc:
        raise BadToken(expired=True) from exc
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise BadToken() from exc


def absolute(path: str) -> str:
    return settings.LOYALTY_PUBLIC_URL.rstrip("/") + path


def unsubscribe_url(*, member_id: int, channel: str) -> str:
    token = unsubscribe_token(member_id=member_id, channel=channel)
    before, after = _unsubscribe_url_around(
        settings.LOYALTY_PUBLIC_URL, settings.ROOT_URLCONF, get_urlconf(), get_script_prefix()
    )
    return before + token + after


@functools.lru_cache(maxsize=8)
def _unsubscribe_url_around(*key) -> tuple[str, str]:
    """What comes before and after the token in an unsubscribe link (for the settings
    and URLconf in `key`): reversing the URL for each of 100k messages of a campaign
    cost a fifth of sending them."""
    marker = "TOKEN"
    url = absolute(reverse("messaging:unsubscribe", args=[marker]))
    before, _, after = url.partition(marker)
    return before, after


def survey_url(*, survey_id: int) -> str:
    return absolute(reverse("messaging:survey", args=[survey_token(survey_id=survey_id)]))
