"""Fixtures for the event campaigns: a fixed time, a checkout helper and the campaigns
(threshold coupons, welcome, birthday, referral) as marketing would set them up."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import translation

from campaigns.models import Campaign, RewardLevel
from campaigns.services import core
from loyalty.actors import Actor
from members.models import Channel, Member
from members.services import checkout_commit, member_consent_set
from tests import factories

# A fixed, ordinary moment: 10 March 2026, 09:00 in Moscow (when the birthday beat runs).
T0 = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC)

ACTOR = Actor.for_task("test")
_receipts = itertools.count(1)


def cashier_actor() -> Actor:
    return Actor(channel=Channel.CASHIER)


def buy(member: Member, store, total, *, receipt: str = "", **kwargs):
    """A purchase through the checkout, as the cashier desk records it."""
    return checkout_commit(
        member=member,
        store=store,
        receipt_number=receipt or f"E-{next(_receipts)}",
        total=total,
        actor=cashier_actor(),
        **kwargs,
    )


def consent(member: Member, channel: str = "email") -> Member:
    member_consent_set(member=member, channel=channel, is_granted=True, source="test", actor=ACTOR)
    member.refresh_from_db()
    return member


def words(kind: str, value) -> str:
    """A reward in words as stored in a message (the program's language)."""
    with translation.override(settings.LANGUAGE_CODE):
        return core.reward_text(kind=kind, value=Decimal(value))


def held_out_member(campaign: Campaign, *, tier, **fields) -> Member:
    """A new member the campaign's holdout group takes (deterministic by id)."""
    for _attempt in range(200):
        member = factories.MemberFactory(tier=tier, **fields)
        if core.is_holdout(campaign, member.pk):
            return member
    raise AssertionError("no held-out member in 200 tries")


def live(**fields) -> Campaign:
    return factories.CampaignFactory(
        status=Campaign.Status.ACTIVE, starts_at=T0 - dt.timedelta(days=1), **fields
    )


@pytest.fixture
def threshold_campaign():
    """PRODUCT.md mechanic 4: 500 / 1,000 / 10,000 ₽ earn 50 / 150 / 2,000 ₽ for 30 days."""
    campaign = live(
        name="Купоны за чек",
        kind=Campaign.Kind.THRESHOLD,
        reward_kind="fixed",
        reward_value=Decimal("50"),
        offer_days=30,
    )
    for threshold, value in (("500", "50"), ("1000", "150"), ("10000", "2000")):
        RewardLevel.objects.create(
            campaign=campaign, threshold=Decimal(threshold), reward_value=Decimal(value)
        )
    return campaign


@pytest.fixture
def welcome_points():
    return live(
        name="Добро пожаловать",
        kind=Campaign.Kind.WELCOME,
        reward_kind="points",
        reward_value=Decimal("200"),
    )


@pytest.fixture
def referral_campaign():
    return live(
        name="Приведи друга",
        kind=Campaign.Kind.REFERRAL,
        reward_kind="points",
        reward_value=Decimal("300"),
        referrer_points=500,
    )


@pytest.fixture
def birthday_campaign():
    return live(
        name="С днём рождения",
        kind=Campaign.Kind.BIRTHDAY,
        reward_kind="fixed",
        reward_value=Decimal("500"),
        lead_days=3,
    )
