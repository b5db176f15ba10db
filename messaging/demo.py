"""Demo messages for `seed_demo`: e-mailed receipts of recent purchases (a few failed),
and NPS surveys of the last 90 days with their answers, so that the outbox, delivery
by day and the NPS figures have something to show."""

from __future__ import annotations

import datetime as dt
import random

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q

from members.models import Purchase
from messaging import selectors
from messaging.models import Channel, Kind, Message, Survey
from messaging.render import member_context, render

RECEIPTS = 300
SURVEYS = 400
ANSWERED_SHARE = 0.7
# Scores 0..10 as a chain with a healthy NPS of about +30 would get them.
SCORE_WEIGHTS = [2, 1, 1, 2, 2, 4, 5, 10, 18, 25, 30]
COMMENTS = [
    "Быстро обслужили на кассе, спасибо!",
    "Удобно списывать баллы.",
    "Хотелось бы больше акций для постоянных покупателей.",
    "Долго ждал кассира.",
    "Отличный выбор и вежливый персонал.",
    "",
]
FAILED_RECEIPTS = 3


def messaging_demo_ensure(*, now: dt.datetime, report, seed: int = 2026) -> None:
    """Create the demo messages and surveys unless there are surveys already."""
    if Survey.objects.exists():
        return
    rng = random.Random(seed)
    with transaction.atomic():
        report.add("messages", _receipts(now, rng))
        surveys, messages = _surveys(now, rng)
        report.add("NPS surveys", surveys)
        report.add("messages", messages)
        _backdate()


def _message(member, *, kind, channel, event_key, context, at, status=Message.Status.SENT):
    template = selectors.template_for(kind=kind, channel=channel)
    rendered = render(
        template,
        language=member.language,
        context=member_context(member) | context,
        channel=channel,
    )
    return Message(
        kind=kind,
        channel=channel,
        member=member,
        event_key=event_key,
        context=context,
        is_marketing=kind == Kind.NPS,
        status=status,
        attempts=1,
        send_after=at,
        recipient=member.email if channel == Channel.EMAIL else str(member.phone),
        subject=rendered.subject,
        body=rendered.body,
        provider_id=f"{settings.MESSAGES_ID_PREFIX}-demo-{event_key}",
        provider_response="accepted" if status == Message.Status.SENT else "",
        error="" if status == Message.Status.SENT else "SMTP 550: mailbox unavailable",
        sent_at=at if status == Message.Status.SENT else None,
    )


def _receipts(now: dt.datetime, rng: random.Random) -> int:
    purchases = list(
        Purchase.objects.filter(member__email__gt="", created_at__lte=now)
        .select_related("member__tier", "store")
        .order_by("-created_at")[:RECEIPTS]
    )
    already = set(
        Message.objects.filter(
            kind=Kind.RECEIPT, event_key__in=[f"purchase:{p.pk}" for p in purchases]
        ).values_list("event_key", flat=True)
    )
    purchases = [p for p in purchases if f"purchase:{p.pk}" not in already]
    failed = set(rng.sample(range(len(purchases)), min(FAILED_RECEIPTS, len(purchases))))
    rows = []
    for i, purchase in enumerate(purchases):
        context = {
            "receipt_number": purchase.receipt_number,
            "store": purchase.store.name,
            "total_amount": str(purchase.total),
            "discount_amount": str(purchase.base_discount + purchase.code_discount),
            "paid_amount": str(purchase.paid),
            "points_spent": purchase.points_spent,
            "points_earned": purchase.points_earned,
        }
        message = _message(
            purchase.member,
            kind=Kind.RECEIPT,
            channel=Channel.EMAIL,
            event_key=f"purchase:{purchase.pk}",
            context=context,
            at=purchase.created_at,
            status=Message.Status.FAILED if i in failed else Message.Status.SENT,
        )
        rows.append(message)
    Message.objects.bulk_create(rows)
    return len(rows)


def _surveys(now: dt.datetime, rng: random.Random) -> tuple[int, int]:
    since = now - dt.timedelta(days=settings.NPS_WINDOW_DAYS)
    latest = (
        Purchase.objects.filter(created_at__gte=since, created_at__lte=now)
        .filter(
            (Q(member__consent_email=True) & ~Q(member__email="")) | Q(member__consent_sms=True)
        )
        .values("member_id")
        .annotate(last=Max("pk"))
        .order_by("member_id")
        .values_list("last", flat=True)[:SURVEYS]
    )
    purchases = Purchase.objects.filter(pk__in=list(latest)).select_related("member__tier")
    surveys, messages = [], []
    for purchase in purchases:
        member = purchase.member
        asked = purchase.created_at + dt.timedelta(days=settings.NPS_DELAY_DAYS)
        if asked > now:
            continue
        survey = Survey(
            member=member,
            purchase=purchase,
            channel=Channel.EMAIL if member.consent_email and member.email else Channel.SMS,
            created_at=asked,
        )
        if rng.random() < ANSWERED_SHARE:
            survey.score = rng.choices(range(11), weights=SCORE_WEIGHTS)[0]
            survey.comment = rng.choice(COMMENTS)
            survey.answered_at = min(asked + dt.timedelta(hours=rng.randint(1, 72)), now)
        surveys.append(survey)
    Survey.objects.bulk_create(surveys)
    for survey in surveys:
        messages.append(
            _message(
                survey.member,
                kind=Kind.NPS,
                channel=survey.channel,
                event_key=f"survey:{survey.pk}",
                context={"survey_url": f"{settings.LOYALTY_PUBLIC_URL}/m/survey/demo/"},
                at=survey.created_at,
            )
        )
    Message.objects.bulk_create(messages)
    return len(surveys), len(messages)


def _backdate() -> None:
    """The demo messages were queued when they were sent (inserting sets created_at to
    now)."""
    Message.objects.filter(provider_id__startswith=f"{settings.MESSAGES_ID_PREFIX}-demo-").update(
        created_at=F("send_after"), updated_at=F("send_after")
    )
