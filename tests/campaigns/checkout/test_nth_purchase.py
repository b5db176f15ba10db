"""Every N-th purchase (PRODUCT.md mechanic 5, issue 5 acceptance 1) through the checkout.

The counter holds the purchases counted in the member's current cycle (0 … N-1); the
N-th purchase itself gets the reward in step 3 and starts the next cycle. A full refund
takes its purchase off the counter:
- a purchase of the current cycle: the counter goes one back (4/5 → 3/5), so one more
  purchase is needed before the reward;
- a purchase of a cycle already rewarded: nothing to take back (the reward was given);
- the rewarded purchase itself, while nothing was counted after it: its cycle reopens
  at 4/5, the reward's cost goes back to the budget and the next purchase gets it again.
Partial refunds do not move the counter.
"""

from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from campaigns import selectors
from campaigns.models import Campaign, CountedPurchase, Grant, Participant, PurchaseCounter
from campaigns.services import core
from loyalty import rules
from loyalty.actors import Actor
from members.errors import NoRewardApplies
from members.models import Purchase
from members.services import checkout_evaluate, purchase_refund
from tests import factories

pytestmark = pytest.mark.django_db

D = Decimal
ACTOR = Actor.for_task("test")
NAME = "Every 5th purchase 50% off"


def reward_label(n: int, name: str) -> str:
    return ngettext(
        "Reward for every %(n)s purchase: %(name)s",
        "Reward for every %(n)s purchases: %(name)s",
        n,
    ) % {"n": n, "name": name}


def still_to_go(count: int) -> str:
    return ngettext(
        "%(count)s more purchase to the reward",
        "%(count)s more purchases to the reward",
        count,
    ) % {"count": count}


@pytest.fixture
def every_fifth():
    return factories.NthPurchaseCampaignFactory(name=NAME)


def counter_of(campaign, member) -> tuple[int, int] | None:
    """(count, cycle) of the member's counter, None when there is none."""
    return (
        PurchaseCounter.objects.filter(campaign=campaign, member=member)
        .values_list("count", "cycle")
        .first()
    )


def progress_of(member) -> list[tuple[str, int, int, int, str]]:
    return [
        (p.campaign.name, p.count, p.every_n, p.remaining, p.label)
        for p in selectors.member_counters(member, at=timezone.now())
    ]


def nth_steps(breakdown) -> list[rules.Step]:
    return [s for s in breakdown.steps if s.rule == "nth_purchase"]


def test_every_fifth_purchase_gets_half_off_and_progress_is_shown(every_fifth, silver, store, buy):
    # given: a member who never bought shows 0/5
    assert progress_of(silver) == [(NAME, 0, 5, 5, still_to_go(5))]

    # when: purchases 1-4
    seen = []
    for _ in range(4):
        result = buy(silver, "1000.00")
        assert nth_steps(result.breakdown) == []
        seen.append(progress_of(silver)[0][1:4])

    # then: progress after each, 4/5 after the fourth
    assert seen == [(1, 5, 4), (2, 5, 3), (3, 5, 2), (4, 5, 1)]
    [progress] = selectors.member_counters(silver, at=timezone.now())
    assert progress.fraction == "4/5"
    assert progress.label == gettext("The next purchase gets the reward")

    # when: the fifth is evaluated, then committed
    evaluated = checkout_evaluate(member=silver, store=store, total="1000.00")
    fifth = buy(silver, "1000.00")

    # then: 50% of T - D1 in step 3, naming the rule, on the evaluation and the receipt
    step = rules.Step("nth_purchase", reward_label(5, NAME), D("475.00"), f"nth-{every_fifth.pk}")
    assert nth_steps(evaluated.breakdown) == [step]
    b = fifth.breakdown
    assert (b.base_discount, b.code_discount, b.paid) == (D("50.00"), D("475.00"), D("475.00"))
    assert nth_steps(b) == [step]
    purchase = fifth.purchase
    assert (purchase.reward_source, purchase.reward_reference) == (
        "nth_purchase",
        f"nth-{every_fifth.pk}",
    )
    assert {
        "rule": "nth_purchase",
        "label": reward_label(5, NAME),
        "amount": "475.00",
        "detail": f"nth-{every_fifth.pk}",
    } in purchase.steps
    assert list(Grant.objects.values_list("campaign", "purchase", "discount", "points")) == [
        (every_fifth.pk, purchase.pk, D("475.00"), 0)
    ]
    assert counter_of(every_fifth, silver) == (0, 1)
    assert progress_of(silver) == [(NAME, 0, 5, 5, still_to_go(5))]

    # when: the sixth
    sixth = buy(silver, "1000.00")

    # then: no reward, a new cycle counts
    assert sixth.breakdown.code_discount == D("0.00")
    assert counter_of(every_fifth, silver) == (1, 1)


def test_refund_of_the_third_before_the_fifth_moves_the_counter_back(every_fifth, silver, buy):
    # given: four purchases, 4/5
    bought = [buy(silver, "1000.00").purchase for _ in range(4)]
    assert counter_of(every_fifth, silver) == (4, 0)

    # when: the third is fully refunded
    purchase_refund(purchase=bought[2], actor=ACTOR)

    # then: 3/5; the next purchase is the fourth (no reward), the one after gets it
    assert counter_of(every_fifth, silver) == (3, 0)
    assert progress_of(silver)[0][1:4] == (3, 5, 2)
    fourth = buy(silver, "1000.00")
    assert fourth.breakdown.code_discount == D("0.00")
    assert counter_of(every_fifth, silver) == (4, 0)
    fifth = buy(silver, "1000.00")
    assert fifth.breakdown.code_discount == D("475.00")
    assert counter_of(every_fifth, silver) == (0, 1)


def test_refund_of_the_third_after_the_fifth_changes_nothing(every_fifth, silver, buy):
    # given: five purchases, the fifth rewarded
    bought = [buy(silver, "1000.00").purchase for _ in range(5)]
    assert counter_of(every_fifth, silver) == (0, 1)

    # when
    purchase_refund(purchase=bought[2], actor=ACTOR)

    # then: the reward was given already; the third is marked taken back
    assert counter_of(every_fifth, silver) == (0, 1)
    assert CountedPurchase.objects.get(purchase=bought[2]).reverted_at is not None
    assert Grant.objects.get().rolled_back_at is None


def test_refund_of_the_rewarded_purchase_reopens_its_cycle(every_fifth, silver, buy):
    # given: five purchases, the fifth rewarded, within a budget
    Campaign.objects.filter(pk=every_fifth.pk).update(budget=D("1000.00"))
    bought = [buy(silver, "1000.00").purchase for _ in range(5)]
    assert Campaign.objects.get(pk=every_fifth.pk).spent == D("475.00")

    # when: the fifth is fully refunded
    purchase_refund(purchase=bought[4], actor=ACTOR)

    # then: 4/5 again, the cost back in the budget, and the next purchase gets the reward
    assert counter_of(every_fifth, silver) == (4, 0)
    assert Campaign.objects.get(pk=every_fifth.pk).spent == D("0.00")
    assert Grant.objects.get(purchase=bought[4]).rolled_back_at is not None
    again = buy(silver, "1000.00")
    assert again.breakdown.code_discount == D("475.00")
    assert counter_of(every_fifth, silver) == (0, 1)
    assert Campaign.objects.get(pk=every_fifth.pk).spent == D("475.00")


def test_refund_of_the_rewarded_purchase_after_a_later_one_keeps_the_reward_used(
    every_fifth, silver, buy
):
    # given: five purchases, the fifth rewarded, then a sixth
    bought = [buy(silver, "1000.00").purchase for _ in range(6)]

    # when: the fifth is fully refunded
    purchase_refund(purchase=bought[4], actor=ACTOR)

    # then: the new cycle stays; the reward's grant is rolled back
    assert counter_of(every_fifth, silver) == (1, 1)
    assert Grant.objects.get(purchase=bought[4]).rolled_back_at is not None


def test_partial_refund_does_not_move_the_counter(every_fifth, silver, buy):
    # given
    bought = [buy(silver, "1000.00").purchase for _ in range(3)]

    # when: half of the second, then the rest
    purchase_refund(purchase=bought[1], amount="400.00", actor=ACTOR)

    # then
    assert counter_of(every_fifth, silver) == (3, 0)

    # when
    purchase_refund(purchase=bought[1], actor=ACTOR)

    # then: fully refunded now
    assert counter_of(every_fifth, silver) == (2, 0)


def test_reward_waits_when_another_offer_wins_the_nth_purchase(every_fifth, silver, buy):
    # given: 4/5 and a 600 ₽ coupon, worth more than 50% of 950
    for _ in range(4):
        buy(silver, "1000.00")
    coupon = factories.CampaignOfferFactory(
        member=silver, reward_kind="fixed", reward_value=D("600"), title="Coupon 600"
    )

    # when: the fifth purchase
    fifth = buy(silver, "1000.00")

    # then: the coupon wins, the reward waits at 4/5
    assert (fifth.purchase.reward_source, fifth.purchase.reward_reference) == (
        "offer",
        f"offer-{coupon.pk}",
    )
    assert fifth.breakdown.code_discount == D("600.00")
    assert counter_of(every_fifth, silver) == (4, 0)

    # when: the sixth
    sixth = buy(silver, "1000.00")

    # then: it gets the reward
    assert sixth.purchase.reward_source == "nth_purchase"
    assert sixth.breakdown.code_discount == D("475.00")
    assert counter_of(every_fifth, silver) == (0, 1)


def test_refund_of_an_earlier_purchase_while_the_reward_waits_keeps_it_due(
    every_fifth, silver, buy
):
    # given: purchases 1-4, the fifth used a coupon (counted, the counter stays at 4/5)
    bought = [buy(silver, "1000.00").purchase for _ in range(4)]
    factories.CampaignOfferFactory(member=silver, reward_kind="fixed", reward_value=D("600"))
    buy(silver, "1000.00")

    # when: the second is refunded
    purchase_refund(purchase=bought[1], actor=ACTOR)

    # then: four purchases still count (1, 3, 4, 5): the reward is still due
    assert counter_of(every_fifth, silver) == (4, 0)


def test_cashier_picks_the_nth_reward_over_a_bigger_coupon(every_fifth, silver, buy):
    # given
    for _ in range(4):
        buy(silver, "1000.00")
    coupon = factories.CampaignOfferFactory(
        member=silver, reward_kind="fixed", reward_value=D("600")
    )

    # when
    fifth = buy(silver, "1000.00", choice=f"nth-{every_fifth.pk}")

    # then
    assert fifth.breakdown.code_discount == D("475.00")
    assert counter_of(every_fifth, silver) == (0, 1)
    coupon.refresh_from_db()
    assert coupon.status == "active"


def test_holdout_member_is_not_counted_and_gets_nothing(silver, buy, tiers):
    # given: half the members held out; one of them
    campaign = factories.NthPurchaseCampaignFactory(holdout_percent=D("50"), every_n=2)
    held = next(
        m
        for m in (factories.MemberFactory(tier=tiers["Silver"]) for _ in range(40))
        if core.is_holdout(campaign, m.pk)
    )

    # when: two purchases
    results = [buy(held, "1000.00") for _ in range(2)]

    # then: recorded as held out, no counter, no reward, no progress shown
    assert [r.breakdown.code_discount for r in results] == [D("0.00"), D("0.00")]
    assert list(Participant.objects.filter(member=held).values_list("is_holdout", flat=True)) == [
        True
    ]
    assert counter_of(campaign, held) is None
    assert progress_of(held) == []
    assert not Grant.objects.exists()


def test_paused_campaign_gives_nothing(every_fifth, silver, buy):
    # given: 4/5, then the campaign is paused
    for _ in range(4):
        buy(silver, "1000.00")
    Campaign.objects.filter(pk=every_fifth.pk).update(status=Campaign.Status.PAUSED)

    # when
    fifth = buy(silver, "1000.00")

    # then: no reward, not counted, no progress shown
    assert fifth.breakdown.code_discount == D("0.00")
    assert counter_of(every_fifth, silver) == (4, 0)
    assert progress_of(silver) == []
    with pytest.raises(NoRewardApplies):
        buy(silver, "1000.00", choice=f"nth-{every_fifth.pk}")


def test_receipt_below_the_minimum_is_not_counted_and_not_rewarded(silver, buy):
    # given
    campaign = factories.NthPurchaseCampaignFactory(every_n=2, min_receipt=D("500.00"))

    # when: a small receipt, a big one (1/2), then a small one again
    buy(silver, "499.99")
    buy(silver, "500.00")
    small = buy(silver, "499.99")

    # then: the small ones neither count nor get the reward
    assert small.breakdown.code_discount == D("0.00")
    assert counter_of(campaign, silver) == (1, 0)

    # when: a big one
    big = buy(silver, "500.00")

    # then
    assert big.breakdown.code_discount == D("237.50")
    assert counter_of(campaign, silver) == (0, 1)


def test_frozen_segment_counts_only_its_participants(silver, buy, tiers):
    # given: a frozen campaign with the member in, another member out
    campaign = factories.NthPurchaseCampaignFactory(every_n=2, is_segment_frozen=True)
    Participant.objects.create(campaign=campaign, member=silver, created_at=timezone.now())
    outsider = factories.MemberFactory(tier=tiers["Silver"])

    # when
    for _ in range(2):
        buy(silver, "1000.00")
        buy(outsider, "1000.00")

    # then
    assert counter_of(campaign, silver) == (0, 1)
    assert counter_of(campaign, outsider) is None
    assert Purchase.objects.filter(reward_source="nth_purchase").count() == 1


def test_points_reward_is_granted_on_the_nth_purchase(silver, buy):
    # given
    campaign = factories.NthPurchaseCampaignFactory(
        every_n=2, reward_kind="points", reward_value=D("300")
    )
    buy(silver, "1000.00")

    # when
    second = buy(silver, "1000.00")

    # then: 300 points on top of the 19 earned
    assert second.breakdown.reward_points == 300
    grant = Grant.objects.get(campaign=campaign)
    assert (grant.points, grant.cost, grant.points_lot.amount) == (300, D("300.00"), 300)
    silver.refresh_from_db()
    assert silver.points_balance == 19 + 300 + 19


def test_evaluate_writes_nothing(every_fifth, silver, store, buy):
    # given: a live-segment campaign with a holdout, a member who never bought
    Campaign.objects.filter(pk=every_fifth.pk).update(holdout_percent=D("10"))

    # when
    checkout_evaluate(member=silver, store=store, total="1000.00")

    # then
    assert not Participant.objects.exists()
    assert not PurchaseCounter.objects.exists()
    assert not CountedPurchase.objects.exists()


def test_member_counters_costs_one_query_without_segments(silver, django_assert_num_queries):
    # given: three live campaigns, counters in two of them
    campaigns = factories.NthPurchaseCampaignFactory.create_batch(3)
    at = timezone.now()
    for campaign, count in zip(campaigns[:2], [1, 3], strict=True):
        PurchaseCounter.objects.create(campaign=campaign, member=silver, count=count, updated_at=at)

    # when
    with django_assert_num_queries(1):
        progress = selectors.member_counters(silver, at=at)

    # then
    assert [(p.campaign, p.count, p.remaining) for p in progress] == [
        (campaigns[0], 1, 4),
        (campaigns[1], 3, 2),
        (campaigns[2], 0, 5),
    ]
