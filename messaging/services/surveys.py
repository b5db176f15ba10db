"""NPS surveys: asked some days after a purchase, at most once per window per member."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from members.models import Member, Purchase
from messaging.errors import BadToken, InvalidScore, SurveyAnswered
from messaging.models import Channel, Kind, Message, Survey
from messaging.services.outbox import delivery_kick_on_commit
from messaging.tokens import survey_read, survey_url

CHUNK = 2_000  # members per transaction
COMMENT_MAX = 2_000
_LOCK_SPACE = 7303  # advisory lock namespace of survey queueing


def surveys_queue_due(*, at: dt.datetime | None = None, chunk: int = CHUNK) -> int:
    """Ask members who bought NPS_DELAY_DAYS ago (or up to NPS_CATCHUP_DAYS before that,
    should runs have been missed) and who have not been asked for NPS_WINDOW_DAYS.

    One survey per member, for their latest purchase in that span, by e-mail when they
    have an address and consent, else by SMS with consent. The survey and its message
    are written in one transaction. Returns how many surveys were queued; a second run
    queues none."""
    at = at or timezone.now()
    end = at - dt.timedelta(days=settings.NPS_DELAY_DAYS)
    start = end - dt.timedelta(days=settings.NPS_CATCHUP_DAYS)
    asked_since = at - dt.timedelta(days=settings.NPS_WINDOW_DAYS)
    reachable = (Q(consent_email=True) & ~Q(email="")) | Q(consent_sms=True)
    members = (
        Member.objects.filter(reachable)
        .filter(
            Exists(Purchase.objects.filter(member=OuterRef("pk"), created_at__range=(start, end)))
        )
        .exclude(Exists(Survey.objects.filter(member=OuterRef("pk"), created_at__gt=asked_since)))
        .order_by("pk")
    )
    queued = 0
    after = 0
    while True:
        with transaction.atomic():
            _lock()
            rows = list(members.filter(pk__gt=after).values("pk", "consent_email", "email")[:chunk])
            if not rows:
                break
            after = rows[-1]["pk"]
            queued += _queue_chunk(rows, start=start, end=end, at=at)
    return queued


def _lock() -> None:
    """Two runs at once take turns chunk by chunk, so the second sees the first's
    surveys and skips those members (SQLite writes one at a time anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [_LOCK_SPACE])


def _queue_chunk(rows: list[dict], *, start, end, at) -> int:
    latest = dict(
        Purchase.objects.filter(
            member_id__in=[row["pk"] for row in rows], created_at__range=(start, end)
        )
        .values("member_id")
        .annotate(last=Max("pk"))
        .values_list("member_id", "last")
    )
    surveys = Survey.objects.bulk_create(
        [
            Survey(
                member_id=row["pk"],
                purchase_id=latest[row["pk"]],
                channel=Channel.EMAIL if row["consent_email"] and row["email"] else Channel.SMS,
                created_at=at,
            )
            for row in rows
            if row["pk"] in latest
        ]
    )
    Message.objects.bulk_create(
        [
            Message(
                kind=Kind.NPS,
                channel=survey.channel,
                member_id=survey.member_id,
                event_key=f"survey:{survey.pk}",
                context={"survey_url": survey_url(survey_id=survey.pk)},
                is_marketing=True,
                send_after=at,
            )
            for survey in surveys
        ]
    )
    if surveys:
        delivery_kick_on_commit()
    return len(surveys)


def survey_from_token(token: str) -> Survey:
    """The survey a link is for; raises BadToken (damaged, forged or expired link)."""
    survey = Survey.objects.select_related("member").filter(pk=survey_read(token)).first()
    if survey is None:
        raise BadToken()
    return survey


def _whole_score(value) -> int:
    """0..10 from an int or its digits; anything else (9.9, True, "x") is InvalidScore."""
    if isinstance(value, bool):
        raise InvalidScore()
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value <= 10:
        raise InvalidScore()
    return value


@transaction.atomic
def survey_answer(*, survey: Survey, score, comment: str = "") -> Survey:
    """Store the member's answer. Raises InvalidScore, or SurveyAnswered when it was
    answered already (the first answer stands; nothing changes)."""
    score = _whole_score(score)
    comment = (comment or "").strip()[:COMMENT_MAX]
    now = timezone.now()
    updated = Survey.objects.filter(pk=survey.pk, score__isnull=True).update(
        score=score, comment=comment, answered_at=now
    )
    if not updated:
        raise SurveyAnswered()
    survey.refresh_from_db()
    return survey
