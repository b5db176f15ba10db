"""A campaign's statuses as marketing moves them: draft → scheduled → (the beat activates
it at its start) active ⇄ paused → finished, and edits of a running campaign.

Each move is one guarded write: the row is locked only if it is still in a status the
move starts from, so of two clicks on the same button one moves the campaign and the
other is refused. The move is saved through the model, so the history names who made it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.errors import CampaignIncomplete, CampaignTransitionRefused
from campaigns.models import Campaign, Offer, RewardChoices, RewardLevel
from loyalty.actors import Actor
from loyalty.context_processors import currency_symbol

Kind = Campaign.Kind
Status = Campaign.Status
Reward = RewardChoices

SCHEDULE_FROM = (Status.DRAFT,)
PAUSE_FROM = (Status.SCHEDULED, Status.ACTIVE)
RESUME_FROM = (Status.PAUSED,)
FINISH_FROM = (Status.SCHEDULED, Status.ACTIVE, Status.PAUSED)

HOLDOUT_MAX = Decimal(50)

# The history's change reasons, stored in the program's language.
REASON_SCHEDULED = gettext_lazy("Scheduled")
REASON_PAUSED = gettext_lazy("Paused")
REASON_RESUMED = gettext_lazy("Resumed")
REASON_FINISHED = gettext_lazy("Finished")
REASON_CHANGED = gettext_lazy("Changed")

# The rewards each kind can give; a kind missing here gives none (promo codes only).
REWARDS = {
    Kind.NTH_PURCHASE: (Reward.PERCENT, Reward.FIXED, Reward.POINTS, Reward.GIFT),
    # A personal offer is a step-3 discount or a gift.
    Kind.OFFER: (Reward.PERCENT, Reward.FIXED, Reward.GIFT),
    # The sale price is a base rate of step 2: a percent, nothing else.
    Kind.CLOSED_SALE: (Reward.PERCENT,),
    # The levels give the values; a gift has none to step up.
    Kind.THRESHOLD: (Reward.FIXED, Reward.POINTS, Reward.PERCENT),
    Kind.WELCOME: (Reward.PERCENT, Reward.FIXED, Reward.POINTS, Reward.GIFT),
    Kind.BIRTHDAY: (Reward.PERCENT, Reward.FIXED, Reward.POINTS, Reward.GIFT),
    Kind.REFERRAL: (Reward.POINTS,),
}
# Kinds whose offers are cut from the members frozen at the start, so they need a window.
NEEDS_WINDOW = (Kind.OFFER, Kind.CLOSED_SALE)

# Once a campaign has run (or invited members), these decide what members already got:
# changing them would treat members of one campaign differently.
LOCKED_FIELDS = (
    "kind",
    "starts_at",
    "segment",
    "is_segment_frozen",
    "holdout_percent",
    "reward_kind",
    "reward_value",
    "reward_cap",
    "min_receipt",
    "gift_name",
    "every_n",
    "offer_days",
    "lead_days",
    "referrer_points",
)

Problem = tuple[str, str]  # (form field or "", message)


# --- What a campaign of each kind needs -------------------------------------------------


def _reward_kind_message(kind: str) -> str:
    messages = {
        Kind.OFFER: _("A time-limited offer gives a percent, an amount off or a gift."),
        Kind.CLOSED_SALE: _("A closed sale gives a percent off."),
        Kind.THRESHOLD: _("Threshold coupons give a percent, an amount off or points."),
        Kind.REFERRAL: _("A referral gives bonus points."),
    }
    return messages.get(kind, _("Choose what the campaign gives."))


def _window_message(kind: str) -> str:
    if kind == Kind.CLOSED_SALE:
        return _("A closed sale needs its start and end.")
    return _("A time-limited offer needs its start and end: its offers burn at the end.")


def reward_value_problem(reward_kind: str, value: Decimal | None) -> str:
    """What is wrong with a reward value of this kind ("" if nothing)."""
    if value is None:
        return _("Enter the reward value.")
    value = Decimal(value)
    if reward_kind == Reward.PERCENT and not (0 < value <= 100):
        return _("A percent discount is more than 0 and at most 100.")
    if reward_kind == Reward.FIXED and value <= 0:
        return _("Enter the amount taken off, more than 0.")
    if reward_kind == Reward.POINTS and (value <= 0 or value != value.to_integral_value()):
        return _("Bonus points are a whole number, more than 0.")
    return ""


def campaign_field_problems(campaign: Campaign, *, levels: int | None = None) -> list[Problem]:
    """What the campaign's kind needs and its fields lack, each with the form field it is
    about. Reads nothing: `levels` is the number of threshold levels (None: not known,
    not checked)."""
    problems: list[Problem] = []
    kind = campaign.kind
    if not (0 <= campaign.holdout_percent <= HOLDOUT_MAX):
        problems.append(
            (
                "holdout_percent",
                _("The holdout is from 0 to %(max)s%% of the members.") % {"max": HOLDOUT_MAX},
            )
        )
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        problems.append(("ends_at", _("The end must be after the start.")))
    if kind in NEEDS_WINDOW:
        for field in ("starts_at", "ends_at"):
            if getattr(campaign, field) is None:
                problems.append((field, _window_message(kind)))
    if campaign.budget is not None:
        if campaign.budget <= 0:
            problems.append(("budget", _("The budget is an amount above 0, or empty for no cap.")))
        elif campaign.budget < campaign.spent:
            problems.append(
                (
                    "budget",
                    _(
                        "The campaign has spent %(spent)s %(currency)s already: "
                        "the budget cannot be less."
                    )
                    % {"spent": campaign.spent, "currency": currency_symbol()},
                )
            )
    if kind not in REWARDS:
        return problems
    problems += _reward_problems(campaign)
    if kind == Kind.NTH_PURCHASE and (campaign.every_n is None or campaign.every_n < 2):
        problems.append(
            ("every_n", _("Enter N, at least 2: the reward goes to every N-th purchase."))
        )
    if kind == Kind.THRESHOLD and levels == 0:
        problems.append(
            ("", _("Add at least one threshold level: a receipt from an amount earns a coupon."))
        )
    if kind == Kind.REFERRAL and campaign.referrer_points < 1:
        problems.append(
            ("referrer_points", _("Enter the points the inviting member gets, at least 1."))
        )
    if kind in (Kind.THRESHOLD, Kind.WELCOME) and campaign.offer_days < 1:
        problems.append(("offer_days", _("A coupon or gift stays valid at least one day.")))
    return problems


def _reward_problems(campaign: Campaign) -> list[Problem]:
    reward_kind = campaign.reward_kind
    if not reward_kind or reward_kind not in REWARDS[campaign.kind]:
        return [("reward_kind", _reward_kind_message(campaign.kind))]
    problems: list[Problem] = []
    if reward_kind == Reward.GIFT:
        if not campaign.gift_name.strip():
            problems.append(("gift_name", _("Name the gift.")))
    elif campaign.kind != Kind.THRESHOLD and (  # a threshold campaign's levels give these
        message := reward_value_problem(reward_kind, campaign.reward_value)
    ):
        problems.append(("reward_value", message))
    if campaign.reward_cap is not None:
        if reward_kind != Reward.PERCENT or campaign.kind == Kind.CLOSED_SALE:
            problems.append(("reward_cap", _("Only a percent discount has a cap; clear the cap.")))
        elif campaign.reward_cap <= 0:
            problems.append(
                ("reward_cap", _("The cap is an amount of money above 0, or empty for no cap."))
            )
    if campaign.min_receipt < 0:
        problems.append(("min_receipt", _("The minimum receipt cannot be negative.")))
    return problems


def campaign_problems(campaign: Campaign, *, at: dt.datetime | None = None) -> list[str]:
    """Why the campaign cannot be scheduled, in words (empty: it can). Counts its
    threshold levels; with `at`, an end already passed is a problem too."""
    if campaign.kind == Kind.PROMO:
        return [
            _(
                "A promo codes campaign only groups code batches and is never scheduled: "
                "its batches have their own dates."
            )
        ]
    levels = None
    if campaign.kind == Kind.THRESHOLD:
        levels = RewardLevel.objects.filter(campaign=campaign).count() if campaign.pk else 0
    messages = [message for _field, message in campaign_field_problems(campaign, levels=levels)]
    if at is not None and campaign.ends_at is not None and campaign.ends_at <= at:
        messages.append(_("The campaign's end has already passed."))
    return list(dict.fromkeys(messages))


def campaign_warnings(campaign: Campaign) -> list[str]:
    """What is allowed but probably not meant."""
    warnings = []
    if campaign.kind == Kind.CLOSED_SALE and campaign.segment_id is None:
        warnings.append(_("The closed sale has no segment: every member is invited."))
    return warnings


def campaign_is_locked(campaign: Campaign) -> bool:
    """Whether members may already have got something from the campaign: it has run, or
    its invitations went out."""
    return campaign.status in (Status.ACTIVE, Status.PAUSED, Status.FINISHED) or bool(
        campaign.invited_at or campaign.announced_at
    )


# --- Moves ------------------------------------------------------------------------------


def _locked(campaign: Campaign, allowed: Iterable[str]) -> Campaign:
    """The campaign's row, locked, if it is still in one of `allowed`; a click on a page
    that is out of date (or the second of two) finds it moved and is refused."""
    # FOR NO KEY UPDATE: inserts of offers and grants that reference the campaign (a
    # beat step, checkouts) do not block a status change, nor it them.
    row = (
        Campaign.objects.select_for_update(no_key=True)
        .filter(pk=campaign.pk, status__in=allowed)
        .first()
    )
    if row is None:
        raise CampaignTransitionRefused()
    return row


def _save(row: Campaign, campaign: Campaign, *, actor: Actor, reason, fields: list[str]) -> None:
    """Save the moved row with a history row naming the actor, and show the move on the
    caller's instance too."""
    row._history_user = actor.user
    with translation.override(settings.LANGUAGE_CODE):
        row._change_reason = str(reason)[:100]
    row.save(update_fields=[*fields, "updated_at"])
    for field in (*fields, "updated_at"):
        setattr(campaign, field, getattr(row, field))


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Move a draft to scheduled (the beat activates it at its start). Raises
    CampaignIncomplete, changing nothing, when its kind lacks something, and
    CampaignTransitionRefused when it is no longer a draft."""
    row = _locked(campaign, SCHEDULE_FROM)
    problems = campaign_problems(row, at=timezone.now())
    if problems:
        raise CampaignIncomplete(" ".join(problems), problems=problems)
    row.status = Status.SCHEDULED
    _save(row, campaign, actor=actor, reason=REASON_SCHEDULED, fields=["status"])
    return row


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Pause a scheduled or active campaign: it gives nothing and sends nothing until
    resumed. Raises CampaignTransitionRefused from any other status."""
    row = _locked(campaign, PAUSE_FROM)
    row.status = Status.PAUSED
    _save(row, campaign, actor=actor, reason=REASON_PAUSED, fields=["status"])
    return row


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor: Actor) -> Campaign:
    """Resume a paused campaign: active again, or scheduled while its start is ahead.
    Raises CampaignTransitionRefused unless it is paused."""
    row = _locked(campaign, RESUME_FROM)
    is_ahead = row.starts_at is not None and row.starts_at > timezone.now()
    row.status = Status.SCHEDULED if is_ahead else Status.ACTIVE
    _save(row, campaign, actor=actor, reason=REASON_RESUMED, fields=["status"])
    return row


@transaction.atomic
def campaign_finish(*, campaign: Campaign, actor: Actor) -> int:
    """Finish a scheduled, active or paused campaign now. A time-limited offer's unused
    offers burn with it (finishing early moves their deadline); coupons and gifts members
    already earned (threshold, welcome, birthday) keep their own deadline, as the
    automatic finish does. Returns how many offers burnt; raises
    CampaignTransitionRefused, changing nothing, from draft or finished."""
    if not Campaign.objects.filter(pk=campaign.pk, status__in=FINISH_FROM).exists():
        raise CampaignTransitionRefused()
    # Offers before the campaign's row: a checkout using an offer locks the offer, then
    # the row (to spend the budget); the same order cannot deadlock with it.
    burnt = Offer.objects.filter(
        campaign_id=campaign.pk, campaign__kind=Kind.OFFER, status=Offer.Status.ACTIVE
    ).update(status=Offer.Status.EXPIRED)
    row = _locked(campaign, FINISH_FROM)  # refused (and the burning undone) if moved since
    row.status = Status.FINISHED
    row.finished_at = timezone.now()
    _save(row, campaign, actor=actor, reason=REASON_FINISHED, fields=["status", "finished_at"])
    return burnt


@transaction.atomic
def campaign_update(*, campaign: Campaign, fields: list[str], actor: Actor) -> Campaign:
    """Save the edited `fields` of the campaign with its history, and only them: its
    status and spending are moved by other writes meanwhile. A running offer's later end
    carries the offers issued at its start along."""
    saved = Campaign.objects.values("kind", "ends_at").get(pk=campaign.pk)
    old_end, new_end = saved["ends_at"], campaign.ends_at
    if (
        "ends_at" in fields
        and saved["kind"] == Kind.OFFER
        and old_end is not None
        and new_end is not None
        and new_end > old_end
    ):
        # Offers before the campaign's row, in a checkout's order (see campaign_finish).
        Offer.objects.filter(
            campaign_id=campaign.pk, event_key="", status=Offer.Status.ACTIVE, valid_until=old_end
        ).update(valid_until=new_end)
    row = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
    for field in fields:
        setattr(row, field, getattr(campaign, field))
    _save(row, campaign, actor=actor, reason=REASON_CHANGED, fields=list(fields))
    # The caller's instance was read before the edit: give it the fresh status and spending.
    for field in ("status", "spent", "finished_at", "invited_at", "issued_at"):
        setattr(campaign, field, getattr(row, field))
    return row
