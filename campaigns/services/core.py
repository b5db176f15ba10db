"""What every campaign mechanic shares: holdout assignment, freezing a segment into
participants, issuing offers (one or a whole segment at once), giving a reward once
within the budget, and taking it back on a refund."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import formats, translation
from django.utils.translation import gettext as _

from campaigns.errors import BudgetExhausted
from campaigns.models import Campaign, Grant, Offer, Participant
from loyalty import rules
from loyalty.actors import Actor
from loyalty.context_processors import currency_symbol
from members.models import LedgerEntry, Member, Purchase

# --- Holdout ----------------------------------------------------------------------------

# A member's holdout bucket (0-9,999) is a Fibonacci hash of the member id shifted by
# the campaign: deterministic (the same member is always in or out of one campaign, on
# every run and in SQL and Python alike), spread evenly over consecutive ids, and a
# different arc of members for each campaign. Compared with the holdout in basis points.
_HASH_MULTIPLIER = 2654435761  # ⌊2³² / φ⌋
_HASH_MODULUS = 2**32
_CAMPAIGN_SHIFT = 7919
BUCKETS = 10_000


def holdout_bucket(*, campaign_id: int, member_id: int) -> int:
    mixed = ((member_id + campaign_id * _CAMPAIGN_SHIFT) * _HASH_MULTIPLIER) % _HASH_MODULUS
    return mixed * BUCKETS // _HASH_MODULUS


def holdout_threshold(campaign: Campaign) -> int:
    """Buckets below this are held out (10.00% → 1,000 of 10,000)."""
    return int(campaign.holdout_percent * BUCKETS / 100)


def is_holdout(campaign: Campaign, member_id: int) -> bool:
    return holdout_bucket(campaign_id=campaign.pk, member_id=member_id) < holdout_threshold(
        campaign
    )


def _holdout_sql(member_column: str) -> str:
    """holdout_bucket() as SQL over `member_column`; params: campaign id, threshold.
    Integer arithmetic only (bigint on PostgreSQL, 64-bit on SQLite), no overflow for
    member ids below 3·10⁹."""
    return (
        f"(((({member_column} + %s) * {_HASH_MULTIPLIER}) %% {_HASH_MODULUS}) * {BUCKETS}"
        f" / {_HASH_MODULUS}) < %s"
    )


# --- Who a campaign targets -------------------------------------------------------------


def freezes_segment(campaign: Campaign) -> bool:
    """Offers and closed sales always go to the members frozen at their start."""
    return campaign.is_segment_frozen or campaign.kind in (
        Campaign.Kind.OFFER,
        Campaign.Kind.CLOSED_SALE,
    )


def campaign_members(campaign: Campaign) -> QuerySet[Member]:
    """The members the campaign's segment holds now (every member without a segment)."""
    from campaigns.segments import segment_members

    if campaign.segment_id is None:
        return Member.objects.all()
    return segment_members(campaign.segment)


def member_targeted(campaign: Campaign, member: Member) -> bool:
    """Whether the campaign's reward is for this member: in its segment (frozen or
    live) and not held out. Reads only."""
    if freezes_segment(campaign):
        return Participant.objects.filter(
            campaign=campaign, member=member, is_holdout=False
        ).exists()
    if is_holdout(campaign, member.pk):
        return False
    if campaign.segment_id is None:
        return True
    return campaign_members(campaign).filter(pk=member.pk).exists()


def participant_record(*, campaign: Campaign, member: Member, at: dt.datetime) -> Participant:
    """Record that a live-segment campaign reached the member, with their holdout group
    (so the reports know who was held out); the existing row if there is one."""
    participant = Participant.objects.filter(campaign=campaign, member=member).first()
    if participant is not None:
        return participant
    try:
        with transaction.atomic():
            return Participant.objects.create(
                campaign=campaign,
                member=member,
                is_holdout=is_holdout(campaign, member.pk),
                created_at=at,
            )
    except IntegrityError:  # a concurrent purchase recorded it first
        return Participant.objects.get(campaign=campaign, member=member)


def member_reached(campaign: Campaign, member: Member, *, at: dt.datetime) -> bool:
    """Whether an event of the member's (a purchase) gets the campaign's reward, as
    member_targeted, but a live-segment campaign records the member as its participant
    with their holdout group on the way, so the reports count the held-out too."""
    if freezes_segment(campaign):
        return member_targeted(campaign, member)
    if (
        campaign.segment_id is not None
        and not campaign_members(campaign).filter(pk=member.pk).exists()
    ):
        return False
    return not participant_record(campaign=campaign, member=member, at=at).is_holdout


def participants_freeze(*, campaign: Campaign, members: QuerySet[Member], at: dt.datetime) -> int:
    """Add every member of `members` as a participant with their holdout group, in one
    INSERT … SELECT; members already in are kept as they are. Returns how many were
    added. The caller's transaction decides whether they stay."""
    from django.core.exceptions import EmptyResultSet

    try:
        select_sql, select_params = members.order_by().values("id").query.sql_with_params()
    except EmptyResultSet:
        return 0
    table = Participant._meta.db_table
    sql = (
        f"INSERT INTO {table} (campaign_id, member_id, is_holdout, created_at) "
        f"SELECT %s, chosen.id, {_holdout_sql('chosen.id')}, %s "
        f"FROM ({select_sql}) AS chosen WHERE true ON CONFLICT DO NOTHING"
    )
    params = [
        campaign.pk,
        campaign.pk * _CAMPAIGN_SHIFT,
        holdout_threshold(campaign),
        at,
        *select_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def participants_reached(campaign: Campaign) -> QuerySet[Member]:
    """The frozen participants who get the reward (the holdout group left out)."""
    return Member.objects.filter(
        campaign_entries__campaign=campaign, campaign_entries__is_holdout=False
    )


# --- Rewards as the checkout sees them --------------------------------------------------


def reward_text(*, kind: str, value: Decimal, gift_name: str = "") -> str:
    """A reward in words: "30%", "500 ₽", "200 points", or the gift."""
    if kind == rules.RewardKind.PERCENT:
        return f"{formats.number_format(value.normalize(), use_l10n=True)}%"
    if kind == rules.RewardKind.FIXED:
        amount = formats.number_format(value, 2, use_l10n=True, force_grouping=True)
        return f"{amount} {currency_symbol()}"
    if kind == rules.RewardKind.POINTS:
        count = int(value)
        return translation.ngettext("%(count)s point", "%(count)s points", count) % {"count": count}
    return gift_name


def offer_reward(offer: Offer) -> rules.Reward:
    """The step-3 reward an offer gives; its reference names the offer."""
    return rules.Reward(
        source="offer",
        label=offer.title,
        kind=rules.RewardKind(offer.reward_kind),
        value=offer.reward_value,
        cap=offer.reward_cap,
        min_receipt=offer.min_receipt,
        reference=f"offer-{offer.pk}",
    )


def offer_title(campaign: Campaign, *, value: Decimal | None = None) -> str:
    """An offer's title as the member and cashier read it: the campaign and its reward,
    in the program's language (it is stored)."""
    with translation.override(settings.LANGUAGE_CODE):
        text = reward_text(
            kind=campaign.reward_kind,
            value=campaign.reward_value if value is None else value,
            gift_name=campaign.gift_name,
        )
        return f"{campaign.name}: {text}"[:200]


def _offer_values(campaign: Campaign, value: Decimal | None) -> dict:
    return {
        "title": offer_title(campaign, value=value),
        "reward_kind": campaign.reward_kind,
        "reward_value": campaign.reward_value if value is None else value,
        "reward_cap": campaign.reward_cap,
        "min_receipt": campaign.min_receipt,
        "gift_name": campaign.gift_name,
    }


def offer_issue(
    *,
    campaign: Campaign,
    member: Member,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    at: dt.datetime,
    event_key: str = "",
    value: Decimal | None = None,
    source_purchase: Purchase | None = None,
) -> Offer | None:
    """Issue one offer of the campaign to the member (`value` overrides the campaign's
    reward value, e.g. a threshold level's). None, changing nothing, when the member
    already has this campaign's offer for this event."""
    try:
        with transaction.atomic():
            return Offer.objects.create(
                campaign=campaign,
                member=member,
                event_key=event_key,
                valid_from=valid_from,
                valid_until=valid_until,
                source_purchase=source_purchase,
                created_at=at,
                **_offer_values(campaign, value),
            )
    except IntegrityError:
        return None


def offers_issue_for(
    *,
    campaign: Campaign,
    members: QuerySet[Member],
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    at: dt.datetime,
    event_key: str = "",
) -> int:
    """Issue the campaign's offer to every member of `members` in one INSERT … SELECT;
    members who have it already are skipped. Returns how many were issued."""
    from django.core.exceptions import EmptyResultSet

    try:
        select_sql, select_params = members.order_by().values("id").query.sql_with_params()
    except EmptyResultSet:
        return 0
    values = _offer_values(campaign, None)
    table = Offer._meta.db_table
    sql = (
        f"INSERT INTO {table} (campaign_id, member_id, event_key, title, reward_kind, "
        "reward_value, reward_cap, min_receipt, gift_name, valid_from, valid_until, status, "
        "created_at) "
        "SELECT %s, chosen.id, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s "
        f"FROM ({select_sql}) AS chosen WHERE true ON CONFLICT DO NOTHING"
    )
    params = [
        campaign.pk,
        event_key,
        values["title"],
        values["reward_kind"],
        values["reward_value"],
        values["reward_cap"],
        values["min_receipt"],
        values["gift_name"],
        valid_from,
        valid_until,
        Offer.Status.ACTIVE,
        at,
        *select_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def offer_is_usable(offer: Offer, *, at: dt.datetime) -> bool:
    """Active and inside its window: it burns exactly at `valid_until`, whether or not
    the expiry task has marked it yet."""
    return offer.status == Offer.Status.ACTIVE and offer.valid_from <= at < offer.valid_until


def usable_offers_condition(at: dt.datetime) -> Q:
    return Q(status=Offer.Status.ACTIVE, valid_from__lte=at, valid_until__gt=at)


# --- Giving a reward once, within the budget --------------------------------------------


def _budget_spend(campaign: Campaign, cost: Decimal) -> None:
    """Add `cost` to what the campaign spent; one conditional UPDATE decides, so
    concurrent purchases never pass the budget (the CHECK backs it).

    A campaign without a budget is not updated at all: the UPDATE would hold its row
    until the checkout commits, queueing every till that uses the campaign behind one
    lock. Its cost is the sum of its grants."""
    if cost <= 0:
        return
    # The UPDATE matches no row of a campaign without a budget, so it locks nothing; only
    # when it matched nothing is it asked which of the two it was.
    won = Campaign.objects.filter(
        pk=campaign.pk, budget__isnull=False, budget__gte=F("spent") + cost
    ).update(spent=F("spent") + cost)
    if not won and Campaign.objects.filter(pk=campaign.pk, budget__isnull=False).exists():
        raise BudgetExhausted()


def budget_left(campaign: Campaign) -> Decimal | None:
    """What the campaign may still give (None: no cap)."""
    if campaign.budget is None:
        return None
    return max(Decimal(0), campaign.budget - campaign.spent)


def budget_pays(campaign: Campaign, cost: Decimal) -> bool:
    """Whether what is left of the campaign's budget (as loaded) pays `cost`."""
    left = budget_left(campaign)
    return left is None or cost <= left


def grant_give(
    *,
    campaign: Campaign,
    member: Member,
    event_key: str,
    at: dt.datetime,
    actor: Actor,
    discount: Decimal = Decimal(0),
    points: int = 0,
    purchase: Purchase | None = None,
    offer: Offer | None = None,
    reason: str = "",
) -> Grant | None:
    """Give the member a campaign's reward once: record it, spend the budget, and open a
    points lot for points. None, changing nothing, when this reward (campaign, member,
    event) was given already; raises BudgetExhausted, changing nothing, when it would
    pass the budget. The caller holds the member's row lock when points are given."""
    from members.services.points import lot_open

    cost = rules.money(discount + points * settings.LOYALTY_POINT_VALUE)
    try:
        with transaction.atomic():
            grant = Grant.objects.create(
                campaign=campaign,
                member=member,
                event_key=event_key,
                purchase=purchase,
                offer=offer,
                discount=discount,
                points=points,
                cost=cost,
                created_at=at,
            )
            _budget_spend(campaign, cost)
            if points:
                grant.points_lot = lot_open(
                    member=member,
                    amount=points,
                    kind=LedgerEntry.Kind.GRANT,
                    at=at,
                    actor=actor,
                    reason=(reason or _stored_name(campaign))[:300],
                )
                grant.save(update_fields=["points_lot"])
    except IntegrityError:
        if Grant.objects.filter(campaign=campaign, member=member, event_key=event_key).exists():
            return None
        raise
    return grant


def grant_give_if_budget(**kwargs) -> Grant | None:
    """grant_give, but a used-up budget gives nothing instead of failing the caller (a
    purchase must not fail because a welcome gift ran out)."""
    try:
        return grant_give(**kwargs)
    except BudgetExhausted:
        return None


def _stored_name(campaign: Campaign) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _("Campaign «%(name)s»") % {"name": campaign.name}


def grants_rollback(*, purchase: Purchase, actor: Actor, at: dt.datetime) -> int:
    """Take back what campaigns gave on a fully refunded purchase: the discount's cost
    returns to the budget, an offer used on it becomes usable again while still in its
    window, unspent granted points are taken back. Once per grant; returns how many.
    The caller (the refund) holds the member's lock."""
    from members.models import PointsLot
    from members.services.points import lots_take

    rolled = 0
    # In the checkout's lock order (offer, then campaign; grants in the order it gave
    # them), so a refund and a purchase touching the same campaigns cannot deadlock.
    grants = Grant.objects.filter(purchase=purchase, rolled_back_at__isnull=True).order_by("id")
    for grant in grants:
        if not Grant.objects.filter(pk=grant.pk, rolled_back_at__isnull=True).update(
            rolled_back_at=at
        ):
            continue  # a concurrent rollback won
        rolled += 1
        if grant.offer_id:
            Offer.objects.filter(
                pk=grant.offer_id, status=Offer.Status.USED, valid_until__gt=at
            ).update(status=Offer.Status.ACTIVE, purchase=None, used_at=None)
        if grant.cost:
            # Never below zero: a budget set after the grant was given never counted it.
            Campaign.objects.filter(pk=grant.campaign_id, budget__isnull=False).update(
                spent=Greatest(F("spent") - grant.cost, Value(Decimal(0)))
            )
        if grant.points and grant.points_lot_id:
            unspent = (
                PointsLot.objects.select_for_update()
                .values_list("remaining", flat=True)
                .get(pk=grant.points_lot_id)
            )
            if unspent:
                lots_take(
                    member=purchase.member,
                    amount=min(grant.points, unspent),
                    kind=LedgerEntry.Kind.REFUND,
                    at=at,
                    actor=actor,
                    purchase=purchase,
                    reason=_stored_name(grant.campaign)[:300],
                    prefer_lot_id=grant.points_lot_id,
                )
    return rolled


# --- Which campaigns run ----------------------------------------------------------------


def campaigns_live(kind: str, *, at: dt.datetime) -> QuerySet[Campaign]:
    """Active campaigns of a kind whose window holds `at` (paused ones give nothing)."""
    return (
        Campaign.objects.filter(kind=kind, status=Campaign.Status.ACTIVE)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=at))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .order_by("id")
    )
