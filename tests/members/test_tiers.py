"""Tier moves: up at once when a purchase crosses a threshold, down only at the review;
the what-if count of a threshold change equals what the review then does."""

import datetime as dt
from decimal import Decimal

import pytest

from loyalty.models import ProgramSettings, Tier
from members.selectors import member_progress, window_start
from members.services import TierMoves, purchase_refund, tier_review, tier_what_if
from tests import factories

D = Decimal


def tier_of(member) -> str:
    member.refresh_from_db()
    return member.tier.name


@pytest.fixture
def names(tiers):
    """English name → Russian name in the database."""
    return {english: tier.name for english, tier in tiers.items()}


# --- Up at once ---------------------------------------------------------------------------


def test_crossing_purchase_earns_at_the_old_rate_and_the_next_gets_the_new_discount(
    member, buy, tiers
):
    # when a Base member (0%, earns 1%) pays 2,500 ₽
    crossing = buy(member, "2500")

    # then that purchase is a Base purchase, and the member is Silver right after it
    assert (crossing.breakdown.base_discount, crossing.breakdown.points_earned) == (D("0.00"), 25)
    assert crossing.purchase.tier == crossing.tier_before == tiers["Base"]
    assert crossing.purchase.earn_percent == D("1.00")
    assert crossing.tier_after == tiers["Silver"]
    assert tier_of(member) == tiers["Silver"].name

    # when the next purchase comes
    following = buy(member, "1000")

    # then it gets Silver's 5% and earns 2% of 950
    assert (following.breakdown.base_discount, following.breakdown.points_earned) == (
        D("50.00"),
        19,
    )
    assert following.purchase.tier == tiers["Silver"]


@pytest.mark.parametrize(
    ("spend", "tier"),
    [("1999.99", "Base"), ("2000.00", "Silver"), ("19999.99", "Silver"), ("60000", "Platinum")],
)
def test_tier_after_one_purchase(member, buy, names, spend, tier):
    buy(member, spend)

    assert tier_of(member) == names[tier]


def test_tier_spend_is_the_total_after_discounts(silver, buy, names):
    # given a Silver member with 2,000 ₽ of spend already
    buy(silver, "2105.27")  # 2,000.01 after 5%
    assert member_progress(silver).qualifying == D("2000.01")

    # when a receipt of 18,947.36 (17,999.99 after 5%) leaves them 0.00 short of Gold
    buy(silver, "18947.36")

    # then
    assert member_progress(silver).qualifying == D("20000.00")
    assert tier_of(silver) == names["Gold"]


def test_one_cent_below_the_threshold_then_one_cent_more(member, buy, names):
    buy(member, "1999.99")
    assert tier_of(member) == names["Base"]

    buy(member, "0.01")

    assert tier_of(member) == names["Silver"]


# --- Down only at the review ----------------------------------------------------------------


def test_refund_does_not_downgrade_until_the_review(member, buy, cashier_actor, names):
    # given a member who became Silver with one purchase
    purchase = buy(member, "2500").purchase
    assert tier_of(member) == names["Silver"]

    # when it is refunded in full
    purchase_refund(purchase=purchase, actor=cashier_actor)

    # then the member stays Silver, though nothing qualifies any more
    assert tier_of(member) == names["Silver"]
    progress = member_progress(member)
    assert progress.qualifying == D("0.00")
    assert (progress.next_tier.name, progress.next_tier_remaining) == (names["Gold"], D("20000"))

    # and the review moves them down, once
    assert tier_review() == TierMoves(up=0, down=1)
    assert tier_of(member) == names["Base"]
    assert tier_review() == TierMoves(up=0, down=0)


def test_partial_refund_below_the_threshold_downgrades_at_the_review(
    member, buy, cashier_actor, names
):
    # given
    purchase = buy(member, "2500").purchase

    # when 600 of 2,500 come back: 1,900 still qualifies
    purchase_refund(purchase=purchase, amount="600.00", actor=cashier_actor)

    # then
    assert member_progress(member).qualifying == D("1900.00")
    assert tier_of(member) == names["Silver"]
    assert tier_review() == TierMoves(up=0, down=1)
    assert tier_of(member) == names["Base"]


def test_a_later_purchase_does_not_downgrade_either(member, buy, cashier_actor, names):
    purchase = buy(member, "2500").purchase
    purchase_refund(purchase=purchase, actor=cashier_actor)

    buy(member, "100")

    assert tier_of(member) == names["Silver"]


@pytest.fixture
def rolling(program):
    program.tier_window = ProgramSettings.TierWindow.ROLLING
    program.tier_window_months = 12
    program.save()
    return program


def test_rolling_window_review_downgrades_when_spend_leaves_the_window(
    member, buy, names, rolling, time_machine
):
    # given a member who became Silver on 15 January 2025 at 12:00 UTC
    time_machine.move_to(dt.datetime(2025, 1, 15, 12, 0, tzinfo=dt.UTC), tick=False)
    buy(member, "2500")
    assert tier_of(member) == names["Silver"]

    # when the review runs an hour before the purchase leaves the 12-month window
    time_machine.move_to(dt.datetime(2026, 1, 15, 11, 0, tzinfo=dt.UTC), tick=False)
    assert tier_review() == TierMoves(up=0, down=0)
    assert tier_of(member) == names["Silver"]

    # and when it runs at the moment it leaves
    time_machine.move_to(dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC), tick=False)
    moves = tier_review()

    # then
    assert moves == TierMoves(up=0, down=1)
    assert tier_of(member) == names["Base"]


def test_lifetime_window_keeps_old_spend(member, buy, names, time_machine):
    time_machine.move_to(dt.datetime(2020, 1, 15, 12, 0, tzinfo=dt.UTC), tick=False)
    buy(member, "2500")
    time_machine.move_to(dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC), tick=False)

    assert tier_review() == TierMoves(up=0, down=0)
    assert tier_of(member) == names["Silver"]


@pytest.mark.parametrize(
    ("at", "months", "start"),
    [
        ((2026, 3, 31, 12, 0), 12, (2025, 3, 31, 12, 0)),
        ((2026, 1, 15, 12, 0), 1, (2025, 12, 15, 12, 0)),
        ((2026, 5, 31, 9, 30), 3, (2026, 2, 28, 9, 30)),
        ((2024, 2, 29, 0, 0), 12, (2023, 2, 28, 0, 0)),
        ((2028, 3, 30, 0, 0), 1, (2028, 2, 29, 0, 0)),
        ((2026, 6, 15, 0, 0), 24, (2024, 6, 15, 0, 0)),
    ],
)
def test_window_starts_the_same_day_months_back(rolling, at, months, start):
    rolling.tier_window_months = months

    assert window_start(rolling, dt.datetime(*at, tzinfo=dt.UTC)) == dt.datetime(
        *start, tzinfo=dt.UTC
    )


def test_rolling_window_at_the_end_of_a_month(member, buy, names, rolling, time_machine):
    # given a Silver purchase on 30 March 2025, one day more than 12 months before 31 March
    time_machine.move_to(dt.datetime(2025, 3, 30, 12, 0, tzinfo=dt.UTC), tick=False)
    buy(member, "2500")

    # when the review runs on 31 March 2026
    time_machine.move_to(dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC), tick=False)
    moves = tier_review()

    # then the purchase is outside the window
    assert moves == TierMoves(up=0, down=1)
    assert tier_of(member) == names["Base"]


# --- Purchase-count basis -----------------------------------------------------------------


@pytest.fixture
def count_tiers(program):
    """PRODUCT.md's count program (5%, 10% after 300, 15% after 600), scaled to 3 and 6."""
    program.tier_basis = ProgramSettings.TierBasis.PURCHASES
    program.save()
    Tier.objects.all().delete()
    return {
        "5%": Tier.objects.create(name="5%", threshold=0, discount_percent=5, earn_percent=1),
        "10%": Tier.objects.create(name="10%", threshold=3, discount_percent=10, earn_percent=1),
        "15%": Tier.objects.create(name="15%", threshold=6, discount_percent=15, earn_percent=1),
    }


def test_purchase_count_basis_moves_up_after_the_nth_purchase(count_tiers, buy):
    # given
    member = factories.MemberFactory(tier=count_tiers["5%"])

    # when three purchases are made
    discounts = [buy(member, "1000").breakdown.base_discount for _ in range(3)]

    # then all three got 5% and the member has 10% from now on
    assert discounts == [D("50.00")] * 3
    assert tier_of(member) == "10%"
    assert buy(member, "1000").breakdown.base_discount == D("100.00")
    assert member_progress(member).qualifying == 4
    assert member_progress(member).next_tier_remaining == 2

    # and two more make six: 15%
    buy(member, "10")
    buy(member, "10")
    assert tier_of(member) == "15%"


def test_purchase_count_basis_ignores_fully_refunded_purchases(count_tiers, buy, cashier_actor):
    # given a member on 10% after three purchases
    member = factories.MemberFactory(tier=count_tiers["5%"])
    purchases = [buy(member, "1000").purchase for _ in range(3)]
    assert tier_of(member) == "10%"

    # when one is refunded in part and one in full
    purchase_refund(purchase=purchases[0], amount="100.00", actor=cashier_actor)
    purchase_refund(purchase=purchases[1], actor=cashier_actor)

    # then two purchases count, and the review (not the refund) moves the member down
    assert member_progress(member).qualifying == 2
    assert tier_of(member) == "10%"
    assert tier_review() == TierMoves(up=0, down=1)
    assert tier_of(member) == "5%"


# --- What-if ------------------------------------------------------------------------------


@pytest.fixture
def spenders(buy, tiers, cashier_actor):
    """Members with lifetime spend: A 2,500 (Silver), B 15,000 (Silver), C 25,000 (Gold),
    D nothing (Base), E 55,000 (Platinum), F 2,500 refunded (still Silver)."""
    people = {name: factories.MemberFactory(tier=tiers["Base"]) for name in "ABCDEF"}
    for name, total in {"A": "2500", "B": "15000", "C": "25000", "E": "55000", "F": "2500"}.items():
        buy(people[name], total)
    refund_of_f = people["F"].purchases.get()
    purchase_refund(purchase=refund_of_f, actor=cashier_actor)
    return people


def tiers_by_member(people):
    return {name: tier_of(m) for name, m in people.items()}


def test_what_if_without_a_change_shows_the_pending_downgrades(spenders, tiers):
    # given today's thresholds
    current = {t.id: t.threshold for t in tiers.values()}

    # then only F (refunded) would move, and the review does exactly that
    assert tier_what_if(thresholds=current) == TierMoves(up=0, down=1)
    assert tier_what_if(thresholds={}) == TierMoves(up=0, down=1)
    assert tier_review() == TierMoves(up=0, down=1)


@pytest.mark.parametrize(
    ("change", "expected", "moved"),
    [
        # Gold from 15,000: B moves up (F's pending downgrade counts too)
        ({"Gold": "15000"}, TierMoves(up=1, down=1), {"B": "Gold", "F": "Base"}),
        # Silver from 3,000 and Platinum from 60,000: A and E move down
        (
            {"Silver": "3000", "Platinum": "60000"},
            TierMoves(up=0, down=3),
            {"A": "Base", "E": "Gold", "F": "Base"},
        ),
        # both ways at once
        (
            {"Silver": "3000", "Gold": "15000"},
            TierMoves(up=1, down=2),
            {"A": "Base", "B": "Gold", "F": "Base"},
        ),
        # Silver from 1,000 (below A, above nothing else): nobody moves but F
        ({"Silver": "1000"}, TierMoves(up=0, down=1), {"F": "Base"}),
    ],
)
def test_what_if_counts_are_what_the_review_then_does(
    spenders, tiers, names, change, expected, moved
):
    # given the tiers before the change
    before = tiers_by_member(spenders)
    proposed = {tiers[name].id: D(value) for name, value in change.items()}
    everything = {t.id: t.threshold for t in tiers.values()} | proposed

    # when marketing asks what would happen (with only the changed tiers, or all of them)
    what_if = tier_what_if(thresholds=proposed)
    assert tier_what_if(thresholds=everything) == what_if

    # then nothing has moved yet
    assert tiers_by_member(spenders) == before

    # when the change is saved and the review runs
    for name, value in change.items():
        Tier.objects.filter(pk=tiers[name].pk).update(threshold=D(value))
    review = tier_review()

    # then
    assert what_if == review == expected
    after = tiers_by_member(spenders)
    assert {name: tier for name, tier in after.items() if tier != before[name]} == {
        name: names[tier] for name, tier in moved.items()
    }
    assert tier_review() == TierMoves(up=0, down=0)


def test_review_agrees_with_the_upgrade_on_sums_a_float_cannot_hold(tiers, buy, names):
    # given two Base members, each with three purchases of exactly 2,000.00 in all; added
    # as binary floats in one order or the other they make 1,999.9999999999998
    people = [factories.MemberFactory(tier=tiers["Base"]) for _ in range(2)]
    for member, totals in zip(
        people, [("706.16", "1007.54", "286.30"), ("286.30", "1007.54", "706.16")], strict=True
    ):
        for total in totals:
            buy(member, total)
        assert tier_of(member) == names["Silver"]

    # then the review and the what-if see the same 2,000.00 as the upgrade did
    assert tier_what_if(thresholds={}) == TierMoves(up=0, down=0)
    assert tier_review() == TierMoves(up=0, down=0)
    assert [tier_of(m) for m in people] == [names["Silver"]] * 2
