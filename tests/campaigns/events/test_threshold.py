"""Threshold coupons end to end (PRODUCT.md mechanic 4): a receipt after discounts earns
the highest level's coupon, which pays part of a later purchase within 30 days."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Offer, Participant
from campaigns.services import events
from members.models import Purchase
from members.services import checkout_evaluate, purchase_refund
from messaging.models import Message
from tests import factories
from tests.campaigns.events.conftest import ACTOR, T0, buy, consent, held_out_member, words

pytestmark = pytest.mark.django_db


@pytest.fixture
def silver(tiers):
    return consent(factories.MemberFactory(tier=tiers["Silver"]))


def offers_of(member) -> list[tuple]:
    return list(
        Offer.objects.filter(member=member)
        .order_by("id")
        .values_list("event_key", "reward_kind", "reward_value", "status")
    )


def test_receipt_after_tier_discount_earns_the_highest_level_reached(
    threshold_campaign, silver, store
):
    # given a Silver member (5%) and a receipt of 3,000: 2,850 after the discount
    with time_machine.travel(T0, tick=False):
        # when
        result = buy(silver, store, "3000.00")

    # then one coupon of the 1,000 level, for 30 days from the purchase
    purchase = result.purchase
    assert purchase.base_discount == Decimal("150.00")
    offer = Offer.objects.get(member=silver)
    assert offer.campaign == threshold_campaign
    assert offer.event_key == f"purchase-{purchase.pk}"
    assert (offer.reward_kind, offer.reward_value) == ("fixed", Decimal("150.00"))
    assert offer.title == f"Купоны за чек: {words('fixed', '150')}"
    assert offer.source_purchase == purchase
    assert offer.valid_from == T0
    assert offer.valid_until == T0 + dt.timedelta(days=30)
    assert offer.status == Offer.Status.ACTIVE
    message = Message.objects.get(member=silver, kind="offer")
    assert message.channel == "email"
    assert message.campaign == threshold_campaign
    assert message.event_key == f"offer-{offer.pk}"
    assert message.context == {
        "offer": offer.title,
        "amount": words("fixed", "150"),
        "deadline": timezone.localtime(T0 + dt.timedelta(days=30)).isoformat(),
    }


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        # Silver: 5% off; the threshold compares what is left after it
        ("526.31", []),  # 499.99 after the discount
        ("526.32", [Decimal("50.00")]),  # 500.00
        ("1052.62", [Decimal("50.00")]),  # 999.99
        ("1052.63", [Decimal("150.00")]),  # 1,000.00
        ("10526.32", [Decimal("2000.00")]),  # 10,000.00
    ],
)
def test_only_the_highest_level_reached_after_discounts_is_given(
    threshold_campaign, silver, store, total, expected
):
    # when
    buy(silver, store, total)

    # then
    assert [o.reward_value for o in Offer.objects.filter(member=silver)] == expected


def test_a_10000_receipt_earns_2000(threshold_campaign, member, store):
    # when a Base member (no discount) buys for 10,000
    buy(member, store, "10000.00")

    # then
    assert [o[2] for o in offers_of(member)] == [Decimal("2000.00")]


def test_points_spent_are_not_a_discount(threshold_campaign, silver_member_with_500, store):
    # given: 1,100 → 1,045 after 5%, then 300 points pay part of it (paid 745)
    member = silver_member_with_500

    # when
    result = buy(member, store, "1100.00", points_to_spend=300)

    # then the 1,000 level: points are money the member pays, not a discount
    assert result.purchase.paid == Decimal("745.00")
    assert [o[2] for o in offers_of(member)] == [Decimal("150.00")]


def test_coupon_pays_part_of_a_purchase_within_30_days_and_not_at_30(
    threshold_campaign, silver, store
):
    # given a 150 ₽ coupon earned at T0
    with time_machine.travel(T0, tick=False):
        buy(silver, store, "3000.00")
    offer = Offer.objects.get(member=silver)

    # when: exactly 30 days later it has burnt
    with time_machine.travel(T0 + dt.timedelta(days=30), tick=False):
        late = checkout_evaluate(member=silver, store=store, total="1000.00")
    # ... a moment before, it pays 150 of the next receipt
    with time_machine.travel(T0 + dt.timedelta(days=30, microseconds=-1), tick=False):
        result = buy(silver, store, "1000.00")

    # then
    assert late.options == []
    assert late.breakdown.code_discount == Decimal("0.00")
    purchase = result.purchase
    assert purchase.code_discount == Decimal("150.00")
    assert purchase.reward_reference == f"offer-{offer.pk}"
    offer.refresh_from_db()
    assert offer.status == Offer.Status.USED
    assert offer.purchase == purchase
    # the second receipt (1,000 − 50 − 150 = 800) earns its own 50 ₽ coupon
    assert [o[2:] for o in offers_of(silver)] == [
        (Decimal("150.00"), "used"),
        (Decimal("50.00"), "active"),
    ]


def test_full_refund_cancels_the_unused_coupon_it_earned(threshold_campaign, silver, store):
    # given
    purchase = buy(silver, store, "3000.00").purchase

    # when
    purchase_refund(purchase=purchase, actor=ACTOR)

    # then
    assert offers_of(silver) == [
        (f"purchase-{purchase.pk}", "fixed", Decimal("150.00"), "cancelled")
    ]


def test_partial_refund_keeps_the_coupon(threshold_campaign, silver, store):
    # given
    purchase = buy(silver, store, "3000.00").purchase

    # when
    purchase_refund(purchase=purchase, amount="100.00", actor=ACTOR)

    # then
    assert [o[3] for o in offers_of(silver)] == ["active"]


def test_refund_leaves_a_coupon_already_used(threshold_campaign, silver, store):
    # given the coupon of the first receipt was used on a second
    first = buy(silver, store, "3000.00").purchase
    buy(silver, store, "1000.00")

    # when the first is refunded in full
    purchase_refund(purchase=first, actor=ACTOR)

    # then the used coupon stays used (its discount was given)
    assert [o[3] for o in offers_of(silver)] == ["used", "active"]


def test_replayed_receipt_and_a_second_hook_run_give_one_coupon(threshold_campaign, silver, store):
    # given
    first = buy(silver, store, "3000.00", receipt="R-77")

    # when the desk retries the receipt and the hook runs again
    again = buy(silver, store, "3000.00", receipt="R-77")
    events.purchase_events_apply(
        purchase=first.purchase, member=silver, at=first.purchase.created_at, actor=ACTOR
    )

    # then
    assert again.replayed is True
    assert Purchase.objects.filter(member=silver).count() == 1
    assert len(offers_of(silver)) == 1
    assert Message.objects.filter(member=silver, kind="offer").count() == 1


def test_no_message_without_consent_but_the_coupon_is_issued(threshold_campaign, member, store):
    # when a member who gave no consent buys
    buy(member, store, "600.00")

    # then
    assert [o[2] for o in offers_of(member)] == [Decimal("50.00")]
    assert not Message.objects.filter(member=member, kind="offer").exists()


def test_holdout_member_gets_no_coupon_and_is_recorded(threshold_campaign, store, tiers):
    # given half the members held out
    threshold_campaign.holdout_percent = Decimal("50")
    threshold_campaign.save(update_fields=["holdout_percent"])
    held = consent(held_out_member(threshold_campaign, tier=tiers["Base"]))

    # when
    buy(held, store, "3000.00")

    # then
    assert offers_of(held) == []
    assert not Message.objects.filter(member=held).exclude(kind="receipt").exists()
    assert Participant.objects.get(campaign=threshold_campaign, member=held).is_holdout is True


def test_paused_campaign_gives_nothing(threshold_campaign, silver, store):
    # given
    threshold_campaign.status = "paused"
    threshold_campaign.save(update_fields=["status"])

    # when
    buy(silver, store, "3000.00")

    # then
    assert offers_of(silver) == []
