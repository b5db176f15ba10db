"""Campaigns in the checkout: personal offers and N-th purchase rewards compete in step 3
(settings.LOYALTY_REWARD_PROVIDERS); an open closed sale is a step-2 base-rate
candidate for invited members (settings.LOYALTY_BASE_RATE_PROVIDERS)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns import selectors
from campaigns.errors import BudgetExhausted
from campaigns.models import Campaign
from campaigns.services import core, purchases
from loyalty import rules
from loyalty.actors import Actor


def nth_reward(campaign: Campaign) -> rules.Reward:
    """The step-3 reward of an N-th purchase campaign; its reference names the campaign."""
    label = ngettext(
        "Reward for every %(n)s purchase: %(name)s",
        "Reward for every %(n)s purchases: %(name)s",
        campaign.every_n,
    ) % {"n": campaign.every_n, "name": campaign.name}
    return rules.Reward(
        source=selectors.NTH_SOURCE,
        label=label,
        kind=rules.RewardKind(campaign.reward_kind),
        value=campaign.reward_value,
        cap=campaign.reward_cap,
        min_receipt=campaign.min_receipt,
        reference=selectors.nth_reference(campaign),
    )


def _budget_covers(campaign, reward: rules.Reward, *, total) -> bool:
    """Whether what is left of the campaign's budget pays the most this reward can cost
    on a receipt of `total` (before the base discount, so never less than it costs)."""
    if reward.kind == rules.RewardKind.POINTS:
        cost = rules.money(int(reward.value) * settings.LOYALTY_POINT_VALUE)
    else:
        cost = rules.reward_discount(reward, total=total, after_base=total)
    return core.budget_pays(campaign, cost)


class CampaignRewardProvider:
    name = "campaign"

    def candidates(self, ctx) -> list[rules.Reward]:
        """The member's usable offers, coupons and gifts, and the reward of every N-th
        purchase campaign whose N-th purchase this receipt is (when it is big enough)."""
        offered = [
            (offer.campaign, core.offer_reward(offer))
            for offer in selectors.member_offers_usable(ctx.member, at=ctx.at)
        ]
        offered.extend(
            (campaign, nth_reward(campaign))
            for campaign in selectors.nth_campaigns_due(ctx.member, at=ctx.at)
            if ctx.total >= campaign.min_receipt
        )
        # A reward whose campaign can no longer pay for it on this receipt is left out,
        # so the best one by itself never fails the commit with a used-up budget.
        return [
            reward
            for campaign, reward in offered
            if _budget_covers(campaign, reward, total=ctx.total)
        ]

    def claim(self, reward: rules.Reward, *, ctx, purchase) -> None:
        give = purchases.offer_use if reward.source == "offer" else purchases.nth_reward_give
        give(
            reward=reward,
            member=ctx.member,
            purchase=purchase,
            at=ctx.at,
            actor=purchases.purchase_actor(purchase),
        )

    def release(self, *, purchase, full_refund: bool, actor: Actor) -> None:
        """Nothing here: the refund hook (purchases.purchase_campaigns_refund) takes back
        every campaign reward of a fully refunded purchase at once, closed-sale
        discounts included, so the rollback runs in one place, once."""


class ClosedSaleRateProvider:
    def candidates(self, ctx) -> list[rules.BaseRate]:
        """The rate of every open closed sale the member is invited to, while its budget
        can pay the discount on this receipt. A sale the cashier named (`ctx.sale`) is
        checked first: SaleNotFound, SaleNotInvited, SaleNotOpen or BudgetExhausted."""
        if ctx.member.pk is None:  # priced before it is saved (the demo's replay)
            return []
        named = getattr(ctx, "sale", None)
        if named is not None:
            named = selectors.closed_sale_check(named, member=ctx.member, at=ctx.at).pk
        rates = []
        for sale in selectors.member_sales_open(ctx.member, at=ctx.at):
            if not core.budget_pays(sale, rules.percent_of(ctx.total, sale.reward_value)):
                if sale.pk == named:
                    raise BudgetExhausted()
                continue
            rates.append(
                rules.BaseRate(
                    f"{purchases.SALE_PREFIX}{sale.pk}",
                    _("Closed sale: %(name)s") % {"name": sale.name},
                    sale.reward_value,
                )
            )
        return rates
