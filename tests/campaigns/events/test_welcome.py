"""Welcome end to end (PRODUCT.md mechanic 9): after the first purchase, a thank-you
message and a gift (bonus points, or a discount on the next purchase)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Grant, Offer, Participant
from members.models import LedgerEntry
from members.services import purchase_refund
from messaging.models import Message
from tests import factories
from tests.campaigns.events.conftest import (
    ACTOR,
    T0,
    buy,
    consent,
    held_out_member,
    live,
    words,
)

pytestmark = pytest.mark.django_db


def welcome_messages(member) -> list[Message]:
    return list(Message.objects.filter(member=member, kind="welcome"))


def test_first_purchase_gives_points_and_a_thank_you_once(welcome_points, member, store):
    # given
    consent(member)

    # when: a first purchase of 1,000 (earns 10 points at 1%)
    purchase = buy(member, store, "1000.00").purchase

    # then 200 welcome points and one message naming them
    grant = Grant.objects.get(member=member)
    assert (grant.campaign, grant.event_key, grant.points, grant.cost) == (
        welcome_points,
        "welcome",
        200,
        Decimal("200.00"),
    )
    assert grant.purchase is None  # joining is rewarded, not this receipt
    assert list(
        LedgerEntry.objects.filter(member=member).order_by("id").values_list("kind", "amount")
    ) == [("earn", 10), ("grant", 200)]
    member.refresh_from_db()
    assert member.points_balance == 210
    [message] = welcome_messages(member)
    assert (message.channel, message.event_key, message.campaign) == (
        "email",
        f"campaign-{welcome_points.pk}",
        welcome_points,
    )
    assert message.context == {"offer": words("points", 200), "amount": words("points", 200)}
    assert Grant.objects.get(campaign=welcome_points).cost == Decimal("200.00")
    assert purchase.code_discount == Decimal("0.00")


def test_second_purchase_gives_nothing(welcome_points, member, store):
    # given
    buy(member, store, "1000.00")

    # when
    buy(member, store, "2000.00")

    # then
    assert Grant.objects.filter(member=member).count() == 1
    assert len(welcome_messages(member)) == 1
    member.refresh_from_db()
    assert member.points_balance == 10 + 200 + 20


def test_a_member_who_bought_before_the_campaign_gets_nothing(member, store):
    # given a purchase before the welcome campaign started
    buy(member, store, "1000.00")
    campaign = live(name="Добро пожаловать", kind="welcome", reward_kind="points", reward_value=200)

    # when
    buy(member, store, "1000.00")

    # then
    assert not Grant.objects.filter(campaign=campaign).exists()
    assert welcome_messages(member) == []


def test_holdout_member_gets_neither_gift_nor_message(welcome_points, store, tiers):
    # given
    welcome_points.holdout_percent = Decimal("50")
    welcome_points.save(update_fields=["holdout_percent"])
    held = consent(held_out_member(welcome_points, tier=tiers["Base"]))

    # when
    buy(held, store, "1000.00")

    # then
    assert not Grant.objects.filter(member=held).exists()
    assert welcome_messages(held) == []
    assert Participant.objects.get(campaign=welcome_points, member=held).is_holdout is True
    held.refresh_from_db()
    assert held.points_balance == 10


def test_only_members_of_the_segment_are_welcomed(welcome_points, store, tiers):
    # given a segment of Silver members
    segment = factories.SegmentFactory(name="Серебро")
    segment.tiers.add(tiers["Silver"])
    welcome_points.segment = segment
    welcome_points.save(update_fields=["segment"])
    base = factories.MemberFactory(tier=tiers["Base"])
    silver = factories.MemberFactory(tier=tiers["Silver"])

    # when both make their first purchase
    buy(base, store, "1000.00")
    buy(silver, store, "1000.00")

    # then only the Silver member got the gift and the message
    assert list(Grant.objects.values_list("member", flat=True)) == [silver.pk]
    assert list(Participant.objects.values_list("member", "is_holdout")) == [(silver.pk, False)]
    assert welcome_messages(base) == []
    assert len(welcome_messages(silver)) == 1


def test_used_up_budget_still_records_the_purchase_and_thanks(member, store):
    # given a budget smaller than the gift
    campaign = live(
        name="Добро пожаловать",
        kind="welcome",
        reward_kind="points",
        reward_value=Decimal("200"),
        budget=Decimal("100"),
    )

    # when
    result = buy(member, store, "1000.00")

    # then the purchase stands, the thank-you goes without a gift
    assert result.purchase.pk is not None
    assert not Grant.objects.filter(campaign=campaign).exists()
    [message] = welcome_messages(member)
    assert message.context == {}
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("0")


def test_refund_of_the_first_purchase_keeps_the_welcome_points(welcome_points, member, store):
    # given
    purchase = buy(member, store, "1000.00").purchase

    # when
    purchase_refund(purchase=purchase, actor=ACTOR)

    # then the purchase's own 10 points go back, the welcome gift stays
    member.refresh_from_db()
    assert member.points_balance == 200
    assert Grant.objects.get(member=member).rolled_back_at is None


def test_discount_gift_is_an_offer_used_on_the_next_purchase(member, store):
    # given a welcome gift of 300 ₽ off the next purchase within 14 days
    campaign = live(
        name="Скидка новичку",
        kind="welcome",
        reward_kind="fixed",
        reward_value=Decimal("300"),
        offer_days=14,
        channel="sms",
    )
    consent(member, "sms")
    with time_machine.travel(T0, tick=False):
        first = buy(member, store, "1000.00").purchase

    # then the first purchase itself gets no discount; the offer waits for the next
    assert first.code_discount == Decimal("0.00")
    offer = Offer.objects.get(member=member)
    assert (offer.event_key, offer.reward_value, offer.valid_from, offer.valid_until) == (
        "welcome",
        Decimal("300.00"),
        T0,
        T0 + dt.timedelta(days=14),
    )
    [message] = welcome_messages(member)
    assert message.channel == "sms"
    assert message.context == {
        "offer": offer.title,
        "amount": words("fixed", 300),
        "deadline": timezone.localtime(T0 + dt.timedelta(days=14)).isoformat(),
    }
    assert offer.campaign == campaign

    # when the member comes back within the window
    with time_machine.travel(T0 + dt.timedelta(days=13), tick=False):
        second = buy(member, store, "1000.00").purchase

    # then
    assert second.code_discount == Decimal("300.00")
    offer.refresh_from_db()
    assert (offer.status, offer.purchase) == ("used", second)
    assert len(welcome_messages(member)) == 1
