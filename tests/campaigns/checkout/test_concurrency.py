"""Campaign rewards under concurrent tills on PostgreSQL: real threads, each with its own
connection, released together by a barrier. Nothing is given twice or past a budget."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns.errors import BudgetExhausted, OfferNotUsable
from campaigns.models import Campaign, Grant, Offer, Participant, PurchaseCounter
from campaigns.services import core, purchases
from members.errors import NoRewardApplies
from members.models import Purchase
from tests import factories
from tests.threads import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent writers need PostgreSQL row locks (CI runs this on PostgreSQL)",
    ),
]

D = Decimal


def oks(results):
    return [value for status, value in results if status == "ok"]


def errors(results):
    return [value for status, value in results if status == "error"]


def test_one_offer_on_two_receipts_at_once_is_used_once(silver, buy):
    # given
    offer = factories.CampaignOfferFactory(member=silver)

    # when: two tills ring up two receipts, both picking the offer
    results = race(
        2, lambda i: buy(silver, "1000.00", receipt=f"R-{i}", choice=f"offer-{offer.pk}")
    )

    # then: one wins, the other is refused and recorded nothing
    [winner] = oks(results)
    [refusal] = errors(results)
    assert isinstance(refusal, NoRewardApplies)
    assert list(Purchase.objects.values_list("pk", flat=True)) == [winner.purchase.pk]
    offer.refresh_from_db()
    assert (offer.status, offer.purchase_id) == ("used", winner.purchase.pk)
    assert list(Grant.objects.values_list("purchase", flat=True)) == [winner.purchase.pk]


def test_the_offer_update_alone_lets_one_of_two_purchases_win(silver, buy):
    # given: two recorded purchases and the offer, claimed without the member's lock
    first, second = (buy(silver, "1000.00").purchase for _ in range(2))
    offer = factories.CampaignOfferFactory(member=silver, reward_kind="fixed")
    reward = core.offer_reward(offer)
    at = timezone.now()

    def claim(i):
        with transaction.atomic():
            return purchases.offer_use(
                reward=reward,
                member=silver,
                purchase=(first, second)[i],
                at=at,
                actor=purchases.purchase_actor(first),
            )

    # when
    results = race(2, claim)

    # then
    [grant] = oks(results)
    [refusal] = errors(results)
    assert isinstance(refusal, OfferNotUsable)
    offer.refresh_from_db()
    assert offer.purchase_id == grant.purchase_id
    assert Grant.objects.count() == 1


def test_concurrent_offers_never_pass_the_budget(tiers, buy):
    # given: five members with a 300 ₽ coupon each, a budget for two
    campaign = factories.OfferCampaignFactory(budget=D("600"))
    members = factories.MemberFactory.create_batch(5, tier=tiers["Silver"])
    for member in members:
        factories.CampaignOfferFactory(
            campaign=campaign, member=member, reward_kind="fixed", reward_value=D("300")
        )

    # when
    results = race(5, lambda i: buy(members[i], "1000.00", receipt=f"R-{i}"))

    # then: two coupons used, three receipts refused with nothing recorded
    assert len(oks(results)) == 2
    assert all(isinstance(e, BudgetExhausted) for e in errors(results))
    assert len(errors(results)) == 3
    assert Campaign.objects.get(pk=campaign.pk).spent == D("600.00")
    assert Grant.objects.count() == 2
    assert Purchase.objects.count() == 2
    assert Offer.objects.filter(status="used").count() == 2


def test_concurrent_sale_purchases_never_pass_the_sale_budget(tiers, buy):
    # given: four invited members, a budget for two 250 ₽ discounts
    now = timezone.now()
    sale = factories.ClosedSaleFactory(
        status=Campaign.Status.ACTIVE,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=1),
        budget=D("500"),
    )
    members = factories.MemberFactory.create_batch(4, tier=tiers["Gold"])
    for member in members:
        Participant.objects.create(campaign=sale, member=member, created_at=now)

    # when
    results = race(4, lambda i: buy(members[i], "1000.00", receipt=f"R-{i}"))

    # then
    assert {r.breakdown.base_discount for r in oks(results)} == {D("250.00")}
    assert len(oks(results)) == 2
    assert [type(e) for e in errors(results)] == [BudgetExhausted, BudgetExhausted]
    assert Campaign.objects.get(pk=sale.pk).spent == D("500.00")
    assert Grant.objects.count() == 2


def test_nth_reward_on_two_receipts_at_once_is_given_once(silver, buy):
    # given: 1/2
    campaign = factories.NthPurchaseCampaignFactory(every_n=2)
    buy(silver, "1000.00", receipt="R-first")

    # when: two receipts at once
    results = race(2, lambda i: buy(silver, "1000.00", receipt=f"R-{i}"))

    # then: one gets the reward, the other starts the next cycle
    assert errors(results) == []
    assert sorted(r.breakdown.code_discount for r in oks(results)) == [D("0.00"), D("475.00")]
    assert PurchaseCounter.objects.values_list("count", "cycle").get(campaign=campaign) == (1, 1)
    assert Grant.objects.count() == 1
