"""Holdout on the beat (issue 5, acceptance 5): with 10% held out of 10,000 members, the
held-out share is within a point of 10% and the held-out members get nothing."""

import datetime as dt
from decimal import Decimal

import pytest

from campaigns.models import Offer, Participant
from campaigns.services import core
from campaigns.services.schedule import campaigns_advance
from members.models import Member
from messaging.models import Message
from tests import factories
from tests.campaigns.schedule.conftest import NOTHING, members_bulk, msk

pytestmark = pytest.mark.django_db

MEMBERS = 10_000
AT = msk(2026, 7, 1, 10, 0)


def test_ten_percent_holdout_of_ten_thousand_members_gets_no_offer_and_no_message():
    # given 10,000 members who agreed to e-mail, an offer and a closed sale for everyone
    # (no segment), each holding out 10%
    members_bulk(MEMBERS, consent_email=True)
    offer = factories.OfferCampaignFactory(
        status="scheduled",
        starts_at=AT,
        ends_at=AT + dt.timedelta(days=7),
        holdout_percent=Decimal("10"),
        channel="email",
    )
    sale = factories.ClosedSaleFactory(
        starts_at=AT + dt.timedelta(days=3),
        ends_at=AT + dt.timedelta(days=5),
        holdout_percent=Decimal("10"),
        channel="email",
    )

    # when the beat issues the offers and sends the invitations
    result = campaigns_advance(at=AT)

    # then for each campaign the held-out share is within 1 point of 10%
    held = {
        campaign.pk: set(
            Participant.objects.filter(campaign=campaign, is_holdout=True).values_list(
                "member_id", flat=True
            )
        )
        for campaign in (offer, sale)
    }
    for campaign in (offer, sale):
        assert Participant.objects.filter(campaign=campaign).count() == MEMBERS
        assert 900 <= len(held[campaign.pk]) <= 1_100, len(held[campaign.pk])
    reached_offer = MEMBERS - len(held[offer.pk])
    reached_sale = MEMBERS - len(held[sale.pk])
    assert result == NOTHING | {
        "activated": 1,
        "participants": 2 * MEMBERS,
        "offers": reached_offer,
        "offer": reached_offer,
        "sale_announce": reached_sale,
    }

    # and none of the held-out members got the offer or a message; everyone else did
    offered = set(Offer.objects.filter(campaign=offer).values_list("member_id", flat=True))
    told = {
        campaign.pk: set(
            Message.objects.filter(campaign=campaign).values_list("member_id", flat=True)
        )
        for campaign in (offer, sale)
    }
    everyone = set(Member.objects.values_list("pk", flat=True))
    assert offered == everyone - held[offer.pk]
    assert told[offer.pk] == everyone - held[offer.pk]
    assert told[sale.pk] == everyone - held[sale.pk]
    sample = Member.objects.filter(pk__in=sorted(held[sale.pk])[:20])
    assert [core.member_targeted(sale, m) for m in sample] == [False] * 20

    # and the groups are the deterministic ones: the same as in Python, and again when
    # frozen once more
    for campaign in (offer, sale):
        assert held[campaign.pk] == {m for m in everyone if core.is_holdout(campaign, m)}
        Participant.objects.filter(campaign=campaign).delete()
        core.participants_freeze(campaign=campaign, members=Member.objects.all(), at=AT)
        assert (
            set(
                Participant.objects.filter(campaign=campaign, is_holdout=True).values_list(
                    "member_id", flat=True
                )
            )
            == held[campaign.pk]
        )
