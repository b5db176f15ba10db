"""What a recorded purchase or refund does in campaigns (settings.LOYALTY_PURCHASE_HOOKS
and LOYALTY_REFUND_HOOKS), and the claim of a campaign reward in step 3; all inside
the checkout's or refund's transaction, under the member's row lock.

Every N-th purchase: each purchase a campaign counts gets a CountedPurchase row in the
member's current cycle, and the counter holds min(rows of the cycle not taken back,
N-1). The rewarded purchase closes its cycle (its row keeps the cycle it closed) and
the counter starts the next one at 0. A reward not used on the N-th purchase (another
offer was worth more) waits at N-1 for a later one. A full refund takes the purchase's
row back and counts the current cycle again; a full refund of the rewarded purchase
reopens its cycle, so the reward is due again, as long as nothing was counted after it.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils.translation import gettext as _

from campaigns import selectors
from campaigns.errors import OfferNotUsable
from campaigns.models import Campaign, CountedPurchase, Grant, Offer, PurchaseCounter
from campaigns.services import core, events
from loyalty import rules
from loyalty.actors import Actor
from members.models import Member, Purchase, Refund

SALE_PREFIX = "sale-"


def purchase_event_key(purchase: Purchase) -> str:
    return f"purchase-{purchase.pk}"


def _reference_id(reference: str, prefix: str) -> int:
    head, _dash, tail = reference.partition("-")
    if head != prefix or not tail.isdigit():
        raise OfferNotUsable()
    return int(tail)


def _reward_points(reward: rules.Reward) -> int:
    return int(reward.value) if reward.kind == rules.RewardKind.POINTS else 0


# --- Step 3: claiming a campaign's reward -----------------------------------------------


def offer_use(
    *, reward: rules.Reward, member: Member, purchase: Purchase, at: dt.datetime, actor: Actor
) -> Grant | None:
    """Mark the offer of `reward` used on `purchase` and record what it gave (budget,
    bonus points). Raises OfferNotUsable (used, burnt, cancelled, paused or another
    member's) or BudgetExhausted; the checkout then rolls back."""
    offer_id = _reference_id(reward.reference, "offer")
    campaigns = Campaign.objects.filter(status__in=selectors.OFFER_CAMPAIGN_STATUSES)
    # One guarded UPDATE on the offer's own row decides, so of two receipts using one
    # offer at once exactly one wins; the other sees 0 rows once the winner commits.
    won = Offer.objects.filter(
        core.usable_offers_condition(at),
        pk=offer_id,
        member=member,
        campaign__in=campaigns.values("pk"),
    ).update(status=Offer.Status.USED, purchase=purchase, used_at=at)
    if not won:
        raise OfferNotUsable()
    offer = Offer.objects.select_related("campaign").get(pk=offer_id)
    return core.grant_give(
        campaign=offer.campaign,
        member=member,
        event_key=purchase_event_key(purchase),
        at=at,
        actor=actor,
        discount=purchase.code_discount,
        points=_reward_points(reward),
        purchase=purchase,
        offer=offer,
    )


def nth_reward_give(
    *, reward: rules.Reward, member: Member, purchase: Purchase, at: dt.datetime, actor: Actor
) -> Grant | None:
    """Give an N-th purchase campaign's reward on `purchase` (the purchase hook then
    starts the member's next cycle). Raises OfferNotUsable when the counter no longer
    stands at N-1, BudgetExhausted when the budget cannot pay it; the checkout then
    rolls back."""
    campaign_id = _reference_id(reward.reference, "nth")
    # The checkout holds the member's lock, and counters move only under it.
    campaign = next(
        (c for c in selectors.nth_campaigns_due(member, at=at) if c.pk == campaign_id), None
    )
    if campaign is None:
        raise OfferNotUsable(_("This N-th purchase reward is no longer due."))
    return core.grant_give(
        campaign=campaign,
        member=member,
        event_key=purchase_event_key(purchase),
        at=at,
        actor=actor,
        discount=purchase.code_discount,
        points=_reward_points(reward),
        purchase=purchase,
    )


# --- After the purchase -----------------------------------------------------------------


def purchase_campaigns_apply(
    *, purchase: Purchase, member: Member, at: dt.datetime, actor: Actor
) -> None:
    """Count the purchase in live N-th purchase campaigns that target the member,
    record the closed sale's discount it got, then the event rewards (threshold,
    welcome, referral). Raises BudgetExhausted when a sale's budget ran out since the
    receipt was priced; the checkout then rolls back."""
    nth_campaigns = core.campaigns_live(Campaign.Kind.NTH_PURCHASE, at=at).filter(
        min_receipt__lte=purchase.total
    )
    for campaign in nth_campaigns:
        _purchase_count(campaign=campaign, member=member, purchase=purchase, at=at)
    _sale_discounts_record(purchase=purchase, member=member, at=at, actor=actor)
    events.purchase_events_apply(purchase=purchase, member=member, at=at, actor=actor)


def _is_rewarded(purchase: Purchase, campaign: Campaign) -> bool:
    return (
        purchase.reward_source == selectors.NTH_SOURCE
        and purchase.reward_reference == selectors.nth_reference(campaign)
    )


def _purchase_count(
    *, campaign: Campaign, member: Member, purchase: Purchase, at: dt.datetime
) -> None:
    if not core.member_reached(campaign, member, at=at):
        return
    counter = PurchaseCounter.objects.filter(campaign=campaign, member=member)
    cycle = counter.values_list("cycle", flat=True).first()
    if cycle is None:  # the member's first counted purchase in this campaign
        PurchaseCounter.objects.bulk_create(
            [PurchaseCounter(campaign=campaign, member=member, updated_at=at)],
            ignore_conflicts=True,
        )
        cycle = counter.values_list("cycle", flat=True).get()
    if _is_rewarded(purchase, campaign):
        counter.update(count=0, cycle=F("cycle") + 1, updated_at=at)
    else:
        counter.update(count=Least(F("count") + 1, Value(campaign.every_n - 1)), updated_at=at)
    CountedPurchase.objects.create(campaign=campaign, purchase=purchase, cycle=cycle)


def _sale_ids(purchase: Purchase) -> list[int]:
    # "sale-7", or "tier+sale-7" under the "sum, capped" stacking policy.
    return [
        int(source.removeprefix(SALE_PREFIX))
        for source in purchase.base_source.split("+")
        if source.startswith(SALE_PREFIX) and source.removeprefix(SALE_PREFIX).isdigit()
    ]


def _sale_discounts_record(
    *, purchase: Purchase, member: Member, at: dt.datetime, actor: Actor
) -> None:
    sale_ids = _sale_ids(purchase)
    if not sale_ids:
        return
    for campaign in Campaign.objects.filter(pk__in=sale_ids):
        if purchase.base_source == f"{SALE_PREFIX}{campaign.pk}":
            discount = purchase.base_discount
        else:  # a summed base rate: the sale's own part of it
            discount = min(
                purchase.base_discount, rules.percent_of(purchase.total, campaign.reward_value)
            )
        core.grant_give(
            campaign=campaign,
            member=member,
            event_key=purchase_event_key(purchase),
            at=at,
            actor=actor,
            discount=discount,
            purchase=purchase,
        )


# --- After a refund ---------------------------------------------------------------------


def purchase_campaigns_refund(*, purchase: Purchase, refund: Refund, actor: Actor) -> None:
    """On a full refund, take the purchase off the N-th purchase counters and take back
    what campaigns gave on it (budget, offer, unspent bonus points; core.grants_rollback,
    called from here only); then the event rewards' refund rules, on every refund."""
    if purchase.is_fully_refunded:
        at = refund.created_at
        _counters_take_back(purchase=purchase, at=at)
        core.grants_rollback(purchase=purchase, actor=actor, at=at)
    events.purchase_events_refund(purchase=purchase, refund=refund, actor=actor)


def _cycle_count(*, campaign: Campaign, member_id: int, cycle: int) -> int:
    return CountedPurchase.objects.filter(
        campaign=campaign, cycle=cycle, reverted_at__isnull=True, purchase__member_id=member_id
    ).count()


def _counters_take_back(*, purchase: Purchase, at: dt.datetime) -> None:
    rows = CountedPurchase.objects.filter(purchase=purchase, reverted_at__isnull=True)
    for counted in rows.select_related("campaign"):
        if not CountedPurchase.objects.filter(pk=counted.pk, reverted_at__isnull=True).update(
            reverted_at=at
        ):
            continue  # a concurrent refund took it back
        campaign = counted.campaign
        member_id = purchase.member_id
        # The refund holds the member's lock: the counter cannot move between the
        # read and the update.
        counter = PurchaseCounter.objects.filter(campaign=campaign, member_id=member_id)
        current = counter.values_list("cycle", flat=True).first()
        if current is None:
            continue
        if _is_rewarded(purchase, campaign):
            if current != counted.cycle + 1 or _cycle_count(
                campaign=campaign, member_id=member_id, cycle=current
            ):
                continue  # counted on since: the reward stays used
            count = _cycle_count(campaign=campaign, member_id=member_id, cycle=counted.cycle)
            counter.update(
                cycle=counted.cycle, count=min(count, campaign.every_n - 1), updated_at=at
            )
        elif current == counted.cycle:
            count = _cycle_count(campaign=campaign, member_id=member_id, cycle=current)
            counter.update(count=min(count, campaign.every_n - 1), updated_at=at)


def purchase_actor(purchase: Purchase) -> Actor:
    """Who recorded the purchase, for the audit trail of what claiming a reward writes."""
    return Actor(channel=purchase.channel, user=purchase.recorded_by, partner=purchase.partner)
