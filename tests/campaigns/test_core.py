"""The shared campaign mechanics: holdout assignment, freezing, issuing, giving once."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.errors import BudgetExhausted
from campaigns.models import Campaign, Grant, Offer, Participant
from campaigns.services import core
from loyalty.actors import Actor
from members.models import LedgerEntry, Member
from tests import factories

ACTOR = Actor.for_task("test")


def test_holdout_bucket_is_deterministic_and_in_range():
    # given / when
    buckets = [core.holdout_bucket(campaign_id=7, member_id=m) for m in range(1, 2001)]

    # then
    assert buckets == [core.holdout_bucket(campaign_id=7, member_id=m) for m in range(1, 2001)]
    assert min(buckets) >= 0
    assert max(buckets) < core.BUCKETS


def test_holdout_share_of_consecutive_ids_is_within_one_point():
    # given: 10,000 consecutive member ids, 10% held out
    threshold = 1_000

    # when
    held = sum(
        core.holdout_bucket(campaign_id=3, member_id=m) < threshold for m in range(1, 10_001)
    )

    # then
    assert 900 <= held <= 1_100


def test_two_campaigns_hold_out_mostly_different_members():
    # given
    ids = range(1, 10_001)

    # when
    first = {m for m in ids if core.holdout_bucket(campaign_id=1, member_id=m) < 1_000}
    second = {m for m in ids if core.holdout_bucket(campaign_id=2, member_id=m) < 1_000}

    # then: not the same control group every time
    assert len(first & second) < len(first) // 2


@pytest.mark.django_db
def test_participants_freeze_assigns_the_same_holdout_in_sql_as_in_python():
    # given
    members = factories.MemberFactory.create_batch(60)
    campaign = factories.OfferCampaignFactory(holdout_percent=Decimal("30"))
    at = timezone.now()

    # when
    added = core.participants_freeze(
        campaign=campaign, members=Member.objects.filter(pk__in=[m.pk for m in members]), at=at
    )
    again = core.participants_freeze(campaign=campaign, members=Member.objects.all(), at=at)

    # then
    assert added == 60
    assert again == 0
    stored = dict(
        Participant.objects.filter(campaign=campaign).values_list("member_id", "is_holdout")
    )
    assert stored == {m.pk: core.is_holdout(campaign, m.pk) for m in members}
    assert 0 < sum(stored.values()) < 60


@pytest.mark.django_db
def test_offers_issue_for_skips_members_who_have_the_offer():
    # given
    campaign = factories.OfferCampaignFactory()
    members = factories.MemberFactory.create_batch(3)
    now = timezone.now()
    window = {"valid_from": now, "valid_until": now + dt.timedelta(days=1), "at": now}
    core.offer_issue(campaign=campaign, member=members[0], **window)

    # when
    issued = core.offers_issue_for(campaign=campaign, members=Member.objects.all(), **window)

    # then
    assert issued == 2
    assert Offer.objects.filter(campaign=campaign).count() == 3
    offer = Offer.objects.get(campaign=campaign, member=members[1])
    assert (offer.reward_kind, offer.reward_value, offer.status) == ("percent", 30, "active")
    assert offer.title == f"{campaign.name}: 30%"


@pytest.mark.django_db
def test_offer_burns_exactly_at_its_deadline():
    # given
    offer = factories.CampaignOfferFactory()

    # then
    assert core.offer_is_usable(offer, at=offer.valid_until - dt.timedelta(microseconds=1))
    assert not core.offer_is_usable(offer, at=offer.valid_until)


@pytest.mark.django_db
def test_grant_give_gives_points_once(tiers):
    # given
    campaign = factories.CampaignFactory(
        kind="welcome", reward_kind="points", reward_value=200, budget=Decimal("1000")
    )
    member = factories.MemberFactory()
    at = timezone.now()

    # when
    first = core.grant_give(
        campaign=campaign, member=member, event_key="welcome", points=200, at=at, actor=ACTOR
    )
    second = core.grant_give(
        campaign=campaign, member=member, event_key="welcome", points=200, at=at, actor=ACTOR
    )

    # then
    member.refresh_from_db()
    assert first is not None
    assert second is None
    assert member.points_balance == 200
    assert LedgerEntry.objects.filter(member=member, kind="grant").count() == 1
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("200.00")


@pytest.mark.django_db
def test_a_campaign_without_budget_is_not_locked_by_its_grants():
    # given
    campaign = factories.CampaignFactory(kind="welcome")
    member = factories.MemberFactory()

    # when
    grant = core.grant_give(
        campaign=campaign,
        member=member,
        event_key="x",
        discount=Decimal("100"),
        at=timezone.now(),
        actor=ACTOR,
    )

    # then: the cost is the grant's; the campaign's row was not written
    campaign.refresh_from_db()
    assert grant.cost == Decimal("100.00")
    assert campaign.spent == Decimal("0.00")


@pytest.mark.django_db
def test_grant_over_the_budget_is_refused_and_changes_nothing():
    # given
    campaign = factories.CampaignFactory(kind="welcome", budget=Decimal("250"))
    member, other = factories.MemberFactory.create_batch(2)
    at = timezone.now()
    core.grant_give(
        campaign=campaign, member=member, event_key="x", discount=Decimal("200"), at=at, actor=ACTOR
    )

    # when
    with pytest.raises(BudgetExhausted):
        core.grant_give(
            campaign=campaign,
            member=other,
            event_key="x",
            discount=Decimal("50.01"),
            at=at,
            actor=ACTOR,
        )

    # then
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("200.00")
    assert Grant.objects.filter(campaign=campaign).count() == 1
    assert (
        core.grant_give_if_budget(
            campaign=campaign,
            member=other,
            event_key="x",
            discount=Decimal("60"),
            at=at,
            actor=ACTOR,
        )
        is None
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_grants_never_pass_the_budget():
    if connection.vendor != "postgresql":
        pytest.skip("threads with real transactions need PostgreSQL")
    # given: a budget for 5 grants of 100, 12 members at once
    campaign = factories.CampaignFactory(kind="welcome", budget=Decimal("500"))
    members = factories.MemberFactory.create_batch(12)
    at = timezone.now()
    outcomes: list[str] = []
    barrier = threading.Barrier(len(members))

    def give(member):
        barrier.wait()
        try:
            core.grant_give(
                campaign=campaign,
                member=member,
                event_key="x",
                discount=Decimal("100"),
                at=at,
                actor=ACTOR,
            )
            outcomes.append("given")
        except BudgetExhausted:
            outcomes.append("refused")
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=give, args=(m,)) for m in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # then
    assert outcomes.count("given") == 5
    assert outcomes.count("refused") == 7
    assert Campaign.objects.get(pk=campaign.pk).spent == Decimal("500.00")
    assert Grant.objects.filter(campaign=campaign).count() == 5
