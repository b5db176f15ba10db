"""The pure program rules (loyalty/rules.py), without a database.

The worked examples are those of PRODUCT.md, "Checkout arithmetic".
"""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty import rules
from loyalty.rules import (
    BaseRate,
    PointsOverLimit,
    Reward,
    RewardKind,
    StackingPolicy,
    TierRule,
)


@pytest.fixture
def program():
    """Overrides the autouse database fixture of tests/conftest.py: rules need no database."""


D = Decimal
BASE = TierRule(1, "Base", D("0"), D("0"), D("1"))
SILVER = TierRule(2, "Silver", D("2000"), D("5"), D("2"))
GOLD = TierRule(3, "Gold", D("20000"), D("10"), D("3"))
PLATINUM = TierRule(4, "Platinum", D("50000"), D("12"), D("5"))
DEFAULT_TIERS = [PLATINUM, BASE, GOLD, SILVER]  # deliberately unordered

RECEIPT_3000 = D("3000")
WORKED_TIER_SPEND = D("2850.00")
TEN_PERCENT_CODE = Reward("code", "Promo code SPRING10", RewardKind.PERCENT, D("10"))


def silver_checkout(*, reward=None, balance=500, points_to_spend=None, total=RECEIPT_3000):
    return rules.checkout(
        total=total,
        base_candidates=[BaseRate("tier", "Tier discount: Silver", D("5"))],
        policy=StackingPolicy.BEST_OF,
        stacking_cap_percent=D("15"),
        reward=reward,
        points_balance=balance,
        points_to_spend=points_to_spend,
        points_cap_percent=D("30"),
        earn_percent=D("2"),
    )


# --- Money and points rounding -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("0.005"), D("0.01")),
        (D("0.00499999"), D("0.00")),
        (D("2.675"), D("2.68")),  # a float would give 2.67
        (D("1.995"), D("2.00")),
        (D("-0.005"), D("-0.01")),  # half up means away from zero
        (D("150"), D("150.00")),
        (3, D("3.00")),
        ("12.3", D("12.30")),
    ],
)
def test_money_rounds_half_up_to_the_kopeck(value, expected):
    # when
    result = rules.money(value)

    # then
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("41.3"), 41),
        (D("41.99"), 41),
        (D("47.00"), 47),
        (D("0"), 0),
        (D("0.99"), 0),
        (D("-0.5"), -1),
    ],
)
def test_points_always_round_down(value, expected):
    assert rules.points_floor(value) == expected


def test_percent_of_rounds_the_kopeck_half_up():
    assert rules.percent_of(D("3000"), D("5")) == D("150.00")
    assert rules.percent_of(D("0.10"), D("5")) == D("0.01")  # 0.005
    assert rules.percent_of(D("0.09"), D("5")) == D("0.00")  # 0.0045


# --- Tiers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qualifying", "expected"),
    [
        (D("0"), BASE),
        (D("1999.99"), BASE),
        (D("2000"), SILVER),
        (D("2000.01"), SILVER),
        (D("19999.99"), SILVER),
        (D("20000.00"), GOLD),
        (D("49999.99"), GOLD),
        (D("50000"), PLATINUM),
        (D("1000000000"), PLATINUM),
    ],
)
def test_tier_for_at_and_around_thresholds(qualifying, expected):
    assert rules.tier_for(qualifying, DEFAULT_TIERS) == expected


def test_tier_for_below_every_threshold_is_the_lowest_tier():
    # given a program whose lowest tier starts above zero
    tiers = [
        TierRule(1, "Start", D("100"), D("1"), D("1")),
        TierRule(2, "Up", D("300"), D(2), D(2)),
    ]

    # then a member below it still has a tier
    assert rules.tier_for(D("0"), tiers).name == "Start"


def test_tier_for_needs_a_tier():
    with pytest.raises(ValueError, match="at least one tier"):
        rules.tier_for(D("10"), [])


@pytest.mark.parametrize(
    ("qualifying", "expected"),
    [
        (D("0"), (SILVER, D("2000"))),
        (D("1999.99"), (SILVER, D("0.01"))),
        (D("2000"), (GOLD, D("18000"))),
        (D("19999.99"), (GOLD, D("0.01"))),
        (D("20000"), (PLATINUM, D("30000"))),
        (D("49999.99"), (PLATINUM, D("0.01"))),
        (D("50000"), None),
        (D("75000"), None),
    ],
)
def test_next_tier_and_what_is_missing(qualifying, expected):
    assert rules.next_tier(qualifying, DEFAULT_TIERS) == expected


def test_purchase_count_tiers_work_with_counts():
    # given the purchase-count program of PRODUCT.md: 5%, 10% after 300, 15% after 600
    tiers = [
        TierRule(1, "5%", D("0"), D("5"), D("1")),
        TierRule(2, "10%", D("300"), D("10"), D("1")),
        TierRule(3, "15%", D("600"), D("15"), D("1")),
    ]

    # then
    assert rules.tier_for(D("299"), tiers).name == "5%"
    assert rules.tier_for(D("300"), tiers).name == "10%"
    assert rules.tier_for(D("599"), tiers).name == "10%"
    assert rules.tier_for(D("600"), tiers).name == "15%"
    assert rules.next_tier(D("299"), tiers) == (tiers[1], D("1"))


# --- Base rate (step 2) ---------------------------------------------------------------

TIER_5 = BaseRate("tier", "Tier", D("5"))
TIER_12 = BaseRate("tier", "Tier", D("12"))
PENSIONER_7 = BaseRate("beneficiary", "Pensioner", D("7"))
DISABLED_10 = BaseRate("beneficiary", "Disabled", D("10"))
SALE_0 = BaseRate("closed_sale", "Sale", D("0"))


def test_best_of_takes_the_highest_candidate():
    rate, source, counted = rules.base_rate(
        [TIER_5, PENSIONER_7], policy=StackingPolicy.BEST_OF, cap_percent=D("15")
    )

    assert (rate, source, counted) == (D("7"), "beneficiary", [PENSIONER_7])


def test_best_of_tie_goes_to_the_tier():
    student_5 = BaseRate("beneficiary", "Student", D("5"))

    rate, source, counted = rules.base_rate(
        [TIER_5, student_5], policy=StackingPolicy.BEST_OF, cap_percent=D("15")
    )

    assert (rate, source, counted) == (D("5"), "tier", [TIER_5])


@pytest.mark.parametrize("policy", list(StackingPolicy))
def test_no_positive_candidate_gives_no_rate(policy):
    zero_tier = BaseRate("tier", "Base", D("0"))

    assert rules.base_rate([zero_tier, SALE_0], policy=policy, cap_percent=D("15")) == (
        D("0"),
        "",
        [],
    )


def test_sum_capped_adds_below_the_cap():
    rate, source, counted = rules.base_rate(
        [TIER_5, PENSIONER_7, SALE_0], policy=StackingPolicy.SUM_CAPPED, cap_percent=D("15")
    )

    assert (rate, source, counted) == (D("12"), "tier+beneficiary", [TIER_5, PENSIONER_7])


def test_sum_capped_stops_at_the_cap():
    rate, source, _counted = rules.base_rate(
        [TIER_12, DISABLED_10], policy=StackingPolicy.SUM_CAPPED, cap_percent=D("15")
    )

    assert (rate, source) == (D("15"), "tier+beneficiary")


def test_checkout_with_summed_base_discounts_shows_each_and_the_sum():
    # when a Platinum (12%) disabled (10%) member buys for 1,000 under "sum, capped at 15%"
    b = rules.checkout(
        total=D("1000"),
        base_candidates=[TIER_12, DISABLED_10],
        policy=StackingPolicy.SUM_CAPPED,
        stacking_cap_percent=D("15"),
        reward=None,
        points_balance=0,
        points_to_spend=0,
        points_cap_percent=D("30"),
        earn_percent=D("5"),
    )

    # then
    assert b.base_rate == D("15")
    assert b.base_discount == D("150.00")
    assert b.paid == D("850.00")
    assert b.points_earned == 42
    assert [(s.rule, s.amount) for s in b.steps] == [
        ("total", D("1000.00")),
        ("tier", D("0.00")),
        ("beneficiary", D("0.00")),
        ("base_discount", D("150.00")),
        ("paid", D("850.00")),
        ("points_earned", 42),
    ]


# --- Reward (step 3) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reward", "total", "after_base", "expected"),
    [
        (Reward("code", "10%", RewardKind.PERCENT, D("10")), D("3000"), D("2850"), D("285.00")),
        (
            Reward("code", "10% up to 200", RewardKind.PERCENT, D("10"), cap=D("200")),
            D("3000"),
            D("2850"),
            D("200.00"),
        ),
        (
            Reward("code", "10% up to 300", RewardKind.PERCENT, D("10"), cap=D("300")),
            D("3000"),
            D("2850"),
            D("285.00"),
        ),
        # 10% of 0.05 is 0.005: rounds half up
        (Reward("code", "10%", RewardKind.PERCENT, D("10")), D("0.05"), D("0.05"), D("0.01")),
        (Reward("coupon", "50 ₽", RewardKind.FIXED, D("50")), D("600"), D("600"), D("50.00")),
        # a fixed reward never exceeds what is left to pay
        (Reward("coupon", "500 ₽", RewardKind.FIXED, D("500")), D("300"), D("285"), D("285")),
        (Reward("gift", "Bonus", RewardKind.POINTS, D("100")), D("3000"), D("2850"), D("0.00")),
        (Reward("gift", "Mug", RewardKind.GIFT, D("1")), D("3000"), D("2850"), D("0.00")),
    ],
)
def test_reward_discount(reward, total, after_base, expected):
    assert rules.reward_discount(reward, total=total, after_base=after_base) == expected


def test_min_receipt_compares_with_the_total_before_discounts():
    # given a 150 ₽ coupon for receipts of at least 1,000 ₽
    coupon = Reward("coupon", "150 ₽", RewardKind.FIXED, D("150"), min_receipt=D("1000"))

    # then the total decides, not what is left after the base discount
    assert rules.reward_discount(coupon, total=D("999.99"), after_base=D("999.99")) == D("0.00")
    assert rules.reward_discount(coupon, total=D("1000.00"), after_base=D("950.00")) == D("150.00")


def test_reward_worth_counts_points_as_roubles():
    bonus = Reward("gift", "Bonus", RewardKind.POINTS, D("300"), min_receipt=D("500"))

    assert rules.reward_worth(bonus, total=D("500"), after_base=D("475")) == D("300")
    assert rules.reward_worth(bonus, total=D("499.99"), after_base=D("475")) == D("0.00")
    assert rules.reward_worth(TEN_PERCENT_CODE, total=D("3000"), after_base=D("2850")) == D(
        "285.00"
    )


# --- Points that may pay (step 4) -----------------------------------------------------


@pytest.mark.parametrize(
    ("balance", "after_discounts", "expected"),
    [
        (500, D("2565.00"), 500),  # cap 769.5 → 769, the balance is lower
        (1000, D("2565.00"), 769),
        (1000, D("2850.00"), 855),
        (1000, D("3.33"), 0),  # 0.999 rounds down
        (1000, D("3.34"), 1),
        (0, D("1000"), 0),
        (1000, D("0"), 0),
        (-5, D("1000"), 0),
    ],
)
def test_points_max(balance, after_discounts, expected):
    assert (
        rules.points_max(balance=balance, after_discounts=after_discounts, cap_percent=D("30"))
        == expected
    )


# --- The whole checkout: PRODUCT.md worked examples -----------------------------------


def test_worked_example_with_the_ten_percent_code():
    # when a Silver member (5%, earns 2%) with 500 points uses a 10% code on 3,000 ₽
    # and spends all the points allowed
    b = silver_checkout(reward=TEN_PERCENT_CODE)

    # then
    assert b.total == D("3000.00")
    assert b.base_rate == D("5")
    assert b.base_source == "tier"
    assert b.base_discount == D("150.00")
    assert b.code_discount == D("285.00")
    assert b.points_max == 500
    assert rules.points_floor((b.total - b.base_discount - b.code_discount) * D("0.3")) == 769
    assert b.points_spent == 500
    assert b.paid == D("2065.00")
    assert b.points_earned == 41
    assert b.tier_spend == D("2565.00")
    assert [(s.rule, s.amount) for s in b.steps] == [
        ("total", D("3000.00")),
        ("tier", D("150.00")),
        ("code", D("285.00")),
        ("points_spent", 500),
        ("paid", D("2065.00")),
        ("points_earned", 41),
    ]


def test_worked_example_with_the_code_and_a_large_balance_hits_the_cap():
    b = silver_checkout(reward=TEN_PERCENT_CODE, balance=5000)

    assert b.points_max == 769
    assert b.points_spent == 769
    assert b.paid == D("1796.00")
    assert b.points_earned == 35  # 35.92


def test_worked_example_without_a_code():
    # when the same member pays 3,000 ₽ without a code, spending all allowed
    b = silver_checkout()

    # then
    assert b.base_discount == D("150.00")
    assert b.code_discount == D("0.00")
    assert b.points_max == 500
    assert b.points_spent == 500
    assert b.paid == D("2350.00")
    assert b.points_earned == 47
    assert b.tier_spend == D("2850.00")
    assert [s.rule for s in b.steps] == ["total", "tier", "points_spent", "paid", "points_earned"]


def test_checkout_spends_exactly_what_is_asked_when_allowed():
    b = silver_checkout(points_to_spend=200)

    assert b.points_spent == 200
    assert b.paid == D("2650.00")
    assert b.points_earned == 53


def test_checkout_without_points_has_no_points_step():
    b = silver_checkout(points_to_spend=0)

    assert b.points_spent == 0
    assert b.paid == D("2850.00")
    assert b.points_earned == 57
    assert "points_spent" not in [s.rule for s in b.steps]


@pytest.mark.parametrize(
    ("balance", "requested", "allowed"),
    [(500, 501, 500), (5000, 856, 855), (0, 1, 0)],
)
def test_more_points_than_allowed_raise_points_over_limit(balance, requested, allowed):
    with pytest.raises(PointsOverLimit) as exc_info:
        silver_checkout(balance=balance, points_to_spend=requested)

    assert exc_info.value.requested == requested
    assert exc_info.value.allowed == allowed


def test_negative_points_to_spend_are_refused():
    with pytest.raises(ValueError, match="cannot be negative"):
        silver_checkout(points_to_spend=-1)


def test_points_reward_grants_points_and_no_money():
    bonus = Reward("offer", "300 bonus points", RewardKind.POINTS, D("300"), reference="OFF-1")

    b = silver_checkout(reward=bonus, points_to_spend=0)

    assert b.code_discount == D("0.00")
    assert b.reward_points == 300
    assert b.paid == D("2850.00")
    assert ("offer", 300) in [(s.rule, s.amount) for s in b.steps]


def test_points_reward_below_min_receipt_grants_nothing():
    bonus = Reward("offer", "300 bonus points", RewardKind.POINTS, D("300"), min_receipt=D("5000"))

    b = silver_checkout(reward=bonus, points_to_spend=0)

    assert b.reward_points == 0
    assert b.paid == D("2850.00")


def test_fixed_reward_larger_than_the_receipt_leaves_nothing_to_pay_or_spend():
    coupon = Reward("coupon", "2,000 ₽", RewardKind.FIXED, D("2000"))

    b = silver_checkout(reward=coupon, total=D("1000"))

    assert b.base_discount == D("50.00")
    assert b.code_discount == D("950.00")
    assert b.points_max == 0
    assert b.paid == D("0.00")
    assert b.points_earned == 0


# --- Refund shares ----------------------------------------------------------------------


def shares(paid, before, amount, *, earned=47, spent=500, tier_spend=WORKED_TIER_SPEND):
    return rules.refund_shares(
        paid=D(paid),
        refunded_before=D(before),
        refund_amount=D(amount),
        points_earned=earned,
        points_spent=spent,
        tier_spend=tier_spend,
    )


def test_full_refund_reverses_the_whole_purchase():
    assert shares("2350.00", "0", "2350.00") == rules.RefundShares(47, 500, D("2850.00"))


def test_half_refund_reverses_half_rounding_points_down():
    assert shares("2350.00", "0", "1175.00") == rules.RefundShares(23, 250, D("1425.00"))
    assert shares("2350.00", "1175.00", "1175.00") == rules.RefundShares(24, 250, D("1425.00"))


def test_a_third_refunded_takes_back_exactly_a_third():
    # given a purchase paid 30.00 that earned 3 and spent 3 points; a third comes back
    first = shares("30.00", "0", "10.00", earned=3, spent=3, tier_spend=D("33.00"))
    second = shares("30.00", "10.00", "10.00", earned=3, spent=3, tier_spend=D("33.00"))
    third = shares("30.00", "20.00", "10.00", earned=3, spent=3, tier_spend=D("33.00"))

    # then each third reverses exactly one point each way and a third of the spend
    assert first == rules.RefundShares(1, 1, D("11.00"))
    assert second == rules.RefundShares(1, 1, D("11.00"))
    assert third == rules.RefundShares(1, 1, D("11.00"))


def test_refund_of_a_purchase_paid_entirely_otherwise_reverses_everything():
    assert shares("0.00", "0", "0", earned=0, spent=10, tier_spend=D("10")) == (
        rules.RefundShares(0, 10, D("10.00"))
    )


# --- Properties --------------------------------------------------------------------------

kopecks = st.integers(min_value=0, max_value=10**9).map(lambda k: D(k).scaleb(-2))
percents = st.integers(min_value=0, max_value=10000).map(lambda k: D(k).scaleb(-2))
small_percents = st.integers(min_value=0, max_value=3000).map(lambda k: D(k).scaleb(-2))
rewards = st.one_of(
    st.none(),
    st.builds(
        Reward,
        source=st.just("code"),
        label=st.just("code"),
        kind=st.just(RewardKind.PERCENT),
        value=percents,
        cap=st.one_of(st.none(), kopecks),
        min_receipt=kopecks,
    ),
    st.builds(
        Reward,
        source=st.just("coupon"),
        label=st.just("coupon"),
        kind=st.just(RewardKind.FIXED),
        value=kopecks,
        min_receipt=kopecks,
    ),
)


@settings(max_examples=300)
@given(
    total=kopecks,
    tier_percent=small_percents,
    beneficiary_percent=small_percents,
    policy=st.sampled_from(list(StackingPolicy)),
    reward=rewards,
    balance=st.integers(min_value=0, max_value=10**8),
    spend=st.one_of(st.none(), st.floats(min_value=0, max_value=1)),
    cap_percent=percents,
    earn_percent=small_percents,
)
def test_checkout_arithmetic_properties(
    total,
    tier_percent,
    beneficiary_percent,
    policy,
    reward,
    balance,
    spend,
    cap_percent,
    earn_percent,
):
    # given a candidate pair and how much of the allowed points to spend (None = all)
    candidates = [
        BaseRate("tier", "t", tier_percent),
        BaseRate("beneficiary", "b", beneficiary_percent),
    ]
    allowed_before = rules.checkout(
        total=total,
        base_candidates=candidates,
        policy=policy,
        stacking_cap_percent=D("15"),
        reward=reward,
        points_balance=balance,
        points_to_spend=0,
        points_cap_percent=cap_percent,
        earn_percent=earn_percent,
    ).points_max
    points_to_spend = None if spend is None else int(allowed_before * spend)

    # when
    b = rules.checkout(
        total=total,
        base_candidates=candidates,
        policy=policy,
        stacking_cap_percent=D("15"),
        reward=reward,
        points_balance=balance,
        points_to_spend=points_to_spend,
        points_cap_percent=cap_percent,
        earn_percent=earn_percent,
    )

    # then
    assert b.paid == b.total - b.base_discount - b.code_discount - b.points_spent
    assert b.paid >= 0
    assert b.base_discount >= 0
    assert b.code_discount >= 0
    assert b.tier_spend == b.total - b.base_discount - b.code_discount
    assert b.points_max == min(balance, rules.points_floor(b.tier_spend * cap_percent / 100))
    assert 0 <= b.points_spent <= b.points_max
    assert b.points_spent == (b.points_max if points_to_spend is None else points_to_spend)
    assert b.points_earned == rules.points_floor(b.paid * earn_percent / 100)
    assert b.base_discount == rules.money(b.total * b.base_rate / 100)
    if policy == StackingPolicy.BEST_OF:
        assert b.base_rate == max(tier_percent, beneficiary_percent)
    else:
        assert b.base_rate == min(tier_percent + beneficiary_percent, D("15"))
    for amount in (b.total, b.base_discount, b.code_discount, b.paid, b.tier_spend):
        assert amount.as_tuple().exponent == -2


@settings(max_examples=300)
@given(
    total=kopecks,
    balance=st.integers(min_value=0, max_value=10**8),
)
def test_points_never_pay_more_than_thirty_percent(total, balance):
    b = silver_checkout(total=total, balance=balance, reward=TEN_PERCENT_CODE)

    assert b.points_spent <= (total - b.base_discount - b.code_discount) * D("0.30")
    assert b.points_spent <= balance


@st.composite
def refund_sequences(draw):
    """A purchase and a sequence of partial refunds (in kopecks), optionally completed."""
    paid_kopecks = draw(st.integers(min_value=1, max_value=10**8))
    cuts = draw(st.lists(st.integers(min_value=1, max_value=paid_kopecks), max_size=12))
    amounts = []
    left = paid_kopecks
    for cut in cuts:
        part = min(cut, left)
        if part == 0:
            break
        amounts.append(part)
        left -= part
    is_complete = draw(st.booleans())
    if is_complete and left:
        amounts.append(left)
    earned = draw(st.integers(min_value=0, max_value=10**6))
    spent = draw(st.integers(min_value=0, max_value=10**6))
    tier_spend_kopecks = draw(st.integers(min_value=paid_kopecks, max_value=2 * 10**8))
    return (
        D(paid_kopecks).scaleb(-2),
        [D(a).scaleb(-2) for a in amounts],
        earned,
        spent,
        D(tier_spend_kopecks).scaleb(-2),
    )


@settings(max_examples=500)
@given(refund_sequences())
def test_refund_shares_add_up_over_any_sequence(sequence):
    # given a purchase and a sequence of partial refunds
    paid, amounts, earned, spent, tier_spend = sequence
    taken = returned = 0
    spend_reversed = D("0")
    refunded = D("0")

    # when each refund is computed on what was refunded before it
    for amount in amounts:
        part = rules.refund_shares(
            paid=paid,
            refunded_before=refunded,
            refund_amount=amount,
            points_earned=earned,
            points_spent=spent,
            tier_spend=tier_spend,
        )
        assert part.points_to_take_back >= 0
        assert part.points_to_return >= 0
        assert part.tier_spend >= 0
        refunded += amount
        taken += part.points_to_take_back
        returned += part.points_to_return
        spend_reversed += part.tier_spend
        # then the running totals are exactly the proportional share, rounded down
        assert taken == earned * refunded // paid
        assert returned == spent * refunded // paid
        assert spend_reversed == rules.money(tier_spend * refunded / paid)

    # and a sequence that refunds all the money reverses exactly the whole purchase
    if refunded == paid:
        assert (taken, returned, spend_reversed) == (earned, spent, tier_spend)


@pytest.mark.parametrize(
    ("amount", "points_short", "withheld"),
    [("100.00", 0, "0.00"), ("100.00", 17, "17.00"), ("10.00", 17, "10.00")],
)
def test_refund_withholds_the_value_of_missing_points_at_most_the_refund(
    amount, points_short, withheld
):
    assert rules.refund_withheld(
        amount=Decimal(amount), points_short=points_short, point_value=Decimal("1.00")
    ) == Decimal(withheld)
