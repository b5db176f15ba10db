"""Closed sales on the beat (issue 5, acceptance 2): invitations frozen lead_days before
the start with an announcement, a reminder at the start, a last chance before the end;
each message once however often the beat fires."""

import datetime as dt
from collections import Counter

import pytest

from campaigns.models import Campaign, Participant
from campaigns.services.schedule import campaigns_advance
from messaging.models import Message
from tests import factories
from tests.campaigns.schedule.conftest import NOTHING, messages_per_member, msk, state

pytestmark = pytest.mark.django_db

STARTS = msk(2026, 6, 10, 10, 0)
ENDS = msk(2026, 6, 12, 22, 0)
ANNOUNCE = STARTS - dt.timedelta(days=3)
LAST_CHANCE = ENDS - dt.timedelta(hours=24)


def gold_sale(tiers, **fields) -> Campaign:
    """25% for Gold members by e-mail, 10 June 10:00 to 12 June 22:00 (Moscow)."""
    segment = factories.SegmentFactory(name="Золото")
    segment.tiers.set([tiers["Gold"]])
    values = {
        "name": "Летняя закрытая распродажа",
        "segment": segment,
        "starts_at": STARTS,
        "ends_at": ENDS,
        "channel": "email",
    }
    return factories.ClosedSaleFactory(**(values | fields))


def test_warm_ups_are_each_sent_once_to_the_invited_members_even_when_beat_fires_twice(tiers):
    # given Gold members with and without e-mail consent, a Silver member, and the sale
    anna, boris = factories.MemberFactory.create_batch(2, tier=tiers["Gold"], consent_email=True)
    quiet = factories.MemberFactory(tier=tiers["Gold"], consent_email=False)
    silver = factories.MemberFactory(tier=tiers["Silver"], consent_email=True)
    sale = gold_sale(tiers)

    # when the beat runs a minute before the announcement
    early = campaigns_advance(at=ANNOUNCE - dt.timedelta(minutes=1))

    # then nothing happened yet
    assert early == NOTHING
    assert Participant.objects.count() == 0
    assert Message.objects.count() == 0

    # when it fires twice at the announcement time
    announced = campaigns_advance(at=ANNOUNCE)
    announced_again = campaigns_advance(at=ANNOUNCE)

    # then the Gold members are invited and those with consent announced to, once
    assert announced == NOTHING | {"participants": 3, "sale_announce": 2}
    assert announced_again == NOTHING
    assert set(Participant.objects.values_list("member_id", "is_holdout")) == {
        (anna.pk, False),
        (boris.pk, False),
        (quiet.pk, False),
    }
    sale.refresh_from_db()
    assert (sale.status, sale.invited_at, sale.announced_at) == ("scheduled", ANNOUNCE, ANNOUNCE)
    announcement = Message.objects.get(member=anna)
    assert announcement.kind == "sale_announce"
    assert announcement.channel == "email"
    assert announcement.campaign == sale
    assert announcement.event_key == f"campaign-{sale.pk}-sale_announce"
    assert announcement.context == {
        "offer": "Летняя закрытая распродажа",
        "amount": "25%",
        "deadline": "12.06.2026 22:00",
        "starts": "10.06.2026 10:00",
    }

    # when a member reaches Gold after the invitations were frozen
    latecomer = factories.MemberFactory(tier=tiers["Gold"], consent_email=True)

    # and the beat fires twice at the start, then twice at the last-chance time
    opened = [campaigns_advance(at=STARTS), campaigns_advance(at=STARTS + dt.timedelta(seconds=1))]
    last = [campaigns_advance(at=LAST_CHANCE), campaigns_advance(at=LAST_CHANCE)]

    # then the sale opened with one reminder each, and one last chance each
    assert opened == [NOTHING | {"activated": 1, "sale_open": 2}, NOTHING]
    assert last == [NOTHING | {"sale_last_chance": 2}, NOTHING]

    # when the beat runs after the end, twice
    after = [campaigns_advance(at=ENDS), campaigns_advance(at=ENDS + dt.timedelta(minutes=1))]

    # then the sale is finished, and each invited member with consent got each message once
    assert after == [NOTHING | {"finished": 1}, NOTHING]
    sale.refresh_from_db()
    assert (sale.status, sale.opened_at, sale.last_chance_at, sale.finished_at) == (
        "finished",
        STARTS,
        LAST_CHANCE,
        ENDS,
    )
    kinds = ["sale_announce", "sale_open", "sale_last_chance"]
    assert messages_per_member() == Counter(
        {(member.pk, kind): 1 for member in (anna, boris) for kind in kinds}
    )
    assert not Message.objects.filter(member__in=[quiet, silver, latecomer]).exists()
    assert not Participant.objects.filter(member__in=[silver, latecomer]).exists()
    assert list(
        sale.history.order_by("history_id").values_list("status", "history_change_reason")
    ) == [
        ("scheduled", None),
        ("scheduled", "task:campaigns_advance"),  # invited
        ("active", "task:campaigns_advance"),
        ("active", "task:campaigns_advance"),  # opened
        ("active", "task:campaigns_advance"),  # last chance
        ("finished", "task:campaigns_advance"),
    ]


def test_a_sale_created_inside_the_lead_window_is_announced_at_once(tiers):
    # given a sale starting tomorrow with a 3-day lead
    member = factories.MemberFactory(tier=tiers["Gold"], consent_email=True)
    gold_sale(tiers)

    # when the beat first sees it, a day before the start
    result = campaigns_advance(at=STARTS - dt.timedelta(days=1))

    # then the member is invited and announced to
    assert result == NOTHING | {"participants": 1, "sale_announce": 1}
    assert messages_per_member() == Counter({(member.pk, "sale_announce"): 1})


def test_a_sale_first_seen_after_its_start_opens_without_a_late_announcement(tiers):
    # given a sale whose start the beat has missed (created late, or beat down)
    member = factories.MemberFactory(tier=tiers["Gold"], consent_email=True)
    sale = gold_sale(tiers)
    at = STARTS + dt.timedelta(hours=2)

    # when the beat runs twice
    first = campaigns_advance(at=at)
    second = campaigns_advance(at=at)

    # then the member is invited by the start reminder alone, once
    assert first == NOTHING | {"activated": 1, "participants": 1, "sale_open": 1}
    assert second == NOTHING
    sale.refresh_from_db()
    assert (sale.status, sale.invited_at, sale.announced_at, sale.opened_at) == (
        "active",
        at,
        None,
        at,
    )
    assert messages_per_member() == Counter({(member.pk, "sale_open"): 1})


def test_a_sale_opened_inside_the_last_chance_hours_sends_no_second_message(tiers):
    # given a sale first seen 2 hours before its end
    member = factories.MemberFactory(tier=tiers["Gold"], consent_email=True)
    sale = gold_sale(tiers)
    at = ENDS - dt.timedelta(hours=2)

    # when the beat runs, and again an hour later
    first = campaigns_advance(at=at)
    later = campaigns_advance(at=at + dt.timedelta(hours=1))

    # then the start reminder is the only message; the last chance step is marked done
    assert first == NOTHING | {"activated": 1, "participants": 1, "sale_open": 1}
    assert later == NOTHING
    sale.refresh_from_db()
    assert (sale.opened_at, sale.last_chance_at) == (at, at)
    assert messages_per_member() == Counter({(member.pk, "sale_open"): 1})


def test_a_sale_past_its_end_is_finished_without_late_messages(tiers):
    # given a scheduled sale the beat first sees after its end
    factories.MemberFactory(tier=tiers["Gold"], consent_email=True)
    sale = gold_sale(tiers)

    # when
    result = campaigns_advance(at=ENDS + dt.timedelta(days=1))

    # then it is started and finished, and nobody is invited or told anything
    assert result == NOTHING | {"activated": 1, "finished": 1}
    sale.refresh_from_db()
    assert (sale.status, sale.invited_at, sale.opened_at, sale.finished_at) == (
        "finished",
        None,
        None,
        ENDS + dt.timedelta(days=1),
    )
    assert Participant.objects.count() == 0
    assert Message.objects.count() == 0


@pytest.mark.parametrize("status", ["draft", "paused", "finished"])
def test_a_sale_neither_scheduled_nor_active_runs_no_step(tiers, status):
    # given
    factories.MemberFactory(tier=tiers["Gold"], consent_email=True)
    gold_sale(tiers, status=status)
    before = state()

    # when the beat runs at every moment of its life
    results = [campaigns_advance(at=at) for at in (ANNOUNCE, STARTS, LAST_CHANCE, ENDS)]

    # then nothing changed
    assert results == [NOTHING] * 4
    assert state() == before


def test_sale_messages_go_on_the_campaigns_channel_to_members_who_agreed_to_it(tiers):
    # given an SMS sale, a member with SMS consent and one with e-mail consent only
    by_sms = factories.MemberFactory(tier=tiers["Gold"], consent_sms=True, consent_email=False)
    factories.MemberFactory(tier=tiers["Gold"], consent_sms=False, consent_email=True)
    sale = gold_sale(tiers, channel="sms")

    # when
    campaigns_advance(at=ANNOUNCE)

    # then
    assert list(Message.objects.values_list("member_id", "channel", "kind", "campaign_id")) == [
        (by_sms.pk, "sms", "sale_announce", sale.pk)
    ]
    assert Participant.objects.filter(campaign=sale).count() == 2
