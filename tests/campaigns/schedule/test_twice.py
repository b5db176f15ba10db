"""Every beat task of campaigns run twice in a row, or twice at once, leaves the state one
run leaves (issue 5, acceptance 6). Real PostgreSQL; the concurrent runs are threads
with connections of their own."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from campaigns.models import Campaign, Offer, Participant
from campaigns.services import core
from campaigns.services.schedule import campaigns_advance, offers_expire
from campaigns.tasks import birthday_gifts_issue_task
from members.models import Member
from messaging.models import Message
from tests import factories
from tests.campaigns.schedule.conftest import NOTHING, msk, state

AT = msk(2026, 9, 15, 12, 0)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MEMBERS = 120
WITH_CONSENT = 90


@dataclass
class World:
    """Campaigns each with a different step due at AT, after the runs of the days before."""

    campaigns: dict[str, Campaign]
    members: list[Member]
    consenting: set[int]
    history: int  # rows of the campaigns' history before AT


def world_build() -> World:
    """Members (90 of 120 agreed to e-mail) and, for everyone, with a 20% holdout:
    - offer_new: starts an hour before AT → activate, issue, offer message at AT;
    - offer_ending: issued 6 days before, ends 12 h after AT → last chance at AT;
    - offer_over: issued 6 days before, ends a minute before AT → finish, burn at AT;
    - sale_soon: starts 2 days after AT, 3-day lead → invite, announce at AT;
    - sale_starting: announced 3 days before, starts an hour before AT → activate, open;
    - sale_ending: opened 2 days before, ends 10 h after AT → last chance at AT;
    - nth: scheduled every-5th campaign starting a minute before AT → activate;
    - paused: a paused offer whose start has come → nothing."""
    members = [
        factories.MemberFactory(consent_email=number < WITH_CONSENT) for number in range(MEMBERS)
    ]
    common = {"holdout_percent": Decimal("20"), "channel": "email", "status": "scheduled"}
    offer = factories.OfferCampaignFactory
    sale = factories.ClosedSaleFactory
    campaigns = {
        "offer_new": offer(name="offer_new", starts_at=AT - HOUR, ends_at=AT + 7 * DAY, **common),
        "offer_ending": offer(
            name="offer_ending", starts_at=AT - 6 * DAY, ends_at=AT + 12 * HOUR, **common
        ),
        "offer_over": offer(
            name="offer_over", starts_at=AT - 6 * DAY, ends_at=AT - dt.timedelta(minutes=1),
            **common,
        ),
        "sale_soon": sale(name="sale_soon", starts_at=AT + 2 * DAY, ends_at=AT + 4 * DAY, **common),
        "sale_starting": sale(
            name="sale_starting", starts_at=AT - HOUR, ends_at=AT + 2 * DAY, **common
        ),
        "sale_ending": sale(
            name="sale_ending", starts_at=AT - 2 * DAY, ends_at=AT + 10 * HOUR, **common
        ),
        "nth": factories.NthPurchaseCampaignFactory(
            name="nth", status="scheduled", starts_at=AT - dt.timedelta(minutes=1)
        ),
        "paused": offer(
            name="paused", starts_at=AT - HOUR, ends_at=AT + DAY, **(common | {"status": "paused"})
        ),
    }  # fmt: skip
    for before in (AT - 6 * DAY, AT - 3 * DAY, AT - 2 * DAY):
        campaigns_advance(at=before)
    consenting = {m.pk for m in members if m.consent_email}
    return World(
        campaigns=campaigns,
        members=members,
        consenting=consenting,
        history=Campaign.history.count(),
    )


def reached(world: World, name: str) -> set[int]:
    campaign = world.campaigns[name]
    return {m.pk for m in world.members if not core.is_holdout(campaign, m.pk)}


def expected_run(world: World) -> dict:
    """What one run at AT writes."""
    told = {name: len(reached(world, name) & world.consenting) for name in world.campaigns}
    return NOTHING | {
        "activated": 3,  # offer_new, sale_starting, nth
        "participants": 2 * MEMBERS,  # offer_new, sale_soon
        "offers": len(reached(world, "offer_new")),
        "offer": told["offer_new"],
        "offer_expiring": told["offer_ending"],
        "sale_announce": told["sale_soon"],
        "sale_open": told["sale_starting"],
        "sale_last_chance": told["sale_ending"],
        "finished": 1,
        "offers_expired": len(reached(world, "offer_over")),
    }


def assert_state_after_one_run(world: World) -> None:
    """The whole state a single run at AT leaves, row by row."""
    campaigns = {c.name: c for c in Campaign.objects.all()}
    assert {name: c.status for name, c in campaigns.items()} == {
        "offer_new": "active",
        "offer_ending": "active",
        "offer_over": "finished",
        "sale_soon": "scheduled",
        "sale_starting": "active",
        "sale_ending": "active",
        "nth": "active",
        "paused": "paused",
    }
    # one history row per step: 2 for offer_new and sale_starting, 1 for the others moved
    assert Campaign.history.count() == world.history + 9
    assert campaigns["offer_new"].issued_at == AT
    assert campaigns["offer_ending"].last_chance_at == AT
    assert campaigns["offer_over"].finished_at == AT
    assert (campaigns["sale_soon"].invited_at, campaigns["sale_soon"].announced_at) == (AT, AT)
    assert campaigns["sale_starting"].opened_at == AT
    assert campaigns["sale_ending"].last_chance_at == AT
    frozen = ["offer_new", "offer_ending", "offer_over", "sale_soon", "sale_starting"]
    frozen.append("sale_ending")
    assert Counter(Participant.objects.values_list("campaign__name", "is_holdout")) == Counter(
        {
            (name, is_held): count
            for name in frozen
            for is_held, count in (
                (False, len(reached(world, name))),
                (True, MEMBERS - len(reached(world, name))),
            )
        }
    )
    offers = Counter(Offer.objects.values_list("campaign__name", "member_id", "status"))
    assert offers == Counter(
        {
            (name, member, status): 1
            for name, status in (
                ("offer_new", "active"),
                ("offer_ending", "active"),
                ("offer_over", "expired"),
            )
            for member in reached(world, name)
        }
    )
    kinds = {
        "offer_new": ["offer"],
        "offer_ending": ["offer", "offer_expiring"],
        "offer_over": ["offer"],
        "sale_soon": ["sale_announce"],
        "sale_starting": ["sale_announce", "sale_open"],
        "sale_ending": ["sale_announce", "sale_open", "sale_last_chance"],
    }
    messages = Counter(Message.objects.values_list("campaign__name", "member_id", "kind"))
    assert messages == Counter(
        {
            (name, member, kind): 1
            for name, names_kinds in kinds.items()
            for kind in names_kinds
            for member in reached(world, name) & world.consenting
        }
    )


def at_once(*calls):
    """Run the calls in threads released together; their results, or the first error."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def summed(results: list[dict]) -> dict:
    return {key: sum(result[key] for result in results) for key in NOTHING}


# --- campaigns_advance ----------------------------------------------------------------------


@pytest.mark.django_db
def test_campaigns_advance_run_twice_in_a_row_leaves_the_state_of_one_run():
    # given
    world = world_build()

    # when
    first = campaigns_advance(at=AT)
    after_first = state()
    second = campaigns_advance(at=AT)

    # then
    assert first == expected_run(world)
    assert_state_after_one_run(world)
    assert second == NOTHING
    assert state() == after_first


@pytest.mark.django_db(transaction=True)
def test_campaigns_advance_run_twice_at_once_leaves_the_state_of_one_run():
    # given
    world = world_build()

    # when two runs start at the same instant
    results = at_once(lambda: campaigns_advance(at=AT), lambda: campaigns_advance(at=AT))

    # then between them they wrote what one run writes, and the state is one run's
    assert summed(results) == expected_run(world)
    assert_state_after_one_run(world)
    after = state()
    assert campaigns_advance(at=AT) == NOTHING
    assert state() == after


@pytest.mark.django_db(transaction=True)
def test_a_step_the_campaign_changed_under_is_rolled_back_and_redone_by_the_next_run(
    monkeypatch,
):
    # given a sale due for its invitations, and marketing moving its end while the
    # invitations are being written
    from campaigns.services import schedule

    members = [factories.MemberFactory(consent_email=True) for _ in range(3)]
    sale = factories.ClosedSaleFactory(starts_at=AT + DAY, ends_at=AT + 3 * DAY, channel="email")
    new_end = AT + 4 * DAY
    real_queue = schedule.messages_queue_for

    def queue_while_marketing_edits(**kwargs):
        at_once(lambda: Campaign.objects.filter(pk=sale.pk).update(ends_at=new_end))
        return real_queue(**kwargs)

    monkeypatch.setattr(schedule, "messages_queue_for", queue_while_marketing_edits)

    # when the beat runs
    changed = campaigns_advance(at=AT)

    # then the step left nothing: no invitations, no announcement, no marker
    assert changed == NOTHING
    sale.refresh_from_db()
    assert (sale.ends_at, sale.invited_at, sale.announced_at) == (new_end, None, None)
    assert Participant.objects.count() == 0
    assert Message.objects.count() == 0

    # when the next run comes
    monkeypatch.setattr(schedule, "messages_queue_for", real_queue)
    again = campaigns_advance(at=AT + dt.timedelta(minutes=1))

    # then it invites with the new end
    assert again == NOTHING | {"participants": 3, "sale_announce": 3}
    contexts = list(Message.objects.values_list("member_id", "context"))
    assert sorted(contexts) == [
        (m.pk, {"offer": sale.name, "amount": "25%", "deadline": "19.09.2026 12:00",
                "starts": "16.09.2026 12:00"})
        for m in members
    ]  # fmt: skip


# --- offers_expire -----------------------------------------------------------------------


def offers_due(count: int) -> list[Offer]:
    campaign = factories.OfferCampaignFactory(starts_at=AT - 10 * DAY, ends_at=AT + DAY)
    return [
        factories.CampaignOfferFactory(
            campaign=campaign,
            valid_from=AT - 10 * DAY,
            valid_until=AT - dt.timedelta(minutes=number),
        )
        for number in range(count)
    ]


@pytest.mark.django_db
def test_offers_expire_run_twice_in_a_row_leaves_the_state_of_one_run():
    # given 30 offers past their deadline and one still valid
    due = offers_due(30)
    live = factories.CampaignOfferFactory(valid_from=AT - DAY, valid_until=AT + HOUR)

    # when
    first = offers_expire(at=AT, batch_size=7)
    after_first = state()
    second = offers_expire(at=AT, batch_size=7)

    # then
    assert (first, second) == (30, 0)
    assert state() == after_first
    assert dict(Offer.objects.values_list("pk", "status")) == {o.pk: "expired" for o in due} | {
        live.pk: "active"
    }


@pytest.mark.django_db(transaction=True)
def test_offers_expire_run_twice_at_once_burns_each_offer_once():
    # given 200 offers past their deadline
    due = offers_due(200)

    # when two runs go at once, in small batches so that they meet
    results = at_once(
        lambda: offers_expire(at=AT, batch_size=9), lambda: offers_expire(at=AT, batch_size=9)
    )

    # then between them each offer was burnt once, and nothing is left to do
    assert sum(results) == 200
    assert dict(Offer.objects.values_list("pk", "status")) == {o.pk: "expired" for o in due}
    assert offers_expire(at=AT) == 0


# --- birthday_gifts_issue_task -----------------------------------------------------------------


def birthday_world() -> tuple[Campaign, list[Member]]:
    """A birthday gift 3 days ahead, and two members whose birthday is 3 days after AT (one
    agreed to e-mail), and one whose birthday is a day later."""
    campaign = factories.CampaignFactory(
        kind="birthday", status="active", reward_kind="gift", gift_name="Торт",
        lead_days=3, channel="email", starts_at=AT - 30 * DAY,
    )  # fmt: skip
    members = [
        factories.MemberFactory(birth_date=dt.date(1990, 9, 18), consent_email=True),
        factories.MemberFactory(birth_date=dt.date(1985, 9, 18), consent_email=False),
        factories.MemberFactory(birth_date=dt.date(1990, 9, 19), consent_email=True),
    ]
    return campaign, members


@pytest.mark.django_db
def test_birthday_task_run_twice_in_a_row_leaves_the_state_of_one_run():
    # given
    campaign, (anna, boris, _later) = birthday_world()

    # when
    with time_machine.travel(AT, tick=False):
        first = birthday_gifts_issue_task()
        after_first = state()
        second = birthday_gifts_issue_task()

    # then the two members whose birthday is due have the gift, one is greeted; once
    assert (first, second) == (2, 0)
    assert state() == after_first
    assert set(Offer.objects.values_list("campaign_id", "member_id", "event_key")) == {
        (campaign.pk, anna.pk, "2026"),
        (campaign.pk, boris.pk, "2026"),
    }
    assert list(Message.objects.values_list("member_id", "kind")) == [(anna.pk, "birthday")]


@pytest.mark.django_db(transaction=True)
def test_birthday_task_run_twice_at_once_leaves_the_state_of_one_run():
    # given
    campaign, (anna, boris, _later) = birthday_world()

    # when
    with time_machine.travel(AT, tick=False):
        results = at_once(birthday_gifts_issue_task, birthday_gifts_issue_task)

    # then
    assert sorted(results) == [0, 2]
    assert set(Offer.objects.values_list("campaign_id", "member_id", "event_key")) == {
        (campaign.pk, anna.pk, "2026"),
        (campaign.pk, boris.pk, "2026"),
    }
    assert list(Message.objects.values_list("member_id", "kind")) == [(anna.pk, "birthday")]
