"""Tier changes in admin: the what-if count before a threshold change is saved, and
the rules every tier set must keep."""

from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.actors import Actor
from loyalty.models import ProgramSettings, Tier
from members.models import Channel
from members.services import TierMoves, checkout_commit, tier_review
from tests import factories


def _spend(member, store, actor, amount: str, receipt: str) -> None:
    checkout_commit(
        member=member,
        store=store,
        receipt_number=receipt,
        total=amount,
        points_to_spend=0,
        actor=actor,
    )


@pytest.fixture
def members_between(tiers, store, cashier):
    """Three Base members who spent between 100 and 2,000 (tier spend 500, 1,000,
    1,500), one Base member below 100, and one Gold member whose tier spend (4,500)
    is below Gold."""
    actor = Actor.for_user(cashier, Channel.CASHIER)
    for i, amount in enumerate(["500.00", "1000.00", "1500.00", "50.00"]):
        _spend(factories.MemberFactory(tier=tiers["Base"]), store, actor, amount, f"B-{i}")
    _spend(factories.MemberFactory(tier=tiers["Gold"]), store, actor, "5000.00", "G-1")


def _post(client, tier: Tier, **changes):
    data = {
        "name": tier.name,
        "threshold": str(tier.threshold),
        "discount_percent": str(tier.discount_percent),
        "earn_percent": str(tier.earn_percent),
    }
    data.update(changes)
    return client.post(reverse("admin:loyalty_tier_change", args=[tier.pk]), data)


def test_threshold_change_that_moves_members_needs_the_checkbox(
    marketer_client, tiers, members_between
):
    # given Silver from 2,000 and members whose spend lies between 100 and 2,000
    silver = tiers["Silver"]

    # when marketing lowers Silver to 100 without ticking "I have seen the effect"
    response = _post(marketer_client, silver, threshold="100")

    # then the change is refused with the exact counts, and nothing is saved
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["confirm_moves"] == [
        "3 members would move up, 1 down at the next review. "
        "Tick “I have seen the effect” to save anyway."
    ]
    assert form.moves == TierMoves(up=3, down=1)
    silver.refresh_from_db()
    assert silver.threshold == Decimal("2000.00")


def test_confirmed_threshold_change_saves_and_review_moves_exactly_those_counts(
    marketer_client, tiers, members_between
):
    # given
    silver = tiers["Silver"]

    # when the marketer ticks the checkbox
    response = _post(marketer_client, silver, threshold="100", confirm_moves="on")

    # then the threshold is saved
    assert response.status_code == 302
    silver.refresh_from_db()
    assert silver.threshold == Decimal("100.00")
    # and the next review moves the members the what-if counted
    assert tier_review() == TierMoves(up=3, down=1)
    assert tier_review() == TierMoves(up=0, down=0)


def test_what_if_counts_every_move_of_the_next_review_including_pending_ones(
    marketer_client, tiers, members_between
):
    # given a Gold member whose spend (4,500) already earns only Silver: the review
    # would move them down whatever marketing changes
    gold = tiers["Gold"]

    # when Gold is raised to 30,000
    response = _post(marketer_client, gold, threshold="30000")

    # then the count shows that pending downgrade too: it is what the review will do
    assert response.status_code == 200
    assert response.context["adminform"].form.moves == TierMoves(up=0, down=1)
    gold.refresh_from_db()
    assert gold.threshold == Decimal("20000.00")


def test_threshold_change_that_moves_nobody_saves_without_the_checkbox(
    marketer_client, tiers, members_between
):
    # given a review has just put everybody on their tier
    tier_review()
    gold = tiers["Gold"]

    # when Gold is raised to 30,000 (nobody has spent between 20,000 and 30,000)
    response = _post(marketer_client, gold, threshold="30000")

    # then it saves at once
    assert response.status_code == 302
    gold.refresh_from_db()
    assert gold.threshold == Decimal("30000.00")


def test_change_without_threshold_change_needs_no_what_if(marketer_client, tiers, members_between):
    # given
    silver = tiers["Silver"]

    # when only the discount changes
    response = _post(marketer_client, silver, discount_percent="6")

    # then it saves at once
    assert response.status_code == 302
    silver.refresh_from_db()
    assert silver.discount_percent == Decimal("6.00")
    assert silver.threshold == Decimal("2000.00")


def test_empty_program_saves_threshold_change_without_checkbox(marketer_client, tiers):
    # given no members at all
    silver = tiers["Silver"]

    # when
    response = _post(marketer_client, silver, threshold="2500")

    # then
    assert response.status_code == 302
    silver.refresh_from_db()
    assert silver.threshold == Decimal("2500.00")


def test_new_tier_is_checked_with_the_what_if_too(marketer_client, tiers, members_between):
    # given members with tier spend 500, 1,000 and 1,500 on Base
    data = {"name": "Бронзовый", "threshold": "400", "discount_percent": "2", "earn_percent": "1"}

    # when a Bronze tier from 400 is added without the checkbox
    response = marketer_client.post(reverse("admin:loyalty_tier_add"), data)

    # then the three would move up into it, and the Gold member down to Silver
    assert response.status_code == 200
    assert response.context["adminform"].form.moves == TierMoves(up=3, down=1)
    assert not Tier.objects.filter(name="Бронзовый").exists()


def test_lowest_tier_cannot_be_raised_above_zero(marketer_client, tiers):
    # given
    base = tiers["Base"]

    # when
    response = _post(marketer_client, base, threshold="10", confirm_moves="on")

    # then
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["threshold"] == [
        "The lowest tier must start at 0; give another tier 0 first."
    ]
    base.refresh_from_db()
    assert base.threshold == Decimal("0.00")


def test_lowest_tier_cannot_be_deleted(superuser_client, tiers):
    response = superuser_client.post(
        reverse("admin:loyalty_tier_delete", args=[tiers["Base"].pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Tier.objects.filter(pk=tiers["Base"].pk).exists()


@pytest.mark.parametrize("field", ["discount_percent", "earn_percent"])
@pytest.mark.parametrize("value", ["-1", "100.01"])
def test_percents_stay_between_0_and_100(marketer_client, tiers, field, value):
    # given
    silver = tiers["Silver"]

    # when
    response = _post(marketer_client, silver, **{field: value})

    # then
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    silver.refresh_from_db()
    assert getattr(silver, field) == getattr(tiers["Silver"], field)


def test_purchase_count_thresholds_must_be_whole(marketer_client, tiers, program):
    # given a program that counts purchases
    program.tier_basis = ProgramSettings.TierBasis.PURCHASES
    program.save()
    silver = tiers["Silver"]

    # when
    fractional = _post(marketer_client, silver, threshold="10.5")
    whole = _post(marketer_client, silver, threshold="10")

    # then
    assert fractional.status_code == 200
    assert fractional.context["adminform"].form.errors["threshold"] == [
        "The program counts purchases: the threshold must be a whole number."
    ]
    assert whole.status_code == 302
    silver.refresh_from_db()
    assert silver.threshold == Decimal("10.00")


def test_program_cannot_count_purchases_while_a_threshold_is_fractional(
    marketer_client, tiers, program
):
    # given a Silver tier from 2,000.50
    Tier.objects.filter(pk=tiers["Silver"].pk).update(threshold=Decimal("2000.50"))
    data = {
        "tier_basis": "purchases",
        "tier_window": program.tier_window,
        "tier_window_months": program.tier_window_months,
        "points_cap_percent": program.points_cap_percent,
        "points_life_days": program.points_life_days,
        "points_expiry_notice_days": program.points_expiry_notice_days,
        "stacking_policy": program.stacking_policy,
        "stacking_cap_percent": program.stacking_cap_percent,
    }

    # when
    response = marketer_client.post(reverse("admin:loyalty_programsettings_change", args=[1]), data)

    # then
    assert response.status_code == 200
    assert "tier_basis" in response.context["adminform"].form.errors
    assert ProgramSettings.load().tier_basis == ProgramSettings.TierBasis.SPEND


def test_tier_list_counts_members(marketer_client, tiers, members_between):
    response = marketer_client.get(reverse("admin:loyalty_tier_changelist"))

    counts = {t.name: t.members_total for t in response.context["cl"].result_list}
    assert counts == {
        tiers["Base"].name: 4,
        tiers["Silver"].name: 0,
        tiers["Gold"].name: 1,
        tiers["Platinum"].name: 0,
    }
