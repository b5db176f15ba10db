"""Program settings in admin: changing what the tiers count shows its what-if first."""

import pytest
from django.urls import reverse

from loyalty.actors import Actor
from loyalty.models import ProgramSettings
from members.models import Channel
from members.services import TierMoves, checkout_commit, tier_review
from tests import factories


@pytest.fixture
def silver_by_spend(tiers, store, cashier):
    """A member who reached Silver with one 3,000 ₽ purchase (spend basis)."""
    member = factories.MemberFactory(tier=tiers["Base"])
    checkout_commit(
        member=member,
        store=store,
        receipt_number="S-1",
        total="3000.00",
        actor=Actor.for_user(cashier, Channel.CASHIER),
    )
    member.refresh_from_db()
    assert member.tier == tiers["Silver"]
    return member


def _post(client, **changes):
    program = ProgramSettings.load()
    data = {
        name: getattr(program, name)
        for name in (
            "tier_basis",
            "tier_window",
            "tier_window_months",
            "points_cap_percent",
            "points_life_days",
            "points_expiry_notice_days",
            "stacking_policy",
            "stacking_cap_percent",
        )
    }
    data.update(changes)
    return client.post(reverse("admin:loyalty_programsettings_change", args=[program.pk]), data)


def test_switching_to_counting_purchases_needs_the_checkbox(marketer_client, silver_by_spend):
    # when marketing switches the tier basis to purchases without ticking the box
    response = _post(marketer_client, tier_basis=ProgramSettings.TierBasis.PURCHASES)

    # then it is refused with the exact count (2,000 purchases for Silver), nothing saved
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["confirm_moves"] == [
        "0 members would move up, 1 down at the next review. "
        "Tick “I have seen the effect” to save anyway."
    ]
    assert ProgramSettings.load().tier_basis == ProgramSettings.TierBasis.SPEND


def test_with_the_checkbox_it_saves_and_the_review_does_what_it_said(
    marketer_client, silver_by_spend, tiers
):
    # when
    response = _post(
        marketer_client, tier_basis=ProgramSettings.TierBasis.PURCHASES, confirm_moves="on"
    )

    # then
    assert response.status_code == 302
    assert ProgramSettings.load().tier_basis == ProgramSettings.TierBasis.PURCHASES
    assert tier_review() == TierMoves(up=0, down=1)
    silver_by_spend.refresh_from_db()
    assert silver_by_spend.tier == tiers["Base"]


def test_a_change_that_moves_nobody_saves_without_the_checkbox(marketer_client, silver_by_spend):
    # Points settings do not touch tiers: no what-if, no checkbox.
    response = _post(marketer_client, points_life_days=180)

    assert response.status_code == 302
    assert ProgramSettings.load().points_life_days == 180
