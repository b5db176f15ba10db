"""Personal offers, coupons and gifts in step 3 of the checkout, against promo codes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns import selectors
from campaigns.errors import OfferNotUsable
from campaigns.models import Campaign, Grant, Offer
from campaigns.provider import CampaignRewardProvider
from campaigns.services.core import offer_reward
from loyalty.actors import Actor
from members.errors import NoRewardApplies
from members.models import LedgerEntry, Purchase
from members.services import checkout_evaluate, purchase_refund
from members.services.checkout import CheckoutContext
from promocodes.models import PromoCode
from tests import factories

pytestmark = pytest.mark.django_db

D = Decimal
ACTOR = Actor.for_task("test")


def offer_of(member, *, value="30", kind="percent", **fields):
    return factories.CampaignOfferFactory(
        member=member, reward_kind=kind, reward_value=D(value), **fields
    )


def personal_code(member, *, kind="percent", value="10"):
    return factories.PromoCodeFactory(
        member=member, batch__reward_kind=kind, batch__reward_value=D(value)
    )


def test_offer_worth_most_wins_over_a_personal_code(silver, buy):
    # given: a 30% offer (285.00 on 1,000) and a 10% personal code (95.00)
    offer = offer_of(silver)
    code = personal_code(silver)

    # when
    result = buy(silver, "1000.00")

    # then: the offer, named in the steps; the code stays unused
    purchase = result.purchase
    assert (purchase.reward_source, purchase.reward_reference) == ("offer", f"offer-{offer.pk}")
    assert result.breakdown.code_discount == D("285.00")
    assert [s for s in purchase.steps if s["rule"] == "offer"] == [
        {"rule": "offer", "label": offer.title, "amount": "285.00", "detail": f"offer-{offer.pk}"}
    ]
    offer.refresh_from_db()
    assert (offer.status, offer.purchase_id) == ("used", purchase.pk)
    assert list(Grant.objects.values_list("offer", "purchase", "discount", "cost")) == [
        (offer.pk, purchase.pk, D("285.00"), D("285.00"))
    ]
    assert PromoCode.objects.get(pk=code.pk).uses == 0


def test_personal_code_worth_more_wins_over_the_offer(silver, buy):
    # given: a 500 ₽ code against 30% of 950
    offer = offer_of(silver)
    code = personal_code(silver, kind="fixed", value="500")

    # when
    result = buy(silver, "1000.00")

    # then
    assert (result.purchase.reward_source, result.purchase.reward_reference) == (
        "code",
        code.code,
    )
    offer.refresh_from_db()
    assert offer.status == "active"
    assert not Grant.objects.exists()


def test_cashier_picks_the_offer_by_its_reference(silver, buy):
    # given
    offer = offer_of(silver, value="10")
    personal_code(silver, kind="fixed", value="500")

    # when
    result = buy(silver, "1000.00", choice=f"offer-{offer.pk}")

    # then
    assert result.purchase.reward_reference == f"offer-{offer.pk}"
    assert result.breakdown.code_discount == D("95.00")


def test_a_typed_code_beats_the_offer(silver, store):
    # given
    offer = offer_of(silver, value="50")
    code = factories.PromoCodeFactory()

    # when
    result = checkout_evaluate(member=silver, store=store, total="1000.00", code=code.code)

    # then: the offer is listed, the typed code applies
    assert result.breakdown.reward.reference == code.code
    assert {r.reference for r in result.options} == {code.code, f"offer-{offer.pk}"}


def test_used_offer_cannot_be_used_again(silver, buy):
    # given
    offer = offer_of(silver)
    buy(silver, "1000.00")

    # when
    with pytest.raises(NoRewardApplies):
        buy(silver, "1000.00", choice=f"offer-{offer.pk}", receipt="R-2")

    # then: nothing changed
    assert Purchase.objects.count() == 1
    assert Grant.objects.count() == 1


def test_gift_is_used_only_when_picked(silver, buy):
    # given: a gift is worth nothing on the receipt
    gift = offer_of(silver, kind="gift", value="0", gift_name="Tote bag")

    # when
    plain = buy(silver, "1000.00")
    picked = buy(silver, "1000.00", choice=f"offer-{gift.pk}")

    # then
    assert plain.purchase.reward_source == ""
    assert picked.purchase.reward_reference == f"offer-{gift.pk}"
    assert list(Grant.objects.values_list("offer", "discount", "cost")) == [
        (gift.pk, D("0.00"), D("0.00"))
    ]


def test_offers_of_a_paused_campaign_are_not_usable(silver, buy):
    # given
    offer = offer_of(silver)
    Campaign.objects.filter(pk=offer.campaign_id).update(status=Campaign.Status.PAUSED)

    # when
    result = buy(silver, "1000.00")

    # then
    assert result.purchase.reward_source == ""
    assert list(selectors.member_offers_usable(silver, at=timezone.now())) == []


def test_offers_of_a_finished_campaign_stay_usable_until_their_deadline(silver, buy):
    # given: a threshold coupon earned before its campaign finished
    offer = offer_of(silver, value="10")
    Campaign.objects.filter(pk=offer.campaign_id).update(status=Campaign.Status.FINISHED)

    # when
    result = buy(silver, "1000.00")

    # then
    assert result.purchase.reward_reference == f"offer-{offer.pk}"


def test_offer_of_a_used_up_budget_is_not_offered(silver, buy):
    # given
    offer = offer_of(silver)
    Campaign.objects.filter(pk=offer.campaign_id).update(budget=D("100"), spent=D("100"))

    # when
    result = buy(silver, "1000.00")

    # then
    assert result.purchase.reward_source == ""


def test_offer_over_the_budget_left_is_left_out_and_the_receipt_goes_through(silver, buy):
    # given: 100 ₽ left, the offer would give 285, a 10% personal code would give 95
    offer = offer_of(silver)
    code = personal_code(silver)
    Campaign.objects.filter(pk=offer.campaign_id).update(budget=D("1000"), spent=D("900"))

    # when
    result = buy(silver, "1000.00")

    # then: the best reward the campaigns can still pay applies, the offer waits
    assert (result.purchase.reward_source, result.purchase.reward_reference) == (
        "code",
        code.code,
    )
    offer.refresh_from_db()
    assert offer.status == "active"
    assert Campaign.objects.get(pk=offer.campaign_id).spent == D("900.00")


def test_an_offer_the_budget_left_still_pays_is_offered(silver, buy):
    # given: 300 ₽ left, the offer gives 285
    offer = offer_of(silver)
    Campaign.objects.filter(pk=offer.campaign_id).update(budget=D("1000"), spent=D("700"))

    # when
    result = buy(silver, "1000.00")

    # then
    assert result.purchase.reward_reference == f"offer-{offer.pk}"
    assert Campaign.objects.get(pk=offer.campaign_id).spent == D("985.00")


def test_offer_burns_at_its_deadline_in_the_checkout(silver, store):
    # given
    offer = offer_of(silver)

    # when
    before = checkout_evaluate(
        member=silver,
        store=store,
        total="1000.00",
        at=offer.valid_until - dt.timedelta(microseconds=1),
    )
    at_deadline = checkout_evaluate(
        member=silver, store=store, total="1000.00", at=offer.valid_until
    )

    # then
    assert before.breakdown.reward.reference == f"offer-{offer.pk}"
    assert at_deadline.breakdown.reward is None


def test_full_refund_gives_the_offer_and_the_budget_back(silver, buy):
    # given
    offer = offer_of(silver)
    Campaign.objects.filter(pk=offer.campaign_id).update(budget=D("1000"))
    purchase = buy(silver, "1000.00").purchase
    assert Campaign.objects.get(pk=offer.campaign_id).spent == D("285.00")

    # when
    purchase_refund(purchase=purchase, actor=ACTOR)

    # then
    offer.refresh_from_db()
    assert (offer.status, offer.purchase_id, offer.used_at) == ("active", None, None)
    assert Campaign.objects.get(pk=offer.campaign_id).spent == D("0.00")
    assert Grant.objects.get().rolled_back_at is not None

    # when: the next receipt
    again = buy(silver, "1000.00")

    # then
    assert again.purchase.reward_reference == f"offer-{offer.pk}"


def test_full_refund_after_the_deadline_keeps_the_offer_used(silver, buy):
    # given
    offer = offer_of(silver)
    purchase = buy(silver, "1000.00").purchase
    Offer.objects.filter(pk=offer.pk).update(valid_until=timezone.now())

    # when
    purchase_refund(purchase=purchase, actor=ACTOR)

    # then: burnt meanwhile; the budget still gets the cost back
    offer.refresh_from_db()
    assert offer.status == "used"
    assert Campaign.objects.get(pk=offer.campaign_id).spent == D("0.00")


def test_partial_refund_keeps_the_offer_used(silver, buy):
    # given
    offer = offer_of(silver)
    purchase = buy(silver, "1000.00").purchase

    # when
    purchase_refund(purchase=purchase, amount="100.00", actor=ACTOR)

    # then
    offer.refresh_from_db()
    assert offer.status == "used"
    assert Grant.objects.get().rolled_back_at is None


def test_points_offer_grants_points_and_a_refund_takes_them_back(silver, buy):
    # given
    offer_of(silver, kind="points", value="200")

    # when
    purchase = buy(silver, "1000.00").purchase

    # then: 200 bonus points and 19 earned
    silver.refresh_from_db()
    assert silver.points_balance == 219
    assert list(LedgerEntry.objects.filter(kind="grant").values_list("amount", flat=True)) == [200]

    # when
    purchase_refund(purchase=purchase, actor=ACTOR)

    # then
    silver.refresh_from_db()
    assert silver.points_balance == 0


def test_claiming_another_members_offer_is_refused(silver, tiers, buy):
    # given: the offer of someone else, claimed directly
    other = factories.MemberFactory(tier=tiers["Silver"])
    offer = offer_of(other)
    purchase = buy(silver, "1000.00").purchase
    provider = CampaignRewardProvider()
    ctx = CheckoutContext(
        member=silver,
        store=purchase.store,
        total=D("1000.00"),
        at=timezone.now(),
    )

    # when / then
    with pytest.raises(OfferNotUsable):
        provider.claim(offer_reward(offer), ctx=ctx, purchase=purchase)
    offer.refresh_from_db()
    assert offer.status == "active"


def test_member_offers_usable_lists_soonest_deadline_first(silver, django_assert_num_queries):
    # given
    now = timezone.now()
    later = offer_of(silver, valid_until=now + dt.timedelta(days=9))
    sooner = offer_of(silver, valid_until=now + dt.timedelta(days=2))
    offer_of(silver, valid_until=now - dt.timedelta(minutes=1))
    offer_of(silver, valid_from=now + dt.timedelta(days=1))
    offer_of(silver, status="cancelled")
    offer_of(factories.MemberFactory())

    # when
    with django_assert_num_queries(1):
        offers = [(o.pk, o.campaign.name) for o in selectors.member_offers_usable(silver, at=now)]

    # then
    assert offers == [(sooner.pk, sooner.campaign.name), (later.pk, later.campaign.name)]
