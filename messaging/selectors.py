"""Reads worth naming: which template a message uses, NPS figures, delivery counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate

from messaging.models import Message, MessageTemplate, Survey


def template_for(*, kind: str, channel: str, campaign_id: int | None = None):
    """The campaign's own template of this kind and channel, else the general one;
    None when there is neither. Inactive templates are returned too: the caller
    tells "switched off" from "missing"."""
    found = {
        t.campaign_id: t
        for t in MessageTemplate.objects.filter(kind=kind, channel=channel).filter(
            Q(campaign__isnull=True) | Q(campaign_id=campaign_id)
        )
    }
    return found.get(campaign_id) or found.get(None)


def template_active(*, kind: str, channel: str, campaign_id: int | None = None) -> bool:
    template = template_for(kind=kind, channel=channel, campaign_id=campaign_id)
    return template is not None and template.is_active


@dataclass(frozen=True)
class Nps:
    """Net Promoter Score of a set of answers: % promoters (9–10) − % detractors (0–6)."""

    responses: int
    promoters: int
    passives: int
    detractors: int

    @property
    def score(self) -> Decimal | None:
        """From −100 to 100, half up to one decimal; None without answers."""
        if not self.responses:
            return None
        exact = Decimal(100 * (self.promoters - self.detractors)) / Decimal(self.responses)
        return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def nps_for_period(*, start: dt.datetime, end: dt.datetime) -> Nps:
    """NPS of the answers given in [start, end)."""
    counts = Survey.objects.filter(
        score__isnull=False, answered_at__gte=start, answered_at__lt=end
    ).aggregate(
        responses=Count("pk"),
        promoters=Count("pk", filter=Q(score__gte=9)),
        passives=Count("pk", filter=Q(score__in=[7, 8])),
        detractors=Count("pk", filter=Q(score__lte=6)),
    )
    return Nps(**counts)


def member_nps_latest() -> Subquery:
    """The member's latest NPS score, as an expression to annotate or filter members
    with (`Member.objects.annotate(nps=member_nps_latest())`); NULL if never answered."""
    return Subquery(
        Survey.objects.filter(member=OuterRef("pk"), score__isnull=False)
        .order_by("-answered_at", "-pk")
        .values("score")[:1],
        output_field=IntegerField(),
    )


def delivery_counts_by_day(*, start: dt.datetime, end: dt.datetime, tz) -> list[dict]:
    """Per day (in `tz`) and channel of messages queued in [start, end): how many were
    sent, failed, suppressed and are still waiting."""
    rows = (
        Message.objects.filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "channel")
        .annotate(
            sent=Count("pk", filter=Q(status=Message.Status.SENT)),
            failed=Count("pk", filter=Q(status=Message.Status.FAILED)),
            suppressed=Count("pk", filter=Q(status=Message.Status.SUPPRESSED)),
            waiting=Count(
                "pk", filter=Q(status__in=[Message.Status.PENDING, Message.Status.SENDING])
            ),
        )
        .order_by("-day", "channel")
    )
    return list(rows)
