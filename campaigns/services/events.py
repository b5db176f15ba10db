"""Campaigns an event in a member's life sets off (PRODUCT.md mechanics 4, 9-11): the
threshold coupon, the welcome gift and the referral points after a purchase, in the
checkout's transaction; the birthday greeting and gift from the daily beat.

Each reward is a row with a unique (campaign, member, event) key and each message one
with a unique (kind, member, channel, event), so a replayed receipt, a second beat
run or two concurrent runs give and send once.

What a refund undoes: a full refund cancels the unused threshold coupons the receipt
earned. Welcome and referral rewards stay: they reward joining (given without a
purchase on the grant, so grants_rollback leaves them), and a friend who returns the
first purchase is still a member who came.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import operator

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone, translation

from campaigns.errors import BudgetExhausted
from campaigns.models import Campaign, Grant, Offer, Participant, RewardChoices
from campaigns.services import core
from loyalty.actors import Actor
from members.models import Member, Purchase, Refund
from members.services.enrollment import CONSENT_FIELDS
from messaging.models import Kind
from messaging.services.outbox import message_queue, messages_queue_for

WELCOME_EVENT = "welcome"
REFERRAL_FRIEND_EVENT = "referral-friend"

# No birthday gift for this long after the birth date was changed, so the date cannot
# be moved to collect a gift now (the greeting still goes).
BIRTHDAY_CHANGE_COOLDOWN_DAYS = 30
# A beat that missed days (worker down) still greets the members whose greeting fell
# due on them, while their birthday is still ahead; event keys keep it to once a year.
BIRTHDAY_CATCHUP_DAYS = 3
# pg_advisory_xact_lock's first key: the namespace of birthday runs (the second is the
# campaign id), so concurrent runs of one campaign queue behind each other.
_BIRTHDAY_LOCK_NAMESPACE = 5_000_010


# --- After a purchase -------------------------------------------------------------------


def purchase_events_apply(
    *, purchase: Purchase, member: Member, at: dt.datetime, actor: Actor
) -> None:
    """Issue the threshold coupon the purchase earned and, on the member's first
    purchase, give the welcome gift and the referral points (to the member and to the
    inviter), queueing their messages. Runs in the checkout's transaction under the
    member's lock; a used-up budget gives nothing instead of failing the purchase."""
    kinds = (Campaign.Kind.THRESHOLD, Campaign.Kind.WELCOME, Campaign.Kind.REFERRAL)
    live = list(functools.reduce(operator.or_, (core.campaigns_live(k, at=at) for k in kinds)))
    if not live:
        return
    for campaign in live:
        if campaign.kind == Campaign.Kind.THRESHOLD and core.member_reached(
            campaign, member, at=at
        ):
            _threshold_coupon_issue(campaign, member=member, purchase=purchase, at=at)
    joining = [c for c in live if c.kind != Campaign.Kind.THRESHOLD]
    if not joining or Purchase.objects.filter(member=member).exclude(pk=purchase.pk).exists():
        return
    referral = []
    for campaign in joining:
        if campaign.kind == Campaign.Kind.WELCOME:
            if core.member_reached(campaign, member, at=at):
                _welcome_give(campaign, member=member, purchase=purchase, at=at, actor=actor)
        elif member.referred_by_id is not None and core.member_reached(campaign, member, at=at):
            referral.append(campaign)
    if referral:
        _referral_apply(referral, friend=member, at=at, actor=actor)


def purchase_events_refund(*, purchase: Purchase, refund: Refund, actor: Actor) -> int:
    """On a full refund, cancel the threshold coupons the purchase earned that are still
    unused; returns how many. A coupon used meanwhile stays used."""
    if not purchase.is_fully_refunded:
        return 0
    return Offer.objects.filter(
        source_purchase=purchase,
        campaign__kind=Campaign.Kind.THRESHOLD,
        status=Offer.Status.ACTIVE,
    ).update(status=Offer.Status.CANCELLED)


def _has_consent(member: Member, channel: str) -> bool:
    return bool(getattr(member, CONSENT_FIELDS[channel]))


def _reward_words(*, kind: str, value, gift_name: str) -> str:
    """The reward in words in the program's language: stored in the message's context."""
    with translation.override(settings.LANGUAGE_CODE):
        return core.reward_text(kind=kind, value=value, gift_name=gift_name)


def _offer_context(offer: Offer, *, deadline: dt.datetime | dt.date) -> dict:
    return {
        "offer": offer.title,
        "amount": _reward_words(
            kind=offer.reward_kind, value=offer.reward_value, gift_name=offer.gift_name
        ),
        "deadline": deadline,
    }


def _threshold_coupon_issue(
    campaign: Campaign, *, member: Member, purchase: Purchase, at: dt.datetime
) -> Offer | None:
    # "After discounts": what the member pays before points, the tier spend.
    spent = purchase.total - purchase.base_discount - purchase.code_discount
    level = campaign.levels.filter(threshold__lte=spent).order_by("-threshold").first()
    if level is None:
        return None
    if not campaign.reward_kind:
        campaign.reward_kind = RewardChoices.FIXED  # a coupon is money off unless set
    offer = core.offer_issue(
        campaign=campaign,
        member=member,
        valid_from=at,
        valid_until=at + dt.timedelta(days=campaign.offer_days),
        at=at,
        event_key=f"purchase-{purchase.pk}",
        value=level.reward_value,
        source_purchase=purchase,
    )
    # Only with consent: a coupon message per receipt to members who refused them would
    # fill the outbox with rows that are never sent.
    if offer is not None and _has_consent(member, campaign.channel):
        message_queue(
            member=member,
            kind=Kind.OFFER,
            channel=campaign.channel,
            event_key=f"offer-{offer.pk}",
            context=_offer_context(offer, deadline=timezone.localtime(offer.valid_until)),
            campaign=campaign,
        )
    return offer


def _welcome_give(
    campaign: Campaign, *, member: Member, purchase: Purchase, at: dt.datetime, actor: Actor
) -> None:
    context: dict = {}
    if campaign.reward_kind == RewardChoices.POINTS:
        grant = core.grant_give_if_budget(
            campaign=campaign,
            member=member,
            event_key=WELCOME_EVENT,
            at=at,
            actor=actor,
            points=int(campaign.reward_value),
        )
        if grant is not None:
            words = _reward_words(
                kind=campaign.reward_kind, value=campaign.reward_value, gift_name=""
            )
            context = {"offer": words, "amount": words}
    elif campaign.reward_kind:
        offer = core.offer_issue(
            campaign=campaign,
            member=member,
            valid_from=at,
            valid_until=at + dt.timedelta(days=campaign.offer_days),
            at=at,
            event_key=WELCOME_EVENT,
            source_purchase=purchase,
        )
        if offer is not None:
            context = _offer_context(offer, deadline=timezone.localtime(offer.valid_until))
    # Queued whatever the consent (sent only with it): once per member, and a suppressed
    # row in the outbox shows why a member got no thank-you.
    message_queue(
        member=member,
        kind=Kind.WELCOME,
        channel=campaign.channel,
        event_key=f"campaign-{campaign.pk}",
        context=context,
        campaign=campaign,
    )


def _referral_apply(
    campaigns: list[Campaign], *, friend: Member, at: dt.datetime, actor: Actor
) -> None:
    """Give the referral points now if the inviter's row is free, else right after the
    checkout commits.

    The checkout holds the friend's lock and may have updated a campaign's row (the
    budget of an offer it used). Waiting for the inviter's lock could close a cycle
    with the inviter's own checkout using an offer of that campaign, so the inviter's
    row is taken without waiting; when it is busy, referral_rewards_give runs in a
    transaction of its own after the commit. The unique grant keys keep it to once.
    """
    inviter = None
    try:
        with transaction.atomic():
            inviter = Member.objects.select_for_update(nowait=True).get(pk=friend.referred_by_id)
    except OperationalError:  # locked by another transaction
        pass
    if inviter is None:
        transaction.on_commit(
            functools.partial(
                referral_rewards_give,
                friend_id=friend.pk,
                campaign_ids=[c.pk for c in campaigns],
                at=at,
                actor=actor,
            ),
            robust=True,
        )
        return
    for campaign in campaigns:
        _referral_give(campaign, friend=friend, inviter=inviter, at=at, actor=actor)


@transaction.atomic
def referral_rewards_give(
    *, friend_id: int, campaign_ids: list[int], at: dt.datetime, actor: Actor
) -> None:
    """Give the referral points of the campaigns to the friend and to the inviter, once
    each; a budget that cannot pay both sides gives neither."""
    # Friend, then inviter: the inviter always has the lower id (referrals.py), and
    # every transaction holding two members' locks takes them from higher id to lower.
    friend = Member.objects.select_for_update().get(pk=friend_id)
    inviter = Member.objects.select_for_update().get(pk=friend.referred_by_id)
    for campaign in Campaign.objects.filter(pk__in=campaign_ids).order_by("id"):
        _referral_give(campaign, friend=friend, inviter=inviter, at=at, actor=actor)


REFERRAL_SWEEP_DAYS = 2
SWEEP_ACTOR = Actor.for_task("referral_rewards_sweep")


def referral_rewards_sweep(*, at: dt.datetime | None = None) -> int:
    """Pay the referral rewards a checkout left to run after its commit (the inviter was
    busy) when the process died before they ran: friends of every live referral campaign
    whose first purchase, in the last REFERRAL_SWEEP_DAYS days, gave neither side its
    points. Safe to run any time (the grants' unique keys); returns how many friends were
    looked at again."""
    at = at or timezone.now()
    looked_at = 0
    first_purchase = (
        Purchase.objects.filter(member=OuterRef("pk")).order_by("created_at").values("created_at")
    )
    for campaign in core.campaigns_live(Campaign.Kind.REFERRAL, at=at):
        since = max(
            at - dt.timedelta(days=REFERRAL_SWEEP_DAYS), campaign.starts_at or campaign.created_at
        )
        paid = Grant.objects.filter(campaign=campaign, event_key__startswith="referral-")
        friends = (
            Member.objects.filter(referred_by__isnull=False)
            .annotate(first_at=Subquery(first_purchase[:1]))
            .filter(first_at__gte=since, first_at__lte=at)
            .exclude(Exists(paid.filter(member=OuterRef("pk"), event_key=REFERRAL_FRIEND_EVENT)))
            .exclude(
                Exists(
                    paid.filter(
                        event_key=Concat(Value("referral-"), Cast(OuterRef("pk"), CharField()))
                    )
                )
            )
            .values_list("pk", flat=True)
        )
        for friend_id in friends:
            looked_at += 1
            with transaction.atomic():
                friend = Member.objects.select_for_update().get(pk=friend_id)
                if core.member_reached(campaign, friend, at=at):
                    referral_rewards_give(
                        friend_id=friend_id, campaign_ids=[campaign.pk], at=at, actor=SWEEP_ACTOR
                    )
    return looked_at


def _referral_give(
    campaign: Campaign, *, friend: Member, inviter: Member, at: dt.datetime, actor: Actor
) -> None:
    """Both sides or neither: a budget that cannot pay both gives nothing."""
    friend_points = int(campaign.reward_value)
    try:
        with transaction.atomic():
            if friend_points:
                core.grant_give(
                    campaign=campaign,
                    member=friend,
                    event_key=REFERRAL_FRIEND_EVENT,
                    at=at,
                    actor=actor,
                    points=friend_points,
                )
            if campaign.referrer_points:
                core.grant_give(
                    campaign=campaign,
                    member=inviter,
                    event_key=f"referral-{friend.pk}",
                    at=at,
                    actor=actor,
                    points=campaign.referrer_points,
                )
    except BudgetExhausted:
        return


# --- Birthdays (the daily beat) ---------------------------------------------------------


def birthday_gifts_issue(*, at: dt.datetime | None = None) -> int:
    """Greet the members of every live birthday campaign whose birthday is its lead days
    ahead, and give them its gift: an offer valid from now until the end of the day lead
    days after the birthday (a points reward is an offer too, granting its points on a
    purchase in that window). Once a year per campaign; no gift when the birth date was
    changed within 30 days before the greeting fell due. Set-based; run twice or
    concurrently it gives and sends once. Returns how many gifts were issued."""
    at = at or timezone.now()
    today = timezone.localdate(at)
    issued = 0
    for campaign_id in core.campaigns_live(Campaign.Kind.BIRTHDAY, at=at).values_list(
        "id", flat=True
    ):
        with transaction.atomic():
            _run_lock(campaign_id)
            campaign = core.campaigns_live(Campaign.Kind.BIRTHDAY, at=at).filter(pk=campaign_id)
            campaign = campaign.first()
            if campaign is None:  # paused or finished meanwhile
                continue
            for birthday in _birthdays_due(campaign, today=today):
                issued += _birthday_greet(campaign, birthday=birthday, at=at)
    return issued


def _run_lock(campaign_id: int) -> None:
    """Queue concurrent runs of one campaign behind each other. An advisory lock, not the
    campaign's row: checkouts update that row (budget) while holding a member's lock,
    and this run's inserts wait for members' locks, which could deadlock. SQLite
    serialises writers anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_BIRTHDAY_LOCK_NAMESPACE, campaign_id]
            )


def _birthdays_due(campaign: Campaign, *, today: dt.date) -> list[dt.date]:
    """The birthdays to greet today: lead days ahead, and those of the days a stopped
    beat missed that are still to come."""
    target = today + dt.timedelta(days=campaign.lead_days)
    first = max(today, target - dt.timedelta(days=BIRTHDAY_CATCHUP_DAYS))
    return [first + dt.timedelta(days=n) for n in range((target - first).days + 1)]


def birthday_condition(day: dt.date) -> Q:
    """Members whose birthday falls on `day`: born on Feb 29, they celebrate on Feb 28
    in a year without one."""
    condition = Q(birth_date__month=day.month, birth_date__day=day.day)
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        condition |= Q(birth_date__month=2, birth_date__day=29)
    return condition


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _birthday_reached(campaign: Campaign, day: dt.date, *, at: dt.datetime) -> QuerySet[Member]:
    """The members the campaign greets for a birthday on `day`, the holdout left out.
    A live segment first records the day's members as participants with their group."""
    if core.freezes_segment(campaign):
        return core.participants_reached(campaign).filter(birthday_condition(day))
    members = core.campaign_members(campaign).filter(birthday_condition(day))
    core.participants_freeze(campaign=campaign, members=members, at=at)
    return members.filter(
        Exists(
            Participant.objects.filter(campaign=campaign, member=OuterRef("pk"), is_holdout=False)
        )
    )


def _birthday_greet(campaign: Campaign, *, birthday: dt.date, at: dt.datetime) -> int:
    event_key = str(birthday.year)
    reached = _birthday_reached(campaign, birthday, at=at)
    last_day = birthday + dt.timedelta(days=campaign.lead_days)
    issued = 0
    if campaign.reward_kind:
        # Decided by the day the greeting fell due, not by when this run happens, so a
        # second or catch-up run decides the same.
        due_day = birthday - dt.timedelta(days=campaign.lead_days)
        changed_before = _local_midnight(
            due_day - dt.timedelta(days=BIRTHDAY_CHANGE_COOLDOWN_DAYS - 1)
        )
        issued = core.offers_issue_for(
            campaign=campaign,
            members=reached.filter(
                Q(birth_date_changed_at__isnull=True) | Q(birth_date_changed_at__lt=changed_before)
            ),
            valid_from=at,
            valid_until=_local_midnight(last_day + dt.timedelta(days=1)),
            at=at,
            event_key=event_key,
        )
    consenting = reached.filter(**{CONSENT_FIELDS[campaign.channel]: True})
    gifted = Exists(
        Offer.objects.filter(campaign=campaign, member=OuterRef("pk"), event_key=event_key)
    )
    greeting = {
        "kind": Kind.BIRTHDAY,
        "channel": campaign.channel,
        # The campaign in the key: two birthday campaigns each greet once a year.
        "event_key": f"birthday-{campaign.pk}-{event_key}",
        "campaign": campaign,
        "send_after": at,
    }
    if campaign.reward_kind:
        context = {
            "offer": core.offer_title(campaign),
            "amount": _reward_words(
                kind=campaign.reward_kind,
                value=campaign.reward_value,
                gift_name=campaign.gift_name,
            ),
            "deadline": last_day,
        }
        messages_queue_for(members=consenting.filter(gifted), context=context, **greeting)
    messages_queue_for(members=consenting.filter(~gifted), context={}, **greeting)
    return issued
