"""Time-limited offers on the beat: personal offers issued to the segment at the start,
a last chance the day before, burnt exactly at the deadline (issue 5, acceptance 3)."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest

from campaigns.models import Campaign, Offer, Participant
from campaigns.services import core
from campaigns.services.schedule import campaigns_advance, offers_expire
from messaging.models import Message
from tests import factories
from tests.campaigns.schedule.conftest import NOTHING, messages_per_member, msk, state

pytestmark = pytest.mark.django_db

STARTS = msk(2026, 5, 25, 10, 0)
DEADLINE = msk(2026, 6, 1, 0, 0)  # Moscow midnight: 31 May 21:00 UTC
LAST_CHANCE = DEADLINE - dt.timedelta(hours=24)
TICK = dt.timedelta(microseconds=1)


def silver_offer(tiers, **fields) -> Campaign:
    """30% off for Silver members by e-mail, 25 May 10:00 to 1 June 00:00 (Moscow)."""
    segment = factories.SegmentFactory(name="Серебро")
    segment.tiers.set([tiers["Silver"]])
    values = {
        "name": "Неделя серебра",
        "segment": segment,
        "status": "scheduled",
        "starts_at": STARTS,
        "ends_at": DEADLINE,
        "channel": "email",
    }
    return factories.OfferCampaignFactory(**(values | fields))


def test_offers_are_issued_to_the_segment_at_the_start_with_one_message_each(tiers):
    # given Silver members with and without consent, a Gold member, and the campaign
    anna = factories.MemberFactory(tier=tiers["Silver"], consent_email=True)
    quiet = factories.MemberFactory(tier=tiers["Silver"], consent_email=False)
    gold = factories.MemberFactory(tier=tiers["Gold"], consent_email=True)
    campaign = silver_offer(tiers)

    # when the beat runs a second before the start, then twice at it
    early = campaigns_advance(at=STARTS - dt.timedelta(seconds=1))
    issued = campaigns_advance(at=STARTS)
    again = campaigns_advance(at=STARTS + dt.timedelta(minutes=1))

    # then each Silver member has the offer, over the campaign's window; one message
    assert early == NOTHING
    assert issued == NOTHING | {"activated": 1, "participants": 2, "offers": 2, "offer": 1}
    assert again == NOTHING
    offers = {o.member_id: o for o in Offer.objects.filter(campaign=campaign)}
    assert set(offers) == {anna.pk, quiet.pk}
    offer = offers[anna.pk]
    assert (offer.title, offer.reward_kind, offer.reward_value, offer.status) == (
        "Неделя серебра: 30%",
        "percent",
        Decimal("30.00"),
        "active",
    )
    assert (offer.valid_from, offer.valid_until, offer.event_key) == (STARTS, DEADLINE, "")
    message = Message.objects.get()
    assert (message.member_id, message.kind, message.channel, message.event_key) == (
        anna.pk,
        "offer",
        "email",
        f"campaign-{campaign.pk}-offer",
    )
    assert message.context == {
        "offer": "Неделя серебра: 30%",
        "amount": "30%",
        "deadline": "01.06.2026 00:00",
        "starts": "25.05.2026 10:00",
    }
    campaign.refresh_from_db()
    assert (campaign.status, campaign.issued_at) == ("active", STARTS)
    assert not Participant.objects.filter(member=gold).exists()


def test_the_last_chance_goes_the_day_before_to_members_whose_offer_is_unused(tiers):
    # given three Silver members with consent, the offers issued, one of them cancelled
    anna, boris, clara = factories.MemberFactory.create_batch(
        3, tier=tiers["Silver"], consent_email=True
    )
    campaign = silver_offer(tiers)
    campaigns_advance(at=STARTS)
    Offer.objects.filter(campaign=campaign, member=clara).update(status="cancelled")

    # when the beat runs just before the last-chance time, at it, and again
    before = campaigns_advance(at=LAST_CHANCE - TICK)
    at_time = campaigns_advance(at=LAST_CHANCE)
    again = campaigns_advance(at=LAST_CHANCE + dt.timedelta(hours=1))

    # then one "offer expiring" to each member who can still use the offer
    assert (before, at_time, again) == (NOTHING, NOTHING | {"offer_expiring": 2}, NOTHING)
    assert messages_per_member(campaign) == Counter(
        {
            (anna.pk, "offer"): 1,
            (boris.pk, "offer"): 1,
            (clara.pk, "offer"): 1,
            (anna.pk, "offer_expiring"): 1,
            (boris.pk, "offer_expiring"): 1,
        }
    )
    expiring = Message.objects.get(member=anna, kind="offer_expiring")
    assert expiring.context["deadline"] == "01.06.2026 00:00"
    assert expiring.event_key == f"campaign-{campaign.pk}-offer_expiring"


def test_offers_issued_inside_the_last_chance_hours_get_no_second_message(tiers):
    # given an offer campaign the beat first sees 3 hours before its deadline
    member = factories.MemberFactory(tier=tiers["Silver"], consent_email=True)
    campaign = silver_offer(tiers)
    at = DEADLINE - dt.timedelta(hours=3)

    # when
    first = campaigns_advance(at=at)
    second = campaigns_advance(at=at + dt.timedelta(hours=1))

    # then
    assert first == NOTHING | {"activated": 1, "participants": 1, "offers": 1, "offer": 1}
    assert second == NOTHING
    campaign.refresh_from_db()
    assert campaign.last_chance_at == at
    assert messages_per_member() == Counter({(member.pk, "offer"): 1})


def test_a_time_limited_offer_burns_exactly_at_its_deadline_in_moscow(tiers):
    # given an offer issued by the beat, its deadline 1 June 2026 00:00 Moscow time
    member = factories.MemberFactory(tier=tiers["Silver"])
    silver_offer(tiers)
    campaigns_advance(at=STARTS)
    offer = Offer.objects.get(member=member)
    assert offer.valid_until == dt.datetime(2026, 5, 31, 21, 0, tzinfo=dt.UTC)

    # when / then the checkout's test: usable a microsecond before, not at the deadline
    assert core.offer_is_usable(offer, at=DEADLINE - TICK) is True
    assert core.offer_is_usable(offer, at=DEADLINE) is False
    usable = Offer.objects.filter(member=member)
    assert usable.filter(core.usable_offers_condition(DEADLINE - TICK)).count() == 1
    assert usable.filter(core.usable_offers_condition(DEADLINE)).count() == 0

    # when the expiry task runs a microsecond before the deadline
    marked_before = offers_expire(at=DEADLINE - TICK)
    offer.refresh_from_db()

    # then it stays active
    assert (marked_before, offer.status) == (0, "active")

    # when it runs at the deadline, and after
    marked_at = offers_expire(at=DEADLINE)
    marked_after = offers_expire(at=DEADLINE + dt.timedelta(minutes=5))
    offer.refresh_from_db()

    # then it burnt at the deadline, once
    assert (marked_at, marked_after, offer.status) == (1, 0, "expired")


def test_finishing_the_campaign_at_its_deadline_burns_its_unused_offers(tiers):
    # given issued offers, and a coupon of the campaign valid past its end
    anna, boris = factories.MemberFactory.create_batch(2, tier=tiers["Silver"])
    campaign = silver_offer(tiers)
    campaigns_advance(at=STARTS)
    later = factories.CampaignOfferFactory(
        campaign=campaign,
        member=factories.MemberFactory(),
        event_key="coupon",
        valid_from=STARTS,
        valid_until=DEADLINE + dt.timedelta(days=30),
    )

    # when the beat runs a microsecond before the deadline, then at it
    before = campaigns_advance(at=DEADLINE - TICK)
    at_deadline = campaigns_advance(at=DEADLINE)

    # then
    assert before == NOTHING
    assert at_deadline == NOTHING | {"finished": 1, "offers_expired": 2}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.finished_at) == ("finished", DEADLINE)
    assert dict(Offer.objects.values_list("member_id", "status")) == {
        anna.pk: "expired",
        boris.pk: "expired",
        later.member_id: "active",
    }


def test_offers_expire_marks_only_active_offers_past_their_deadline_in_batches():
    # given 7 offers past their deadline, one used-up-like (cancelled), 2 still valid
    at = msk(2026, 6, 1, 12, 0)
    past = [
        factories.CampaignOfferFactory(
            valid_from=at - dt.timedelta(days=10), valid_until=at - dt.timedelta(hours=n)
        )
        for n in range(7)
    ]
    cancelled = factories.CampaignOfferFactory(
        valid_from=at - dt.timedelta(days=10),
        valid_until=at - dt.timedelta(days=1),
        status="cancelled",
    )
    live = [
        factories.CampaignOfferFactory(
            valid_from=at - dt.timedelta(days=1), valid_until=at + dt.timedelta(seconds=n + 1)
        )
        for n in range(2)
    ]

    # when it runs in batches of 3, twice
    first = offers_expire(at=at, batch_size=3)
    second = offers_expire(at=at, batch_size=3)

    # then
    assert (first, second) == (7, 0)
    statuses = dict(Offer.objects.values_list("pk", "status"))
    assert statuses == {o.pk: "expired" for o in past} | {cancelled.pk: "cancelled"} | {
        o.pk: "active" for o in live
    }


def test_an_offer_campaign_without_an_end_gives_offers_of_offer_days(tiers):
    # given
    member = factories.MemberFactory(tier=tiers["Silver"], consent_email=True)
    silver_offer(tiers, ends_at=None, offer_days=14)

    # when
    result = campaigns_advance(at=STARTS)

    # then the deadline is 14 days from the issue; no last chance (no campaign end)
    assert result == NOTHING | {"activated": 1, "participants": 1, "offers": 1, "offer": 1}
    offer = Offer.objects.get(member=member)
    assert (offer.valid_from, offer.valid_until) == (STARTS, STARTS + dt.timedelta(days=14))
    assert Message.objects.get().context["deadline"] == "08.06.2026 10:00"
    before = state()
    assert campaigns_advance(at=STARTS + dt.timedelta(days=13, hours=12)) == NOTHING
    assert state() == before
