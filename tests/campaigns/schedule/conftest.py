"""Helpers of the schedule tests: Moscow instants, members in bulk, what the runs wrote."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter

from django.conf import settings

from campaigns.models import Campaign, Offer, Participant
from loyalty.models import Tier
from members.cards import ean13_check_digit
from members.models import Member
from messaging.models import Message

MSK = zoneinfo.ZoneInfo("Europe/Moscow")
# campaigns_advance() of a run that had nothing to do.
NOTHING = {
    "activated": 0,
    "participants": 0,
    "offers": 0,
    "offer": 0,
    "sale_announce": 0,
    "sale_open": 0,
    "offer_expiring": 0,
    "sale_last_chance": 0,
    "finished": 0,
    "offers_expired": 0,
    "failed": 0,
}


def msk(*parts: int) -> dt.datetime:
    """An instant given as a Moscow wall-clock time: msk(2026, 6, 1, 0, 0)."""
    return dt.datetime(*parts, tzinfo=MSK)


def members_bulk(count: int, *, consent_email: bool = False) -> None:
    """`count` members on the lowest tier in one INSERT, built without the factory's
    Faker (seconds for thousands); card numbers and phones of their own."""
    prefix = settings.LOYALTY_CARD_PREFIX
    tier = Tier.objects.order_by("threshold").first()
    members = []
    for number in range(1, count + 1):
        body = f"{prefix}9{number:0{11 - len(prefix)}d}"
        members.append(
            Member(
                card_number=body + ean13_check_digit(body),
                phone=f"+7901{number:07d}",
                first_name="Участник",
                last_name=f"Массовый {number}",
                tier=tier,
                consent_email=consent_email,
            )
        )
    Member.objects.bulk_create(members, batch_size=5_000)


def messages_per_member(campaign: Campaign | None = None) -> Counter:
    """{(member id, kind): number of messages}."""
    rows = Message.objects.all()
    if campaign is not None:
        rows = rows.filter(campaign=campaign)
    return Counter(rows.values_list("member_id", "kind"))


def state() -> dict:
    """Everything a beat task writes, in a comparable form (no auto timestamps)."""
    return {
        "campaigns": list(
            Campaign.objects.order_by("pk").values_list(
                "pk",
                "status",
                "invited_at",
                "announced_at",
                "opened_at",
                "issued_at",
                "last_chance_at",
                "finished_at",
            )
        ),
        "history": Campaign.history.count(),
        "participants": sorted(
            Participant.objects.values_list("campaign_id", "member_id", "is_holdout")
        ),
        "offers": sorted(
            Offer.objects.values_list(
                "pk", "campaign_id", "member_id", "status", "valid_from", "valid_until"
            )
        ),
        "messages": sorted(
            Message.objects.values_list(
                "pk",
                "kind",
                "member_id",
                "channel",
                "campaign_id",
                "event_key",
                "context",
                "status",
            )
        ),
    }
