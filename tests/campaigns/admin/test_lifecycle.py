"""Campaign statuses as marketing moves them (campaigns.services.lifecycle): what each
kind needs before it is scheduled, the allowed moves, refused ones changing nothing, a
double click moving once, and the history naming who moved it."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import translation

from campaigns.errors import CampaignIncomplete, CampaignTransitionRefused
from campaigns.models import Campaign, Offer, RewardLevel
from campaigns.services import lifecycle
from campaigns.services.lifecycle import (
    campaign_finish,
    campaign_pause,
    campaign_problems,
    campaign_resume,
    campaign_schedule,
    campaign_update,
)
from loyalty.actors import Actor
from members.models import Channel
from tests import factories


@pytest.fixture
def actor(marketer) -> Actor:
    return Actor.for_user(marketer, Channel.ADMIN)


def _reason(text) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return str(text)


def _history(campaign) -> list[tuple[str, str | None, str | None]]:
    """(status, user, reason) of each history row, oldest first."""
    rows = Campaign.history.filter(id=campaign.pk).order_by("history_id")
    return [
        (
            row.status,
            row.history_user.username if row.history_user else None,
            row.history_change_reason,
        )
        for row in rows
    ]


def _unsaved(**values) -> Campaign:
    return Campaign(name="Проверка", **values)


START = dt.datetime(2030, 3, 1, 7, tzinfo=dt.UTC)
END = START + dt.timedelta(days=7)
ENTER_N = "Enter N, at least 2: the reward goes to every N-th purchase."
OFFER_WINDOW = "A time-limited offer needs its start and end: its offers burn at the end."
SALE_WINDOW = "A closed sale needs its start and end."
CHOOSE_REWARD = "Choose what the campaign gives."
PERCENT_RANGE = "A percent discount is more than 0 and at most 100."


# --- what each kind needs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # every N-th purchase
        (
            {"kind": "nth_purchase", "reward_kind": "percent", "reward_value": Decimal(50)},
            [ENTER_N],
        ),
        (
            {"kind": "nth_purchase", "every_n": 1, "reward_kind": "percent", "reward_value": 50},
            [ENTER_N],
        ),
        ({"kind": "nth_purchase", "every_n": 5}, [CHOOSE_REWARD]),
        ({"kind": "nth_purchase", "every_n": 5, "reward_kind": "gift"}, ["Name the gift."]),
        # time-limited offer
        ({"kind": "offer", "reward_kind": "percent", "reward_value": 30}, [OFFER_WINDOW]),
        (
            {
                "kind": "offer",
                "reward_kind": "points",
                "reward_value": 100,
                "starts_at": START,
                "ends_at": END,
            },
            ["A time-limited offer gives a percent, an amount off or a gift."],
        ),
        (
            {
                "kind": "offer",
                "reward_kind": "fixed",
                "reward_value": 500,
                "reward_cap": 100,
                "starts_at": START,
                "ends_at": END,
            },
            ["Only a percent discount has a cap; clear the cap."],
        ),
        (
            {
                "kind": "offer",
                "reward_kind": "percent",
                "reward_value": 30,
                "starts_at": END,
                "ends_at": START,
            },
            ["The end must be after the start."],
        ),
        # closed sale
        ({"kind": "closed_sale", "reward_kind": "percent", "reward_value": 25}, [SALE_WINDOW]),
        (
            {
                "kind": "closed_sale",
                "reward_kind": "percent",
                "reward_value": 120,
                "starts_at": START,
                "ends_at": END,
            },
            [PERCENT_RANGE],
        ),
        (
            {
                "kind": "closed_sale",
                "reward_kind": "fixed",
                "reward_value": 500,
                "starts_at": START,
                "ends_at": END,
            },
            ["A closed sale gives a percent off."],
        ),
        # threshold coupons: an unsaved campaign has no levels
        (
            {"kind": "threshold", "reward_kind": "fixed", "reward_value": 50},
            ["Add at least one threshold level: a receipt from an amount earns a coupon."],
        ),
        (
            {"kind": "threshold", "reward_kind": "gift", "gift_name": "Зонт"},
            [
                "Threshold coupons give a percent, an amount off or points.",
                "Add at least one threshold level: a receipt from an amount earns a coupon.",
            ],
        ),
        # welcome, birthday, referral
        ({"kind": "welcome"}, [CHOOSE_REWARD]),
        (
            {"kind": "birthday", "reward_kind": "points", "reward_value": Decimal("10.5")},
            ["Bonus points are a whole number, more than 0."],
        ),
        (
            {"kind": "referral", "reward_kind": "points", "reward_value": 200},
            ["Enter the points the inviting member gets, at least 1."],
        ),
        (
            {"kind": "referral", "reward_kind": "fixed", "reward_value": 200, "referrer_points": 1},
            ["A referral gives bonus points."],
        ),
        # shared rules
        (
            {
                "kind": "welcome",
                "reward_kind": "points",
                "reward_value": 100,
                "holdout_percent": Decimal(60),
            },
            ["The holdout is from 0 to 50% of the members."],
        ),
        (
            {"kind": "welcome", "reward_kind": "points", "reward_value": 100, "budget": 0},
            ["The budget is an amount above 0, or empty for no cap."],
        ),
        (
            {"kind": "promo"},
            [
                "A promo codes campaign only groups code batches and is never scheduled: "
                "its batches have their own dates."
            ],
        ),
    ],
)
def test_problems_name_what_the_kind_lacks(values, expected):
    assert campaign_problems(_unsaved(**values)) == expected


@pytest.mark.parametrize(
    "values",
    [
        {"kind": "nth_purchase", "every_n": 5, "reward_kind": "percent", "reward_value": 50},
        {"kind": "nth_purchase", "every_n": 8, "reward_kind": "gift", "gift_name": "Кофе"},
        {
            "kind": "offer",
            "reward_kind": "percent",
            "reward_value": 30,
            "reward_cap": 1000,
            "starts_at": START,
            "ends_at": END,
        },
        {
            "kind": "closed_sale",
            "reward_kind": "percent",
            "reward_value": 100,
            "starts_at": START,
            "ends_at": END,
        },
        {"kind": "welcome", "reward_kind": "points", "reward_value": 300},
        {"kind": "birthday", "reward_kind": "fixed", "reward_value": 500},
        {"kind": "referral", "reward_kind": "points", "reward_value": 200, "referrer_points": 300},
    ],
)
def test_complete_campaigns_have_no_problems(values):
    assert campaign_problems(_unsaved(**values)) == []


def test_threshold_campaign_with_a_level_has_no_problems():
    # given
    campaign = factories.CampaignFactory(kind="threshold", reward_kind="fixed", reward_value=50)
    RewardLevel.objects.create(campaign=campaign, threshold=500, reward_value=50)

    # then
    assert campaign_problems(campaign) == []


def test_an_end_already_passed_is_a_problem_when_scheduling():
    campaign = _unsaved(
        kind="offer", reward_kind="percent", reward_value=30, starts_at=START, ends_at=END
    )

    assert campaign_problems(campaign, at=END) == ["The campaign's end has already passed."]
    assert campaign_problems(campaign, at=END - dt.timedelta(seconds=1)) == []


# --- schedule ---------------------------------------------------------------------------


def test_schedule_moves_a_draft_and_records_who(draft_offer, actor):
    # when
    campaign_schedule(campaign=draft_offer, actor=actor)

    # then
    draft_offer.refresh_from_db()
    assert draft_offer.status == "scheduled"
    assert _history(draft_offer) == [
        ("draft", None, None),
        ("scheduled", "marketer", _reason(lifecycle.REASON_SCHEDULED)),
    ]


def test_schedule_of_an_incomplete_campaign_lists_the_problems_and_changes_nothing(actor):
    # given a draft offer without its dates
    campaign = factories.CampaignFactory(kind="offer", reward_kind="percent", reward_value=30)
    before = Campaign.objects.values().get(pk=campaign.pk)

    # when
    with pytest.raises(CampaignIncomplete) as refused:
        campaign_schedule(campaign=campaign, actor=actor)

    # then
    assert refused.value.params["problems"] == [OFFER_WINDOW]
    assert refused.value.code == "campaign_incomplete"
    assert Campaign.objects.values().get(pk=campaign.pk) == before
    assert _history(campaign) == [("draft", None, None)]


def test_promo_campaign_is_never_scheduled(actor):
    campaign = factories.CampaignFactory(kind="promo")

    with pytest.raises(CampaignIncomplete):
        campaign_schedule(campaign=campaign, actor=actor)

    campaign.refresh_from_db()
    assert campaign.status == "draft"


@pytest.mark.parametrize("status", ["scheduled", "active", "paused", "finished"])
def test_schedule_only_moves_a_draft(draft_offer, actor, status):
    # given
    Campaign.objects.filter(pk=draft_offer.pk).update(status=status)
    before = Campaign.objects.values().get(pk=draft_offer.pk)

    # when
    with pytest.raises(CampaignTransitionRefused):
        campaign_schedule(campaign=draft_offer, actor=actor)

    # then
    assert Campaign.objects.values().get(pk=draft_offer.pk) == before
    assert len(_history(draft_offer)) == 1


# --- pause, resume, finish --------------------------------------------------------------


@pytest.mark.parametrize("status", ["scheduled", "active"])
def test_pause_of_a_scheduled_or_active_campaign(draft_offer, actor, status):
    Campaign.objects.filter(pk=draft_offer.pk).update(status=status)

    campaign_pause(campaign=draft_offer, actor=actor)

    draft_offer.refresh_from_db()
    assert draft_offer.status == "paused"
    assert _history(draft_offer)[-1] == ("paused", "marketer", _reason(lifecycle.REASON_PAUSED))


@pytest.mark.parametrize("status", ["draft", "paused", "finished"])
def test_pause_is_refused_from_other_statuses(draft_offer, actor, status):
    Campaign.objects.filter(pk=draft_offer.pk).update(status=status)
    before = Campaign.objects.values().get(pk=draft_offer.pk)

    with pytest.raises(CampaignTransitionRefused):
        campaign_pause(campaign=draft_offer, actor=actor)

    assert Campaign.objects.values().get(pk=draft_offer.pk) == before
    assert len(_history(draft_offer)) == 1


def test_resume_before_the_start_goes_back_to_scheduled(draft_offer, actor):
    Campaign.objects.filter(pk=draft_offer.pk).update(status="paused")

    campaign_resume(campaign=draft_offer, actor=actor)

    draft_offer.refresh_from_db()
    assert draft_offer.status == "scheduled"
    assert _history(draft_offer)[-1] == ("scheduled", "marketer", _reason(lifecycle.REASON_RESUMED))


def test_resume_after_the_start_is_active(active_offer, actor):
    Campaign.objects.filter(pk=active_offer.pk).update(status="paused")

    campaign_resume(campaign=active_offer, actor=actor)

    active_offer.refresh_from_db()
    assert active_offer.status == "active"


@pytest.mark.parametrize("status", ["draft", "scheduled", "active", "finished"])
def test_resume_is_refused_unless_paused(active_offer, actor, status):
    Campaign.objects.filter(pk=active_offer.pk).update(status=status)
    before = Campaign.objects.values().get(pk=active_offer.pk)

    with pytest.raises(CampaignTransitionRefused):
        campaign_resume(campaign=active_offer, actor=actor)

    assert Campaign.objects.values().get(pk=active_offer.pk) == before


def test_finish_burns_the_unused_offers_of_the_campaign_only(active_offer, actor):
    # given two usable offers, one used, and another campaign's usable offer
    usable = factories.CampaignOfferFactory.create_batch(2, campaign=active_offer)
    used = factories.CampaignOfferFactory(campaign=active_offer, status="cancelled")
    other = factories.CampaignOfferFactory()

    # when
    burnt = campaign_finish(campaign=active_offer, actor=actor)

    # then
    active_offer.refresh_from_db()
    assert burnt == 2
    assert active_offer.status == "finished"
    assert active_offer.finished_at is not None
    assert set(
        Offer.objects.filter(pk__in=[o.pk for o in usable]).values_list("status", flat=True)
    ) == {"expired"}
    assert Offer.objects.get(pk=used.pk).status == "cancelled"
    assert Offer.objects.get(pk=other.pk).status == "active"
    assert _history(active_offer)[-1] == (
        "finished",
        "marketer",
        _reason(lifecycle.REASON_FINISHED),
    )


def test_finish_keeps_the_coupons_members_already_earned(actor):
    # given: a threshold campaign whose coupon a member earned last week
    campaign = factories.CampaignFactory(
        kind="threshold", status="active", reward_kind="fixed", reward_value=Decimal(50)
    )
    coupon = factories.CampaignOfferFactory(
        campaign=campaign, reward_kind="fixed", reward_value=Decimal(50), event_key="purchase-1"
    )

    # when
    burnt = campaign_finish(campaign=campaign, actor=actor)

    # then: the campaign gives no more coupons, the earned one keeps its 30 days
    assert burnt == 0
    assert Campaign.objects.get(pk=campaign.pk).status == "finished"
    assert Offer.objects.get(pk=coupon.pk).status == "active"


@pytest.mark.parametrize("status", ["scheduled", "paused"])
def test_finish_of_a_scheduled_or_paused_campaign(draft_offer, actor, status):
    Campaign.objects.filter(pk=draft_offer.pk).update(status=status)

    assert campaign_finish(campaign=draft_offer, actor=actor) == 0

    draft_offer.refresh_from_db()
    assert draft_offer.status == "finished"


@pytest.mark.parametrize("status", ["draft", "finished"])
def test_finish_is_refused_from_draft_or_finished(active_offer, actor, status):
    # given
    Campaign.objects.filter(pk=active_offer.pk).update(status=status)
    offer = factories.CampaignOfferFactory(campaign=active_offer)
    before = Campaign.objects.values().get(pk=active_offer.pk)

    # when
    with pytest.raises(CampaignTransitionRefused):
        campaign_finish(campaign=active_offer, actor=actor)

    # then
    assert Campaign.objects.values().get(pk=active_offer.pk) == before
    assert Offer.objects.get(pk=offer.pk).status == "active"


def test_a_stale_instance_is_refused(draft_offer, actor):
    # given the page was read as a draft, and someone scheduled it meanwhile
    stale = Campaign.objects.get(pk=draft_offer.pk)
    campaign_schedule(campaign=draft_offer, actor=actor)

    # when the stale page's "Schedule" is clicked
    with pytest.raises(CampaignTransitionRefused):
        campaign_schedule(campaign=stale, actor=actor)

    # then it was scheduled once
    assert [status for status, _user, _reason in _history(draft_offer)] == ["draft", "scheduled"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("move", "status"), [(campaign_pause, "paused"), (campaign_finish, "finished")]
)
def test_a_double_click_moves_the_campaign_once(marketer, move, status):
    # given an active campaign with an offer, and two requests moving it at once
    campaign = factories.OfferCampaignFactory(name="Двойной клик")
    offer = factories.CampaignOfferFactory(campaign=campaign)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click():
        try:
            barrier.wait()
            move(
                campaign=Campaign.objects.get(pk=campaign.pk),
                actor=Actor.for_user(marketer, Channel.ADMIN),
            )
            outcomes.append("moved")
        except CampaignTransitionRefused:
            outcomes.append("refused")
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert sorted(outcomes) == ["moved", "refused"]
    assert [s for s, _user, _reason in _history(campaign)] == ["active", status]
    expected_offer = "expired" if status == "finished" else "active"
    assert Offer.objects.get(pk=offer.pk).status == expected_offer


# --- edits ------------------------------------------------------------------------------


def test_update_saves_only_the_edited_fields(active_offer, actor):
    # given the page's instance, read before a purchase spent 300 ₽ and a pause
    page = Campaign.objects.get(pk=active_offer.pk)
    Campaign.objects.filter(pk=active_offer.pk).update(spent=Decimal(300), status="paused")
    page.name = "Лето −30%, продлено"

    # when
    campaign_update(campaign=page, fields=["name"], actor=actor)

    # then
    saved = Campaign.objects.get(pk=active_offer.pk)
    assert (saved.name, saved.spent, saved.status) == (
        "Лето −30%, продлено",
        Decimal(300),
        "paused",
    )
    assert (page.spent, page.status) == (Decimal(300), "paused")
    assert _history(saved)[-1] == ("paused", "marketer", _reason(lifecycle.REASON_CHANGED))


def test_a_later_end_of_an_offer_carries_its_offers_along(active_offer, actor):
    # given an offer issued at the start, one issued for an event, and a used one
    old_end = active_offer.ends_at
    issued = factories.CampaignOfferFactory(campaign=active_offer, valid_until=old_end)
    event = factories.CampaignOfferFactory(
        campaign=active_offer, valid_until=old_end, event_key="2030"
    )
    new_end = old_end + dt.timedelta(days=3)

    # when
    active_offer.ends_at = new_end
    campaign_update(campaign=active_offer, fields=["ends_at"], actor=actor)

    # then
    assert Offer.objects.get(pk=issued.pk).valid_until == new_end
    assert Offer.objects.get(pk=event.pk).valid_until == old_end
