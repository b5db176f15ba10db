"""The campaign form as marketing uses it: every kind set up without code, sensible
defaults for what is left empty, a clear error on the field that is wrong (and nothing
saved), and a campaign that has run keeping what members already got."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Offer, RewardLevel
from tests import factories

from .conftest import ADD, CHANGE, change_data, form_data, soon

ENTER_N = "Enter N, at least 2: the reward goes to every N-th purchase."
SALE_WINDOW = "A closed sale needs its start and end."


def _add(client, **values):
    return client.post(reverse(ADD), form_data(**values))


def _saved(name: str) -> dict:
    return Campaign.objects.values(
        "kind",
        "status",
        "reward_kind",
        "reward_value",
        "reward_cap",
        "gift_name",
        "every_n",
        "offer_days",
        "lead_days",
        "last_chance_hours",
        "referrer_points",
        "holdout_percent",
        "min_receipt",
        "is_segment_frozen",
    ).get(name=name)


def _errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, "the form was accepted"
    return {
        field: list(messages)
        for field, messages in response.context["adminform"].form.errors.items()
    }


def _level_errors(response) -> tuple[list[str], list[dict]]:
    (inline,) = response.context["inline_admin_formsets"]
    formset = inline.formset
    return list(formset.non_form_errors()), [dict(form.errors) for form in formset.forms]


DEFAULTS = {
    "reward_cap": None,
    "gift_name": "",
    "every_n": None,
    "offer_days": 30,
    "lead_days": 3,
    "last_chance_hours": 24,
    "referrer_points": 0,
    "holdout_percent": Decimal("0.00"),
    "min_receipt": Decimal("0.00"),
    "is_segment_frozen": False,
    "status": "draft",
}


# --- every kind, set up without code ----------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"kind": "nth_purchase", "every_n": 5, "reward_kind": "percent", "reward_value": "50"},
            {"every_n": 5, "reward_kind": "percent", "reward_value": Decimal("50.00")},
        ),
        (
            {
                "kind": "offer",
                "starts_at": soon(1),
                "ends_at": soon(8),
                "reward_kind": "percent",
                "reward_value": "30",
                "reward_cap": "1000",
                "holdout_percent": "10",
                "last_chance_hours": "12",
            },
            {
                "reward_kind": "percent",
                "reward_value": Decimal("30.00"),
                "reward_cap": Decimal("1000.00"),
                "holdout_percent": Decimal("10.00"),
                "last_chance_hours": 12,
            },
        ),
        (
            # the reward left empty: a closed sale gives a percent
            {"kind": "closed_sale", "starts_at": soon(3), "ends_at": soon(5), "reward_value": "25"},
            {"reward_kind": "percent", "reward_value": Decimal("25.00")},
        ),
        (
            {"kind": "welcome", "reward_kind": "points", "reward_value": "300"},
            {"reward_kind": "points", "reward_value": Decimal("300.00")},
        ),
        (
            {
                "kind": "birthday",
                "reward_kind": "gift",
                "gift_name": "Торт",
                "lead_days": "7",
                # not birthday fields: hidden and reset (a birthday's segment stays live
                # for members who join later; its gift lasts lead_days past the date)
                "offer_days": "14",
                "is_segment_frozen": True,
            },
            {
                "reward_kind": "gift",
                "reward_value": Decimal("0.00"),
                "gift_name": "Торт",
                "lead_days": 7,
                "offer_days": 30,
                "is_segment_frozen": False,
            },
        ),
        (
            # the reward left empty: a referral gives points
            {"kind": "referral", "reward_value": "200", "referrer_points": "300"},
            {"reward_kind": "points", "reward_value": Decimal("200.00"), "referrer_points": 300},
        ),
        ({"kind": "promo"}, {"kind": "promo", "reward_kind": "", "reward_value": Decimal("0.00")}),
    ],
)
def test_marketer_sets_up_each_kind(marketer_client, marketer, values, expected):
    # when
    response = _add(marketer_client, name="Новая кампания", **values)

    # then
    assert response.status_code == 302, _errors(response)
    assert _saved("Новая кампания") == {**DEFAULTS, "kind": values["kind"], **expected}
    campaign = Campaign.objects.get(name="Новая кампания")
    assert campaign.created_by == marketer
    assert [(h.history_type, h.history_user) for h in campaign.history.all()] == [("+", marketer)]


def test_threshold_coupons_with_their_levels(marketer_client):
    # when
    response = _add(
        marketer_client,
        name="Купоны",
        kind="threshold",
        reward_kind="fixed",
        levels=[("1000", "150"), ("500", "50")],
    )

    # then the campaign's own value is its lowest level's
    assert response.status_code == 302, _level_errors(response)
    campaign = Campaign.objects.get(name="Купоны")
    assert (campaign.reward_kind, campaign.reward_value) == ("fixed", Decimal("50.00"))
    assert list(campaign.levels.values_list("threshold", "reward_value")) == [
        (Decimal("500.00"), Decimal("50.00")),
        (Decimal("1000.00"), Decimal("150.00")),
    ]


def test_threshold_coupons_without_levels_get_the_default_ones(marketer_client):
    # when the reward and the levels are left empty
    response = _add(marketer_client, name="Купоны", kind="threshold")

    # then
    assert response.status_code == 302, _level_errors(response)
    campaign = Campaign.objects.get(name="Купоны")
    assert (campaign.reward_kind, campaign.reward_value) == ("fixed", Decimal("50.00"))
    assert list(campaign.levels.values_list("threshold", "reward_value")) == [
        (Decimal("500.00"), Decimal("50.00")),
        (Decimal("1000.00"), Decimal("150.00")),
        (Decimal("10000.00"), Decimal("2000.00")),
    ]


def test_fields_the_kind_does_not_use_are_not_saved(marketer_client, segment):
    # given an offer posted with what was typed before the kind was changed
    response = _add(
        marketer_client,
        name="Весна",
        kind="offer",
        starts_at=soon(1),
        ends_at=soon(8),
        reward_kind="fixed",
        reward_value="500",
        reward_cap="100",
        every_n="3",
        referrer_points="50",
        gift_name="Зонт",
        segment=segment.pk,
    )

    # then
    assert response.status_code == 302, _errors(response)
    saved = _saved("Весна")
    assert (
        saved["reward_cap"],
        saved["every_n"],
        saved["referrer_points"],
        saved["gift_name"],
    ) == (
        None,
        None,
        0,
        "",
    )
    assert Campaign.objects.get(name="Весна").segment == segment


# --- clear errors, nothing saved --------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"kind": "nth_purchase", "reward_kind": "percent", "reward_value": "50"},
            {"every_n": [ENTER_N]},
        ),
        (
            {
                "kind": "nth_purchase",
                "every_n": "1",
                "reward_kind": "percent",
                "reward_value": "50",
            },
            {"every_n": [ENTER_N]},
        ),
        (
            {"kind": "closed_sale", "reward_value": "25"},
            {"starts_at": [SALE_WINDOW], "ends_at": [SALE_WINDOW]},
        ),
        (
            {
                "kind": "closed_sale",
                "starts_at": soon(3),
                "ends_at": soon(5),
                "reward_value": "120",
            },
            {"reward_value": ["A percent discount is more than 0 and at most 100."]},
        ),
        (
            {
                "kind": "offer",
                "starts_at": soon(8),
                "ends_at": soon(1),
                "reward_kind": "percent",
                "reward_value": "30",
            },
            {"ends_at": ["The end must be after the start."]},
        ),
        (
            {
                "kind": "offer",
                "starts_at": soon(1),
                "ends_at": soon(8),
                "reward_kind": "points",
                "reward_value": "100",
            },
            {"reward_kind": ["A time-limited offer gives a percent, an amount off or a gift."]},
        ),
        (
            {
                "kind": "welcome",
                "reward_kind": "points",
                "reward_value": "100",
                "holdout_percent": "60",
            },
            {"holdout_percent": ["The holdout is from 0 to 50% of the members."]},
        ),
        ({"kind": "birthday", "reward_kind": "gift"}, {"gift_name": ["Name the gift."]}),
        ({"kind": "welcome"}, {"reward_kind": ["Choose what the campaign gives."]}),
        (
            {"kind": "welcome", "reward_kind": "fixed", "reward_value": "0"},
            {"reward_value": ["Enter the amount taken off, more than 0."]},
        ),
        (
            {"kind": "referral", "reward_value": "200"},
            {"referrer_points": ["Enter the points the inviting member gets, at least 1."]},
        ),
        (
            {"kind": "welcome", "reward_kind": "points", "reward_value": "100", "budget": "0"},
            {"budget": ["The budget is an amount above 0, or empty for no cap."]},
        ),
    ],
)
def test_invalid_data_of_each_kind_is_refused_on_its_field(marketer_client, values, expected):
    # when
    response = _add(marketer_client, name="Ошибка", **values)

    # then
    assert _errors(response) == expected
    assert not Campaign.objects.exists()


def test_threshold_levels_are_checked(marketer_client):
    # when a percent level above 100 is posted, and a percent campaign without levels
    over = _add(
        marketer_client,
        name="Купоны",
        kind="threshold",
        reward_kind="percent",
        levels=[("500", "150")],
    )
    none = _add(marketer_client, name="Купоны", kind="threshold", reward_kind="percent")

    # then
    assert _level_errors(over) == (
        [],
        [{"reward_value": ["A percent discount is more than 0 and at most 100."]}],
    )
    assert _level_errors(none)[0] == [
        "Add at least one level: a receipt from an amount earns a reward. "
        "Only an amount off has default levels."
    ]
    assert not Campaign.objects.exists()
    assert not RewardLevel.objects.exists()


def test_levels_of_another_kind_are_refused(marketer_client):
    response = _add(
        marketer_client,
        name="Каждая пятая",
        kind="nth_purchase",
        every_n="5",
        reward_kind="percent",
        reward_value="50",
        levels=[("500", "50")],
    )

    assert _level_errors(response)[0] == [
        "Only threshold coupons have levels: delete these, or choose the kind “Threshold coupons”."
    ]
    assert not Campaign.objects.exists()


# --- a campaign that has run keeps what members got -------------------------------------


def test_a_running_campaign_shows_the_deciding_fields_read_only(marketer_client, active_offer):
    # when
    page = marketer_client.get(reverse(CHANGE, args=[active_offer.pk]))

    # then
    form = page.context["adminform"].form
    assert page.status_code == 200
    assert sorted(form.fields) == [
        "budget",
        "channel",
        "description",
        "ends_at",
        "last_chance_hours",
        "name",
    ]


def test_posting_locked_fields_changes_nothing_but_a_later_end_is_kept(
    marketer_client, active_offer, segment
):
    # given an offer issued at the start
    offer = factories.CampaignOfferFactory(campaign=active_offer, valid_until=active_offer.ends_at)
    later = active_offer.ends_at + dt.timedelta(days=2)
    data = change_data(
        active_offer,
        reward_value="90",
        segment=segment.pk,
        kind="welcome",
        holdout_percent="0",
        ends_at=later,
        name="Лето −30%, продлено",
    )

    # when
    response = marketer_client.post(reverse(CHANGE, args=[active_offer.pk]), data)

    # then
    assert response.status_code == 302, _errors(response)
    saved = Campaign.objects.get(pk=active_offer.pk)
    assert (saved.name, saved.ends_at) == ("Лето −30%, продлено", later.replace(microsecond=0))
    assert (saved.kind, saved.reward_value, saved.segment_id, saved.holdout_percent) == (
        "offer",
        Decimal("30.00"),
        None,
        Decimal("10.00"),
    )
    assert Offer.objects.get(pk=offer.pk).valid_until == saved.ends_at


def test_a_running_campaign_cannot_end_sooner(marketer_client, active_offer):
    before = Campaign.objects.values().get(pk=active_offer.pk)
    sooner = active_offer.ends_at - dt.timedelta(days=1)

    response = marketer_client.post(
        reverse(CHANGE, args=[active_offer.pk]), change_data(active_offer, ends_at=sooner)
    )

    assert _errors(response) == {
        "ends_at": ["A campaign that has run may only end later; to stop it now, use “Finish”."]
    }
    assert Campaign.objects.values().get(pk=active_offer.pk) == before


def test_a_finished_campaign_keeps_only_its_name_and_description_editable(
    marketer_client, active_offer
):
    Campaign.objects.filter(pk=active_offer.pk).update(status="finished")

    page = marketer_client.get(reverse(CHANGE, args=[active_offer.pk]))

    assert sorted(page.context["adminform"].form.fields) == ["description", "name"]


def test_a_scheduled_campaign_keeps_its_kind(marketer_client, draft_offer):
    Campaign.objects.filter(pk=draft_offer.pk).update(status="scheduled")

    page = marketer_client.get(reverse(CHANGE, args=[draft_offer.pk]))

    fields = page.context["adminform"].form.fields
    assert "kind" not in fields
    assert {"reward_value", "segment", "starts_at"} <= set(fields)


def test_saving_the_form_keeps_what_was_spent_meanwhile(marketer_client, active_offer):
    # given the page was opened, then a purchase spent 300 ₽ of the budget
    Campaign.objects.filter(pk=active_offer.pk).update(budget=Decimal(1000))
    active_offer.refresh_from_db()
    data = change_data(active_offer, description="Для постоянных")
    Campaign.objects.filter(pk=active_offer.pk).update(spent=Decimal(300))

    # when the page is saved
    response = marketer_client.post(reverse(CHANGE, args=[active_offer.pk]), data)

    # then
    assert response.status_code == 302, _errors(response)
    saved = Campaign.objects.get(pk=active_offer.pk)
    assert (saved.description, saved.spent, saved.status) == (
        "Для постоянных",
        Decimal("300.00"),
        "active",
    )


def test_the_budget_cannot_drop_below_what_was_spent(marketer_client, active_offer):
    Campaign.objects.filter(pk=active_offer.pk).update(budget=Decimal(1000), spent=Decimal(300))
    active_offer.refresh_from_db()

    response = marketer_client.post(
        reverse(CHANGE, args=[active_offer.pk]), change_data(active_offer, budget="200")
    )

    assert _errors(response) == {
        "budget": ["The campaign has spent 300.00 ₽ already: the budget cannot be less."]
    }
    assert Campaign.objects.get(pk=active_offer.pk).budget == Decimal("1000.00")


def test_a_running_threshold_campaign_shows_its_levels_read_only(marketer_client):
    # given active threshold coupons with two levels
    campaign = factories.CampaignFactory(
        name="Купоны", kind="threshold", status="active", reward_kind="fixed", reward_value=50
    )
    RewardLevel.objects.create(campaign=campaign, threshold=500, reward_value=50)
    RewardLevel.objects.create(campaign=campaign, threshold=1000, reward_value=150)
    url = reverse(CHANGE, args=[campaign.pk])

    # when the page is opened and saved with a new name
    page = marketer_client.get(url)
    response = marketer_client.post(url, change_data(campaign, name="Купоны за чек"))

    # then the levels are shown without inputs, and stay as they were
    (inline,) = page.context["inline_admin_formsets"]
    assert (inline.has_add_permission, inline.has_change_permission) == (False, False)
    assert response.status_code == 302, _errors(response)
    assert Campaign.objects.get(pk=campaign.pk).name == "Купоны за чек"
    assert list(campaign.levels.values_list("threshold", "reward_value")) == [
        (Decimal("500.00"), Decimal("50.00")),
        (Decimal("1000.00"), Decimal("150.00")),
    ]


@pytest.mark.parametrize(
    "kind",
    [
        "promo",
        "nth_purchase",
        "offer",
        "closed_sale",
        "threshold",
        "welcome",
        "birthday",
        "referral",
    ],
)
@pytest.mark.parametrize("status", ["draft", "active", "finished"])
def test_the_page_of_each_kind_in_each_status_opens(marketer_client, kind, status):
    campaign = factories.CampaignFactory(
        name=f"{kind} {status}", kind=kind, status=status, every_n=3
    )

    response = marketer_client.get(reverse(CHANGE, args=[campaign.pk]))

    assert response.status_code == 200
