"""The checkout pipeline: evaluate and commit, idempotency, base rates, step 3 providers,
and strict parsing of amounts."""

import datetime as dt
from decimal import Decimal
from typing import ClassVar

import pytest
from django.utils import timezone

from loyalty.actors import Actor
from loyalty.models import BeneficiaryCategory, ProgramSettings
from loyalty.rules import Reward, RewardKind
from members.errors import (
    InvalidAmount,
    NoRewardApplies,
    PointsOverLimit,
    ReceiptConflict,
    RefundNotAllowed,
)
from members.models import LedgerEntry, Member, PointsLot, Purchase, Refund
from members.services import checkout_evaluate, purchase_refund
from members.services.checkout import money_input, reward_providers
from tests import factories
from tests.members.conftest import assert_ledger_holds

D = Decimal


def snapshot():
    """Everything a checkout may write, to assert that a failure changed nothing."""
    return (
        list(
            Purchase.objects.order_by("pk").values_list(
                "pk", "refunded_paid", "points_taken_back", "points_returned", "is_fully_refunded"
            )
        ),
        LedgerEntry.objects.count(),
        PointsLot.objects.count(),
        Refund.objects.count(),
        list(Member.objects.order_by("pk").values_list("pk", "points_balance", "tier_id")),
        list(PointsLot.objects.order_by("pk").values_list("pk", "remaining")),
    )


@pytest.fixture
def silver_500(silver, grant):
    grant(silver, 500)
    return silver


# --- Worked example and evaluate -----------------------------------------------------------


def test_worked_example_without_code_records_every_step(silver_500, buy, cashier):
    # when
    result = buy(silver_500, "3000.00", points=None, receipt="A-100")

    # then
    purchase = result.purchase
    purchase.refresh_from_db()
    assert result.replayed is False
    assert (purchase.total, purchase.base_rate, purchase.base_source) == (
        D("3000.00"),
        D("5.00"),
        "tier",
    )
    assert (purchase.base_discount, purchase.code_discount) == (D("150.00"), D("0.00"))
    assert (purchase.points_max, purchase.points_spent, purchase.paid) == (500, 500, D("2350.00"))
    assert (purchase.earn_percent, purchase.points_earned) == (D("2.00"), 47)
    assert purchase.tier_spend == D("2850.00")
    assert purchase.tier == result.tier_before == result.tier_after
    assert (purchase.channel, purchase.recorded_by, purchase.partner) == ("cashier", cashier, None)
    assert [s["rule"] for s in purchase.steps] == [
        "total",
        "tier",
        "points_spent",
        "paid",
        "points_earned",
    ]
    assert [s["amount"] for s in purchase.steps] == ["3000.00", "150.00", "500", "2350.00", "47"]
    assert assert_ledger_holds(silver_500) == 47


def test_checkout_by_a_partner_records_the_partner(silver, buy, partner):
    result = buy(silver, "100", actor=Actor.for_partner(partner))

    assert (result.purchase.channel, result.purchase.partner) == ("partner", partner)
    assert result.purchase.recorded_by is None
    assert LedgerEntry.objects.get(purchase=result.purchase).actor == f"partner:{partner.pk}"


def test_evaluate_changes_nothing(silver_500, store):
    # given
    before = snapshot()

    # when
    result = checkout_evaluate(member=silver_500, store=store, total="3000", points_to_spend=None)

    # then
    assert (result.breakdown.points_spent, result.breakdown.paid) == (500, D("2350.00"))
    assert result.purchase is None
    assert snapshot() == before


def test_more_points_than_allowed_are_refused_and_nothing_changes(silver_500, buy, store):
    # given
    before = snapshot()

    # when / then: 30% of 1,000 - 5% is 285
    with pytest.raises(PointsOverLimit) as exc_info:
        buy(silver_500, "1000", points=286)
    assert exc_info.value.params == {"allowed": 285}
    with pytest.raises(PointsOverLimit):
        checkout_evaluate(member=silver_500, store=store, total="1000", points_to_spend=286)
    assert snapshot() == before


def test_negative_points_are_refused(silver_500, buy):
    before = snapshot()

    with pytest.raises(InvalidAmount):
        buy(silver_500, "1000", points=-1)

    assert snapshot() == before


def test_blank_receipt_number_is_refused(silver_500, buy):
    before = snapshot()

    with pytest.raises(InvalidAmount) as exc_info:
        buy(silver_500, "1000", receipt="   ")

    assert exc_info.value.code == "receipt_number_required"
    assert snapshot() == before


# --- Idempotency ------------------------------------------------------------------------


def test_same_receipt_and_same_data_is_replayed(silver_500, buy):
    # given
    first = buy(silver_500, "3000.00", points=None, receipt="R-7")
    before = snapshot()

    # when the cashier double-clicks (the receipt typed with spaces, total without kopecks)
    again = buy(silver_500, "3000", points=None, receipt=" R-7 ")

    # then the same purchase comes back and nothing is written twice
    assert again.replayed is True
    assert again.purchase.pk == first.purchase.pk
    assert snapshot() == before
    assert again.breakdown.paid == first.breakdown.paid == D("2350.00")
    assert again.breakdown.points_spent == 500
    assert again.breakdown.points_earned == 47
    assert again.breakdown.tier_spend == D("2850.00")
    assert [(s.rule, s.amount) for s in again.breakdown.steps] == [
        (s.rule, s.amount) for s in first.breakdown.steps
    ]
    assert again.tier_before == first.tier_before


@pytest.mark.parametrize(
    "change",
    [
        {"total": "3000.01"},
        {"points": 499},
        {"points": None, "code": "SPRING10"},
    ],
)
def test_same_receipt_with_other_data_is_a_conflict(silver_500, buy, change):
    # given
    buy(silver_500, "3000.00", points=500, receipt="R-7")
    before = snapshot()

    # when
    data = {"total": "3000.00", "points": 500} | change
    with pytest.raises(ReceiptConflict):
        buy(silver_500, data.pop("total"), receipt="R-7", **data)

    # then
    assert snapshot() == before


def test_same_receipt_for_another_member_is_a_conflict(silver_500, buy):
    buy(silver_500, "3000.00", receipt="R-7")
    other = factories.MemberFactory()
    before = snapshot()

    with pytest.raises(ReceiptConflict):
        buy(other, "3000.00", receipt="R-7")

    assert snapshot() == before


def test_same_receipt_number_in_another_store_is_another_purchase(silver_500, buy):
    # given
    first = buy(silver_500, "100", receipt="R-1")

    # when
    other = buy(silver_500, "100", receipt="R-1", store=factories.StoreFactory(code="SPB-01"))

    # then
    assert other.replayed is False
    assert other.purchase.pk != first.purchase.pk
    assert Purchase.objects.count() == 2


# --- Base rate: tier, beneficiary, stacking ---------------------------------------------------


@pytest.fixture
def pensioner():
    return BeneficiaryCategory.objects.get(code="pensioner")  # 7%, proof required


def with_category(member, category, verified_until):
    member.beneficiary_category = category
    member.beneficiary_verified_until = verified_until
    member.save()
    return member


def evaluate(member, store, total="1000"):
    return checkout_evaluate(member=member, store=store, total=total).breakdown


def test_verified_beneficiary_discount_beats_a_lower_tier(silver, pensioner, store):
    # given a Silver (5%) pensioner (7%) whose proof is valid until today
    with_category(silver, pensioner, timezone.localdate())

    # when
    b = evaluate(silver, store)

    # then the best of them applies
    assert (b.base_rate, b.base_source, b.base_discount) == (D("7.00"), "beneficiary", D("70.00"))
    assert b.earn_percent == D("2.00")  # points still earn at the tier's rate


@pytest.mark.parametrize(
    "verified_until",
    [None, dt.date(2000, 1, 1), "yesterday"],
)
def test_beneficiary_discount_needs_valid_proof(silver, pensioner, store, verified_until):
    # given a pensioner whose proof is missing or expired
    if verified_until == "yesterday":
        verified_until = timezone.localdate() - dt.timedelta(days=1)
    with_category(silver, pensioner, verified_until)

    # then only the tier discount applies
    b = evaluate(silver, store)
    assert (b.base_rate, b.base_source, b.base_discount) == (D("5.00"), "tier", D("50.00"))


def test_category_without_proof_requirement_applies_without_proof(silver, store):
    category = factories.BeneficiaryCategoryFactory(
        code="veteran", discount_percent=D("8"), is_proof_required=False
    )
    with_category(silver, category, None)

    b = evaluate(silver, store)

    assert (b.base_rate, b.base_source) == (D("8"), "beneficiary")


def test_inactive_category_gives_nothing(silver, pensioner, store):
    pensioner.is_active = False
    pensioner.save()
    with_category(silver, pensioner, timezone.localdate() + dt.timedelta(days=30))

    b = evaluate(silver, store)

    assert (b.base_rate, b.base_source) == (D("5.00"), "tier")


def test_higher_tier_beats_the_beneficiary_discount(tiers, pensioner, store):
    gold = factories.MemberFactory(tier=tiers["Gold"])
    with_category(gold, pensioner, timezone.localdate() + dt.timedelta(days=30))

    b = evaluate(gold, store)

    assert (b.base_rate, b.base_source, b.base_discount) == (D("10.00"), "tier", D("100.00"))


def test_sum_capped_policy_adds_tier_and_beneficiary(silver, pensioner, store, program):
    # given "sum, capped at 15%"
    program.stacking_policy = ProgramSettings.StackingPolicy.SUM_CAPPED
    program.save()
    with_category(silver, pensioner, timezone.localdate() + dt.timedelta(days=30))

    # when
    b = evaluate(silver, store)

    # then 5% + 7%
    assert (b.base_rate, b.base_source, b.base_discount) == (
        D("12.00"),
        "tier+beneficiary",
        D("120.00"),
    )


# --- Step 3 through the provider extension point ---------------------------------------


class StubCodes:
    """A stand-in reward provider: code SPRING10 (10%) and two personal offers."""

    name = "test-codes"
    claims: ClassVar[list] = []
    releases: ClassVar[list] = []

    def candidates(self, ctx):
        rewards = [
            Reward("offer", "50 ₽ coupon", RewardKind.FIXED, D("50"), reference="COUPON-50"),
            Reward(
                "offer",
                "200 points",
                RewardKind.POINTS,
                D("200"),
                min_receipt=D("5000"),
                reference="POINTS-200",
            ),
        ]
        if ctx.code.upper() == "SPRING10":
            rewards.append(
                Reward(
                    "code", "Promo code SPRING10", RewardKind.PERCENT, D("10"), reference="SPRING10"
                )
            )
        return rewards

    def claim(self, reward, *, ctx, purchase):
        StubCodes.claims.append((purchase.pk, reward.reference))

    def release(self, *, purchase, full_refund, actor):
        StubCodes.releases.append((purchase.pk, full_refund))


@pytest.fixture
def codes(settings):
    settings.LOYALTY_REWARD_PROVIDERS = ["tests.members.test_checkout.StubCodes"]
    reward_providers.cache_clear()
    StubCodes.claims.clear()
    StubCodes.releases.clear()
    yield StubCodes
    reward_providers.cache_clear()


def test_worked_example_with_the_ten_percent_code(codes, silver_500, buy, cashier_actor):
    # when the Silver member with 500 points types the 10% code on 3,000 ₽
    result = buy(silver_500, "3000.00", points=None, code="spring10", receipt="C-1")

    # then
    b = result.breakdown
    assert (b.base_discount, b.code_discount) == (D("150.00"), D("285.00"))
    assert (b.points_max, b.points_spent) == (500, 500)
    assert (b.paid, b.points_earned, b.tier_spend) == (D("2065.00"), 41, D("2565.00"))
    purchase = result.purchase
    assert (purchase.reward_source, purchase.reward_reference) == ("code", "SPRING10")
    assert purchase.code_discount == D("285.00")
    assert codes.claims == [(purchase.pk, "SPRING10")]
    assert assert_ledger_holds(silver_500) == 41

    # and a retry neither claims the code again nor writes anything
    again = buy(silver_500, "3000.00", points=None, code="SPRING10", receipt="C-1")
    assert again.replayed is True
    assert codes.claims == [(purchase.pk, "SPRING10")]

    # and a full refund releases it
    purchase_refund(purchase=purchase, actor=cashier_actor)
    assert codes.releases == [(purchase.pk, True)]


def test_without_a_code_the_offer_worth_most_applies(codes, silver, buy, store):
    # given 5% of 1,000 is 50, a 50 ₽ coupon, and 200 points that need 5,000
    b = evaluate(silver, store)
    assert (b.reward.reference, b.code_discount) == ("COUPON-50", D("50.00"))

    # when the receipt reaches 5,000 the 200 points are worth more
    result = buy(silver, "5000")

    # then the points are the reward, granted by its provider after the purchase
    assert result.chosen.reward.reference == "POINTS-200"
    assert result.breakdown.code_discount == D("0.00")
    assert result.breakdown.reward_points == 200
    assert codes.claims == [(result.purchase.pk, "POINTS-200")]


def test_cashier_may_pick_the_offer(codes, silver, store):
    result = checkout_evaluate(member=silver, store=store, total="5000", choice="COUPON-50")

    assert result.breakdown.code_discount == D("50.00")


@pytest.mark.parametrize(("code", "choice"), [("WINTER", ""), ("", "NO-SUCH-OFFER")])
def test_unknown_code_or_choice_is_refused_and_nothing_changes(codes, silver, buy, code, choice):
    before = snapshot()

    with pytest.raises(NoRewardApplies):
        buy(silver, "5000", code=code, choice=choice)

    assert snapshot() == before
    assert codes.claims == []


# --- Amounts ------------------------------------------------------------------------------

BAD_AMOUNTS = [
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1e309",
    "1.005",
    "0.001",
    "1e-3",
    "1,5",
    "1 500",
    "abc",
    "",
    "   ",
    "-1",
    "-0.01",
    "10000000000.00",
    True,
    False,
    None,
    1.5,
    float("nan"),
    float("inf"),
    D("NaN"),
    D("Infinity"),
    D("1.005"),
    D("-5"),
    [],
]


@pytest.mark.parametrize("value", BAD_AMOUNTS, ids=repr)
def test_money_input_refuses_bad_amounts(value):
    with pytest.raises(InvalidAmount) as exc_info:
        money_input(value)

    assert exc_info.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1500", "1500.00"),
        (1500, "1500.00"),
        ("0.1", "0.10"),
        (" 99.90 ", "99.90"),
        (D("12.3"), "12.30"),
        ("1E+3", "1000.00"),
        ("0", "0.00"),
        ("-0", "0.00"),
        ("-0.00", "0.00"),
        ("9999999999.99", "9999999999.99"),
    ],
)
def test_money_input_accepts_decimal_amounts(value, expected):
    assert str(money_input(value)) == expected


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "1e309", "1.005", "1,5", True, None, "", "-1"]
)
def test_bad_total_changes_nothing(silver_500, buy, store, value):
    before = snapshot()

    with pytest.raises(InvalidAmount):
        buy(silver_500, value)
    with pytest.raises(InvalidAmount):
        checkout_evaluate(member=silver_500, store=store, total=value)

    assert snapshot() == before


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e309", "1.005", "1,5", True, "", "-1"])
def test_bad_refund_amount_changes_nothing(silver_500, buy, cashier_actor, value):
    purchase = buy(silver_500, "1000").purchase
    before = snapshot()

    with pytest.raises(InvalidAmount):
        purchase_refund(purchase=purchase, amount=value, actor=cashier_actor)

    assert snapshot() == before


def test_zero_refund_is_refused(silver_500, buy, cashier_actor):
    purchase = buy(silver_500, "1000").purchase
    before = snapshot()

    with pytest.raises(RefundNotAllowed) as exc_info:
        purchase_refund(purchase=purchase, amount="0.00", actor=cashier_actor)

    assert exc_info.value.code == "invalid_amount"
    assert snapshot() == before


def test_kopecks_that_a_float_cannot_hold_add_up(member, grant, buy):
    # given 6 points; 20.97 − 6 is 14.969999… in binary floating point
    grant(member, 6)

    # when
    purchase = buy(member, "20.97", points=6).purchase

    # then the stored amounts add up exactly
    purchase.refresh_from_db()
    assert (purchase.total, purchase.points_spent, purchase.paid) == (D("20.97"), 6, D("14.97"))
    assert_ledger_holds(member)
