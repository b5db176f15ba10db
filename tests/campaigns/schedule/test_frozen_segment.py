""" "Freeze the segment at start": a campaign that gives on events (every N-th purchase
here) keeps exactly the members its segment held when it started."""

import pytest

from campaigns.models import Participant
from campaigns.services import core
from campaigns.services.schedule import campaigns_advance
from tests import factories
from tests.campaigns.schedule.conftest import msk

pytestmark = pytest.mark.django_db

STARTS = msk(2026, 5, 25, 10, 0)


def _silver_nth(tiers, *, is_segment_frozen: bool):
    segment = factories.SegmentFactory(name="Серебро")
    segment.tiers.set([tiers["Silver"]])
    return factories.NthPurchaseCampaignFactory(
        status="scheduled",
        starts_at=STARTS,
        segment=segment,
        is_segment_frozen=is_segment_frozen,
    )


def test_a_frozen_segment_is_taken_at_the_start_and_kept(tiers):
    # given: one Silver member before the start, another who turns Silver after it
    early = factories.MemberFactory(tier=tiers["Silver"])
    late = factories.MemberFactory(tier=tiers["Base"])
    campaign = _silver_nth(tiers, is_segment_frozen=True)

    # when
    campaigns_advance(at=STARTS)
    late.tier = tiers["Silver"]
    late.save(update_fields=["tier"])
    campaigns_advance(at=STARTS)

    # then
    campaign.refresh_from_db()
    assert campaign.status == "active"
    assert list(Participant.objects.filter(campaign=campaign).values_list("member", flat=True)) == [
        early.pk
    ]
    assert core.member_targeted(campaign, early)
    assert not core.member_targeted(campaign, late)


def test_a_live_segment_is_read_at_each_purchase(tiers):
    # given
    late = factories.MemberFactory(tier=tiers["Base"])
    campaign = _silver_nth(tiers, is_segment_frozen=False)
    campaigns_advance(at=STARTS)

    # when
    late.tier = tiers["Silver"]
    late.save(update_fields=["tier"])

    # then: nobody was frozen, and the member who joined the segment later takes part
    assert not Participant.objects.filter(campaign=campaign).exists()
    assert core.member_targeted(campaign, late)
