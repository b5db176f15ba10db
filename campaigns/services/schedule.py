"""What the beat does to campaigns as time passes: start and finish them, issue a
time-limited offer's personal offers, invite members to a closed sale and warm them up,
and burn offers past their deadline.

Each step of a campaign runs in a transaction of its own: it takes the campaign's
advisory lock, reads the campaign and checks the step's marker (invited_at,
announced_at, opened_at, issued_at, last_chance_at, finished_at), does its INSERT …
SELECTs and, last, locks the campaign's row to set the marker. A run that dies before
its commit leaves nothing, and the next run repeats the step; a run that finds the
advisory lock taken leaves the campaign to the run holding it, which does every step
that is due. The unique keys of participants, offers and messages back this: a step
done twice still gives each member one of each.

The row is locked last, not first: a checkout locks its member and then the
campaign's row (to spend the budget), and a step's inserts take key locks on members,
so a step holding the row while inserting could deadlock with a purchase. Locked last,
the row also shows whether marketing changed the campaign (paused it, moved its end)
while the step ran; the step is then rolled back and done afresh by the next run.

A message is never sent late: a campaign past its end is finished without queueing
anything, a closed sale that is already open when its members are invited gets no
announcement (the start reminder invites them), and a last chance is not sent when the
offer or the start reminder itself went out inside the last-chance hours. Such a
skipped announcement leaves announced_at empty; a skipped last chance sets
last_chance_at (the step is over) without queueing.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation

from campaigns.models import Campaign, Offer
from campaigns.services import core
from loyalty.actors import Actor
from members.models import Member
from messaging.models import Kind
from messaging.services import messages_queue_for

log = logging.getLogger(__name__)

ADVANCE_ACTOR = Actor.for_task("campaigns_advance")
EXPIRE_BATCH = 50_000
MOMENT_FORMAT = "%d.%m.%Y %H:%M"  # digits read the same in every language of the program
_LOCK_SPACE = 7304  # advisory lock namespace of campaign steps
# What a step reads from the campaign: if any changed under it, the step is redone.
_READ_FIELDS = (
    "name",
    "kind",
    "status",
    "starts_at",
    "ends_at",
    "segment_id",
    "is_segment_frozen",
    "holdout_percent",
    "reward_kind",
    "reward_value",
    "reward_cap",
    "min_receipt",
    "gift_name",
    "offer_days",
    "lead_days",
    "last_chance_hours",
    "channel",
    "invited_at",
    "announced_at",
    "opened_at",
    "issued_at",
    "last_chance_at",
    "finished_at",
)


# --- When a step is due -------------------------------------------------------------------


def _started(campaign: Campaign, at: dt.datetime) -> bool:
    return campaign.starts_at is None or campaign.starts_at <= at


def _ended(campaign: Campaign, at: dt.datetime) -> bool:
    return campaign.ends_at is not None and campaign.ends_at <= at


def _last_chance_from(campaign: Campaign) -> dt.datetime | None:
    if campaign.ends_at is None:
        return None
    return campaign.ends_at - dt.timedelta(hours=campaign.last_chance_hours)


def _is_offer(campaign: Campaign) -> bool:
    return campaign.kind == Campaign.Kind.OFFER


def _is_sale(campaign: Campaign) -> bool:
    return campaign.kind == Campaign.Kind.CLOSED_SALE


def _activate_due(campaign: Campaign, at: dt.datetime) -> bool:
    return campaign.status == Campaign.Status.SCHEDULED and _started(campaign, at)


def _invite_due(campaign: Campaign, at: dt.datetime) -> bool:
    if not _is_sale(campaign) or campaign.invited_at is not None or _ended(campaign, at):
        return False
    if campaign.status not in (Campaign.Status.SCHEDULED, Campaign.Status.ACTIVE):
        return False
    return (
        campaign.starts_at is None
        or campaign.starts_at - dt.timedelta(days=campaign.lead_days) <= at
    )


def _issue_due(campaign: Campaign, at: dt.datetime) -> bool:
    return (
        _is_offer(campaign)
        and campaign.status == Campaign.Status.ACTIVE
        and campaign.issued_at is None
        and not _ended(campaign, at)
    )


def _open_due(campaign: Campaign, at: dt.datetime) -> bool:
    return (
        _is_sale(campaign)
        and campaign.status == Campaign.Status.ACTIVE
        and campaign.invited_at is not None
        and campaign.opened_at is None
        and _started(campaign, at)
        and not _ended(campaign, at)
    )


def _last_chance_due(campaign: Campaign, at: dt.datetime) -> bool:
    first_message_at = (
        campaign.issued_at
        if _is_offer(campaign)
        else campaign.opened_at
        if _is_sale(campaign)
        else None
    )
    window_from = _last_chance_from(campaign)
    return (
        campaign.status == Campaign.Status.ACTIVE
        and first_message_at is not None
        and campaign.last_chance_at is None
        and window_from is not None
        and window_from <= at
        and not _ended(campaign, at)
    )


def _finish_due(campaign: Campaign, at: dt.datetime) -> bool:
    return campaign.status == Campaign.Status.ACTIVE and _ended(campaign, at)


# --- The steps ------------------------------------------------------------------------------


_FROZEN_BY_OWN_STEP = (Campaign.Kind.OFFER, Campaign.Kind.CLOSED_SALE)


class _CampaignChanged(Exception):
    """The campaign changed while a step ran (see the module's docstring)."""


def _step_done(campaign: Campaign, actor: Actor, **changes) -> None:
    """Lock the campaign's row and save the step's changes (a save, so that the history
    records the step and who did it); raises _CampaignChanged if what the step read has
    changed meanwhile."""
    row = Campaign.objects.select_for_update(no_key=True).get(pk=campaign.pk)
    if any(getattr(row, name) != getattr(campaign, name) for name in _READ_FIELDS):
        raise _CampaignChanged()
    for name, value in changes.items():
        setattr(row, name, value)
        setattr(campaign, name, value)
    row._change_reason = actor.label
    row.save(update_fields=[*changes, "updated_at"])


def _activate(campaign: Campaign, *, at: dt.datetime, actor: Actor, counts: Counter) -> None:
    if campaign.is_segment_frozen and campaign.kind not in _FROZEN_BY_OWN_STEP:
        # "Freeze the segment at start": from now on exactly these members take part
        # (offers and closed sales freeze in their own issue and invite steps).
        counts["participants"] += core.participants_freeze(
            campaign=campaign, members=core.campaign_members(campaign), at=at
        )
    _step_done(campaign, actor, status=Campaign.Status.ACTIVE)
    counts["activated"] += 1


def _invite(campaign: Campaign, *, at: dt.datetime, actor: Actor, counts: Counter) -> None:
    counts["participants"] += core.participants_freeze(
        campaign=campaign, members=core.campaign_members(campaign), at=at
    )
    if _started(campaign, at):
        _step_done(campaign, actor, invited_at=at)
        return
    _queue(campaign, Kind.SALE_ANNOUNCE, _reached(campaign), counts=counts)
    _step_done(campaign, actor, invited_at=at, announced_at=at)


def _issue(campaign: Campaign, *, at: dt.datetime, actor: Actor, counts: Counter) -> None:
    counts["participants"] += core.participants_freeze(
        campaign=campaign, members=core.campaign_members(campaign), at=at
    )
    valid_until = _offer_deadline(campaign, at)
    counts["offers"] += core.offers_issue_for(
        campaign=campaign,
        members=core.participants_reached(campaign),
        valid_from=campaign.starts_at or at,
        valid_until=valid_until,
        at=at,
    )
    _queue(campaign, Kind.OFFER, _reached(campaign), counts=counts, offer_until=valid_until)
    _step_done(campaign, actor, issued_at=at)


def _open(campaign: Campaign, *, at: dt.datetime, actor: Actor, counts: Counter) -> None:
    _queue(campaign, Kind.SALE_OPEN, _reached(campaign), counts=counts)
    _step_done(campaign, actor, opened_at=at)


def _last_chance(campaign: Campaign, *, at: dt.datetime, actor: Actor, counts: Counter) -> None:
    first_message_at = campaign.issued_at if _is_offer(campaign) else campaign.opened_at
    # The offer or the start reminder, queued inside the last-chance hours, already told
    # the member the deadline: a second message at once would only be noise.
    if first_message_at < _last_chance_from(campaign):
        if _is_offer(campaign):
            holders = Member.objects.filter(
                offers__campaign=campaign,
                offers__event_key="",
                offers__status=Offer.Status.ACTIVE,
                offers__valid_until__gt=at,
            )
            _queue(campaign, Kind.OFFER_EXPIRING, _with_consent(holders, campaign), counts=counts)
        else:
            _queue(campaign, Kind.SALE_LAST_CHANCE, _reached(campaign), counts=counts)
    _step_done(campaign, actor, last_chance_at=at)


def _finish(campaign: Campaign, *, at: dt.datetime, actor: Actor, counts: Counter) -> None:
    _step_done(campaign, actor, status=Campaign.Status.FINISHED, finished_at=at)
    counts["finished"] += 1


def _offers_burn(campaign: Campaign, at: dt.datetime) -> int:
    """A finished campaign's offers past their deadline, burnt at once rather than at the
    next offers_expire. A transaction of its own, without the campaign's row: a checkout
    using an offer locks the offer and the row too, in an order of its own. Coupons
    earned with a window reaching past the campaign's end keep it."""
    with transaction.atomic():
        return Offer.objects.filter(
            campaign=campaign, status=Offer.Status.ACTIVE, valid_until__lte=at
        ).update(status=Offer.Status.EXPIRED)


_Step = Callable[..., None]
STEPS: list[tuple[Callable[[Campaign, dt.datetime], bool], _Step]] = [
    (_activate_due, _activate),
    (_invite_due, _invite),
    (_issue_due, _issue),
    (_open_due, _open),
    (_last_chance_due, _last_chance),
    (_finish_due, _finish),
]


# --- Messages --------------------------------------------------------------------------------


def _with_consent(members: QuerySet[Member], campaign: Campaign) -> QuerySet[Member]:
    """Consent is checked again when a message is sent; asking here keeps the outbox to
    the members it can reach."""
    return members.filter(**{f"consent_{campaign.channel}": True})


def _reached(campaign: Campaign) -> QuerySet[Member]:
    return _with_consent(core.participants_reached(campaign), campaign)


def _offer_deadline(campaign: Campaign, at: dt.datetime) -> dt.datetime:
    """The campaign's end; an offer campaign without one gives offers of offer_days."""
    if campaign.ends_at is not None:
        return campaign.ends_at
    return at + dt.timedelta(days=max(campaign.offer_days, 1))


def moment_text(value: dt.datetime | None) -> str:
    """A date and time as members read it: the program's time zone, in digits."""
    if value is None:
        return ""
    return value.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).strftime(MOMENT_FORMAT)


def message_context(campaign: Campaign, *, offer_until: dt.datetime | None = None) -> dict:
    """What a campaign's templates print: the offer's title (a sale: its name), the
    reward in words, the deadline and the start. Plain strings in the program's
    language, rendered into each member's message when it is sent."""
    with translation.override(settings.LANGUAGE_CODE):
        amount = core.reward_text(
            kind=campaign.reward_kind, value=campaign.reward_value, gift_name=campaign.gift_name
        )
    return {
        "offer": core.offer_title(campaign) if _is_offer(campaign) else campaign.name,
        "amount": amount,
        "deadline": moment_text(offer_until or campaign.ends_at),
        "starts": moment_text(campaign.starts_at),
    }


def _queue(
    campaign: Campaign,
    kind: str,
    members: QuerySet[Member],
    *,
    counts: Counter,
    offer_until: dt.datetime | None = None,
) -> None:
    counts[Kind(kind).value] += messages_queue_for(
        members=members,
        kind=kind,
        channel=campaign.channel,
        event_key=f"campaign-{campaign.pk}-{kind}",
        context=message_context(campaign, offer_until=offer_until),
        campaign=campaign,
    )


# --- Entry points ------------------------------------------------------------------------


def _lock(campaign_id: int) -> bool:
    """The campaign's advisory lock for this transaction; False while another run holds
    it (SQLite runs one writer at a time anyway)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_LOCK_SPACE, campaign_id])
        return cursor.fetchone()[0]


def campaigns_advance(*, at: dt.datetime | None = None, actor: Actor = ADVANCE_ACTOR) -> dict:
    """Do every scheduled step that is due at `at` (now) for scheduled and active
    campaigns: start, invite and announce, issue offers, open, last chance, finish.
    Returns how many campaigns started and finished and how many participants, offers,
    burnt offers and messages of each kind it wrote, and how many campaigns failed; a
    second run writes nothing. Raises nothing: a campaign whose step fails is logged,
    left as it was before the step, and tried again by the next run, while the others
    advance (a paused or draft campaign is left as it is)."""
    at = at or timezone.now()
    counts: Counter = Counter()
    campaigns = Campaign.objects.filter(
        status__in=[Campaign.Status.SCHEDULED, Campaign.Status.ACTIVE]
    ).order_by("pk")
    for snapshot in campaigns:
        try:
            _campaign_advance(snapshot, at=at, actor=actor, counts=counts)
        except Exception:
            log.exception("campaign step failed", extra={"campaign": snapshot.pk})
            counts["failed"] += 1
    return {key: counts[key] for key in _COUNTED}


def _campaign_advance(
    snapshot: Campaign, *, at: dt.datetime, actor: Actor, counts: Counter
) -> None:
    """The steps of one campaign due at `at`, each in a transaction of its own."""
    campaign = snapshot
    finished = False
    for due, step in STEPS:
        if not due(campaign, at):
            continue
        written: Counter = Counter()
        try:
            with transaction.atomic():
                if not _lock(snapshot.pk):
                    # Another run is at it and does every step due: steps skipped here
                    # and there could otherwise leave one to neither.
                    break
                campaign = Campaign.objects.filter(pk=snapshot.pk).first()
                if campaign is None:  # a draft deleted meanwhile
                    break
                if due(campaign, at):
                    step(campaign, at=at, actor=actor, counts=written)
        except _CampaignChanged:
            break  # rolled back; the next run sees the campaign as it is now
        counts.update(written)
        finished = finished or bool(written["finished"])
    if finished:
        counts["offers_expired"] += _offers_burn(campaign, at)


_COUNTED = [
    "activated",
    "participants",
    "offers",
    Kind.OFFER.value,
    Kind.SALE_ANNOUNCE.value,
    Kind.SALE_OPEN.value,
    Kind.OFFER_EXPIRING.value,
    Kind.SALE_LAST_CHANCE.value,
    "finished",
    "offers_expired",
    "failed",
]


def offers_expire(*, at: dt.datetime | None = None, batch_size: int = EXPIRE_BATCH) -> int:
    """Mark active offers whose deadline has come (valid_until <= `at`, now) burnt;
    returns how many. Set-based, one short transaction per `batch_size` offers (keyset
    on (valid_until, id) through the partial index of active offers); running it again
    marks nothing. An offer is unusable from its deadline whether or not this has run
    (core.offer_is_usable)."""
    at = at or timezone.now()
    total = 0
    after: tuple[dt.datetime, int] | None = None
    while True:
        with transaction.atomic():
            due = Offer.objects.filter(status=Offer.Status.ACTIVE, valid_until__lte=at)
            if after is not None:
                due = due.filter(
                    Q(valid_until__gt=after[0]) | Q(valid_until=after[0], id__gt=after[1])
                )
            keys = list(
                due.order_by("valid_until", "id").values_list("valid_until", "id")[:batch_size]
            )
            if not keys:
                return total
            # The status is checked again: an offer used meanwhile stays used.
            total += Offer.objects.filter(
                id__in=[key[1] for key in keys], status=Offer.Status.ACTIVE
            ).update(status=Offer.Status.EXPIRED)
            after = keys[-1]
