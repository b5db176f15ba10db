"""Reads of campaigns as a member meets them: offers usable now, progress towards an
N-th purchase reward, closed-sale invitations; and a closed sale's results. The
checkout, the cashier desk and the API all read these, so they agree."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.errors import SaleNotFound, SaleNotInvited, SaleNotOpen
from campaigns.models import Campaign, Grant, Offer, Participant, PurchaseCounter
from campaigns.services import core
from members.models import Member

# A paused campaign's offers wait until it resumes; a finished campaign's offers stay
# good until their own deadline (a coupon earned on the campaign's last day is promised
# for its full 30 days).
OFFER_CAMPAIGN_STATUSES = (Campaign.Status.ACTIVE, Campaign.Status.FINISHED)
# A closed sale's price follows its dates to the instant, even in the minute before the
# beat marks a scheduled sale active; a paused sale gives nothing.
SALE_STATUSES = (Campaign.Status.SCHEDULED, Campaign.Status.ACTIVE)


def _budget_left_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}budget__isnull": True}) | Q(
        **{f"{prefix}budget__gt": F(f"{prefix}spent")}
    )


# --- Offers -----------------------------------------------------------------------------


def member_offers_usable(member: Member, *, at: dt.datetime) -> QuerySet[Offer]:
    """The member's offers, coupons and gifts usable now (any receipt size), soonest
    deadline first, with their campaign."""
    return (
        Offer.objects.filter(
            core.usable_offers_condition(at),
            member=member,
            campaign__status__in=OFFER_CAMPAIGN_STATUSES,
        )
        .filter(_budget_left_q("campaign__"))
        .select_related("campaign")
        .order_by("valid_until", "id")
    )


# --- Every N-th purchase ----------------------------------------------------------------


NTH_SOURCE = "nth_purchase"


def nth_reference(campaign: Campaign) -> str:
    """The reference of a campaign's N-th purchase reward in the checkout and on the
    purchase (`reward_reference`)."""
    return f"nth-{campaign.pk}"


@dataclass(frozen=True)
class NthProgress:
    """A member's progress in an every-N-th-purchase campaign. `remaining` is how many
    purchases are still to make, the rewarded one included ("2 more purchases to the
    reward" at 3/5): 1 means the next purchase gets the reward."""

    campaign: Campaign
    count: int
    every_n: int
    remaining: int
    label: str

    @property
    def fraction(self) -> str:
        """ "4/5": purchases counted of N."""
        return f"{self.count}/{self.every_n}"

    @property
    def is_due(self) -> bool:
        """The next purchase gets the reward."""
        return self.remaining == 1


def nth_progress_label(remaining: int) -> str:
    if remaining <= 1:
        return _("The next purchase gets the reward")
    return ngettext(
        "%(count)s more purchase to the reward",
        "%(count)s more purchases to the reward",
        remaining,
    ) % {"count": remaining}


def nth_progress(campaign: Campaign, *, count: int) -> NthProgress:
    """The progress of a member whose counter in `campaign` stands at `count`."""
    count = min(count, campaign.every_n - 1)
    remaining = campaign.every_n - count
    return NthProgress(
        campaign=campaign,
        count=count,
        every_n=campaign.every_n,
        remaining=remaining,
        label=nth_progress_label(remaining),
    )


def member_counters(member: Member, *, at: dt.datetime) -> list[NthProgress]:
    """The member's progress in every live N-th purchase campaign that targets them
    (0/N before their first counted purchase); one query, plus one per campaign whose
    targeting must be asked (a segment or a frozen list)."""
    counted = PurchaseCounter.objects.filter(campaign=OuterRef("pk"), member=member).values(
        "count"
    )[:1]
    campaigns = core.campaigns_live(Campaign.Kind.NTH_PURCHASE, at=at).annotate(
        counted=Subquery(counted)
    )
    progress = []
    for campaign in campaigns:
        if not core.member_targeted(campaign, member):
            continue
        progress.append(nth_progress(campaign, count=campaign.counted or 0))
    return progress


def nth_campaigns_due(member: Member, *, at: dt.datetime) -> list[Campaign]:
    """Live N-th purchase campaigns whose reward the member's next purchase gets (their
    counter stands at N-1) and whose budget is not used up."""
    due = (
        core.campaigns_live(Campaign.Kind.NTH_PURCHASE, at=at)
        .filter(counters__member=member, counters__count=F("every_n") - 1)
        .filter(_budget_left_q())
    )
    return [campaign for campaign in due if core.member_targeted(campaign, member)]


# --- Closed sales -----------------------------------------------------------------------


def _sale_window_q(at: dt.datetime) -> Q:
    return (
        Q(kind=Campaign.Kind.CLOSED_SALE, status__in=SALE_STATUSES)
        & (Q(starts_at__isnull=True) | Q(starts_at__lte=at))
        & (Q(ends_at__isnull=True) | Q(ends_at__gt=at))
    )


def sale_is_open(campaign: Campaign, *, at: dt.datetime) -> bool:
    """The sale's price applies at `at`: scheduled or active, inside [start, end)."""
    return (
        campaign.status in SALE_STATUSES
        and (campaign.starts_at is None or campaign.starts_at <= at)
        and (campaign.ends_at is None or at < campaign.ends_at)
    )


def _invited(member: Member) -> Exists:
    return Exists(
        Participant.objects.filter(campaign=OuterRef("pk"), member=member, is_holdout=False)
    )


def member_sales_open(member: Member, *, at: dt.datetime) -> QuerySet[Campaign]:
    """Closed sales open now that the member is invited to (held-out members are not)."""
    return (
        Campaign.objects.filter(_sale_window_q(at), _invited(member), reward_kind="percent")
        .filter(reward_value__gt=0)
        .order_by("id")
    )


def closed_sale_check(campaign_id, *, member: Member, at: dt.datetime) -> Campaign:
    """The closed sale `campaign_id` if its price applies to the member now; raises
    SaleNotFound, SaleNotInvited (held-out members too) or SaleNotOpen otherwise."""
    if isinstance(campaign_id, bool):
        raise SaleNotFound()
    try:
        pk = int(campaign_id)
    except (TypeError, ValueError):
        raise SaleNotFound() from None
    campaign = (
        Campaign.objects.filter(pk=pk, kind=Campaign.Kind.CLOSED_SALE)
        .exclude(status=Campaign.Status.DRAFT)
        .annotate(is_invited=_invited(member))
        .first()
    )
    if campaign is None:
        raise SaleNotFound()
    if not campaign.is_invited:
        raise SaleNotInvited()
    if not sale_is_open(campaign, at=at):
        raise SaleNotOpen()
    return campaign


@dataclass(frozen=True)
class SaleInvitation:
    campaign: Campaign
    is_open: bool


def member_invitations(member: Member, *, at: dt.datetime) -> list[SaleInvitation]:
    """Closed sales the member is invited to (not held out) that have not ended yet,
    soonest first, each with whether its price applies now. One query."""
    sales = (
        Campaign.objects.filter(
            _invited(member),
            kind=Campaign.Kind.CLOSED_SALE,
            status__in=SALE_STATUSES,
        )
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .order_by(F("starts_at").asc(nulls_first=True), "id")
    )
    return [SaleInvitation(campaign=sale, is_open=sale_is_open(sale, at=at)) for sale in sales]


@dataclass(frozen=True)
class SaleResults:
    """A closed sale's results. Fully refunded purchases do not count (their discount
    went back to the budget); revenue is the money paid less partial refunds."""

    invited: int
    held_out: int
    came: int
    purchases: int
    revenue: Decimal
    discount: Decimal


def closed_sale_results(campaign: Campaign) -> SaleResults:
    """Invited and held-out members, and what the invited bought at the sale's price
    (from the discounts it recorded on purchases). Two queries."""
    people = Participant.objects.filter(campaign=campaign).aggregate(
        invited=Count("id", filter=Q(is_holdout=False)),
        held_out=Count("id", filter=Q(is_holdout=True)),
    )
    bought = Grant.objects.filter(
        campaign=campaign, purchase__isnull=False, rolled_back_at__isnull=True
    ).aggregate(
        came=Count("member", distinct=True),
        purchases=Count("purchase", distinct=True),
        revenue=Sum(F("purchase__paid") - F("purchase__refunded_paid")),
        discount=Sum("discount"),
    )
    return SaleResults(
        invited=people["invited"],
        held_out=people["held_out"],
        came=bought["came"],
        purchases=bought["purchases"],
        revenue=bought["revenue"] or Decimal("0.00"),
        discount=bought["discount"] or Decimal("0.00"),
    )
