"""A campaign's results on its admin page: whom it reached and held out, what it issued
and gave, what it cost and what the purchases behind it brought. A handful of aggregate
queries, whatever the number of members."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Campaign, Grant, Offer, Participant
from campaigns.services.core import freezes_segment
from members.models import Purchase

MONEY = DecimalField(max_digits=14, decimal_places=2)
ZERO = Value(Decimal(0), output_field=MONEY)
# What a purchase brought: its receipt after both discounts (points paid count as paid).
AFTER_DISCOUNTS = F("total") - F("base_discount") - F("code_discount")


@dataclass(frozen=True)
class Window:
    """Purchases of the campaign's frozen members between its start and its end (or now):
    those it reached against those held out, for the uplift."""

    reached_came: int
    reached_purchases: int
    reached_revenue: Decimal
    held_out_came: int


@dataclass(frozen=True)
class Results:
    reached: int
    held_out: int
    offers_issued: int
    offers_used: int
    offers_burnt: int
    offers_active: int
    grants: int
    grant_members: int
    discount: Decimal
    points: int
    cost: Decimal
    grant_purchases: int
    grant_revenue: Decimal
    window: Window | None


def campaign_results(campaign: Campaign, *, at: dt.datetime | None = None) -> Results:
    """Figures of the campaign; rewards taken back on a full refund do not count."""
    at = at or timezone.now()
    people = Participant.objects.filter(campaign=campaign).aggregate(
        reached=Count("pk", filter=Q(is_holdout=False)),
        held_out=Count("pk", filter=Q(is_holdout=True)),
    )
    offers = Offer.objects.filter(campaign=campaign).aggregate(
        issued=Count("pk"),
        used=Count("pk", filter=Q(status=Offer.Status.USED)),
        burnt=Count("pk", filter=Q(status=Offer.Status.EXPIRED)),
        active=Count("pk", filter=Q(status=Offer.Status.ACTIVE)),
    )
    given = Grant.objects.filter(campaign=campaign, rolled_back_at__isnull=True)
    grants = given.aggregate(
        count=Count("pk"),
        members=Count("member", distinct=True),
        discount=Coalesce(Sum("discount"), ZERO),
        points=Coalesce(Sum("points"), 0),
        cost=Coalesce(Sum("cost"), ZERO),
    )
    purchases = Purchase.objects.filter(
        pk__in=given.filter(purchase__isnull=False).values("purchase_id")
    ).aggregate(count=Count("pk"), revenue=Coalesce(Sum(AFTER_DISCOUNTS), ZERO))
    return Results(
        reached=people["reached"],
        held_out=people["held_out"],
        offers_issued=offers["issued"],
        offers_used=offers["used"],
        offers_burnt=offers["burnt"],
        offers_active=offers["active"],
        grants=grants["count"],
        grant_members=grants["members"],
        discount=grants["discount"],
        points=grants["points"],
        cost=grants["cost"],
        grant_purchases=purchases["count"],
        grant_revenue=purchases["revenue"],
        window=window_results(campaign, at=at),
    )


def window_results(campaign: Campaign, *, at: dt.datetime) -> Window | None:
    """Who of the frozen members bought in the window so far, reached and held out
    (None before the start, or when the segment is live: members are then recorded
    only as their purchases reach the campaign, so both groups would have bought)."""
    if not freezes_segment(campaign) or campaign.starts_at is None or campaign.starts_at > at:
        return None
    end = min(campaign.ends_at, at) if campaign.ends_at else at
    group = Participant.objects.filter(campaign=campaign, member_id=OuterRef("member_id"))
    figures = (
        Purchase.objects.filter(
            created_at__gte=campaign.starts_at,
            created_at__lt=end,
            is_fully_refunded=False,
            member_id__in=Participant.objects.filter(campaign=campaign).values("member_id"),
        )
        .annotate(is_held_out=Subquery(group.values("is_holdout")[:1]))
        .aggregate(
            came=Count("member_id", distinct=True, filter=Q(is_held_out=False)),
            purchases=Count("pk", filter=Q(is_held_out=False)),
            revenue=Coalesce(Sum(AFTER_DISCOUNTS, filter=Q(is_held_out=False)), ZERO),
            held_came=Count("member_id", distinct=True, filter=Q(is_held_out=True)),
        )
    )
    return Window(
        reached_came=figures["came"],
        reached_purchases=figures["purchases"],
        reached_revenue=figures["revenue"],
        held_out_came=figures["held_came"],
    )
