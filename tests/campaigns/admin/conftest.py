"""Campaign admin: the form as the browser posts it, and campaigns in each status."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone, translation

from campaigns.models import Campaign
from tests import factories

ADD = "admin:campaigns_campaign_add"
CHANGE = "admin:campaigns_campaign_change"
CHANGELIST = "admin:campaigns_campaign_changelist"


def at(moment: dt.datetime) -> dict[str, str]:
    """A split date-time widget's two inputs, in local time."""
    local = timezone.localtime(moment)
    return {"0": local.strftime("%Y-%m-%d"), "1": local.strftime("%H:%M:%S")}


def form_data(*, levels: list[tuple[str, str]] | None = None, **values) -> dict[str, str]:
    """The add/change form as the browser posts it: every field empty unless given,
    date-times as aware datetimes, and the threshold levels' inline."""
    data = {
        "name": "",
        "description": "",
        "kind": "",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "segment": "",
        "holdout_percent": "",
        "reward_kind": "",
        "reward_value": "",
        "reward_cap": "",
        "min_receipt": "",
        "gift_name": "",
        "every_n": "",
        "offer_days": "",
        "lead_days": "",
        "last_chance_hours": "",
        "referrer_points": "",
        "budget": "",
        "channel": "email",
    }
    for name, value in values.items():
        if isinstance(value, dt.datetime):
            parts = at(value)
            data[f"{name}_0"], data[f"{name}_1"] = parts["0"], parts["1"]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = str(value)
    levels = levels or []
    data.update(
        {
            "levels-TOTAL_FORMS": str(len(levels)),
            "levels-INITIAL_FORMS": "0",
            "levels-MIN_NUM_FORMS": "0",
            "levels-MAX_NUM_FORMS": "1000",
        }
    )
    for n, (threshold, value) in enumerate(levels):
        data[f"levels-{n}-threshold"] = threshold
        data[f"levels-{n}-reward_value"] = value
    return data


def change_data(campaign: Campaign, **values) -> dict[str, str]:
    """The change form of a saved campaign as posted unchanged, with `values` changed;
    read-only fields are left out (the browser has no inputs for them)."""
    fields = {
        "name": campaign.name,
        "description": campaign.description,
        "kind": campaign.kind,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "segment": campaign.segment_id or "",
        "is_segment_frozen": campaign.is_segment_frozen,
        "holdout_percent": campaign.holdout_percent,
        "reward_kind": campaign.reward_kind,
        "reward_value": campaign.reward_value,
        "reward_cap": "" if campaign.reward_cap is None else campaign.reward_cap,
        "min_receipt": campaign.min_receipt,
        "gift_name": campaign.gift_name,
        "every_n": "" if campaign.every_n is None else campaign.every_n,
        "offer_days": campaign.offer_days,
        "lead_days": campaign.lead_days,
        "last_chance_hours": campaign.last_chance_hours,
        "referrer_points": campaign.referrer_points,
        "budget": "" if campaign.budget is None else campaign.budget,
        "channel": campaign.channel,
    }
    fields = {name: value for name, value in fields.items() if value is not None}
    fields.update(values)
    data = form_data(**fields)
    existing = list(campaign.levels.order_by("threshold"))
    data["levels-TOTAL_FORMS"] = str(len(existing))
    data["levels-INITIAL_FORMS"] = str(len(existing))
    for n, level in enumerate(existing):
        data[f"levels-{n}-id"] = str(level.pk)
        data[f"levels-{n}-campaign"] = str(campaign.pk)
        data[f"levels-{n}-threshold"] = str(level.threshold)
        data[f"levels-{n}-reward_value"] = str(level.reward_value)
    return data


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def soon(days: int = 1) -> dt.datetime:
    return (timezone.now() + dt.timedelta(days=days)).replace(microsecond=0)


@pytest.fixture(autouse=True)
def english():
    """Our messages in their English source (the clients ask for English too)."""
    with translation.override("en"):
        yield


@pytest.fixture
def segment():
    return factories.SegmentFactory(name="Спящие клиенты")


@pytest.fixture
def draft_offer():
    """A complete draft offer: 30% off from tomorrow for a week."""
    return factories.CampaignFactory(
        name="Весна −30%",
        kind="offer",
        reward_kind="percent",
        reward_value=Decimal(30),
        starts_at=soon(1),
        ends_at=soon(8),
    )


@pytest.fixture
def active_offer():
    return factories.OfferCampaignFactory(name="Лето −30%", holdout_percent=Decimal(10))
