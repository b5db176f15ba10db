"""Pure program rules: money rounding, tiers, points and the checkout arithmetic.

No ORM here: every function takes plain values and is unit-tested without a database.
The order of the steps follows PRODUCT.md, "Checkout arithmetic".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.utils.translation import gettext_lazy as _

KOPECK = Decimal("0.01")
HUNDRED = Decimal("100")
ZERO = Decimal("0.00")


def money(value: Decimal | int | str) -> Decimal:
    """Round money half up to the kopeck (the program's one rounding rule for money)."""
    return Decimal(value).quantize(KOPECK, rounding=ROUND_HALF_UP)


def points_floor(value: Decimal) -> int:
    """Points always round down."""
    return int(Decimal(value).to_integral_value(rounding=ROUND_FLOOR))


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    return money(amount * percent / HUNDRED)


# --- Tiers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TierRule:
    id: int
    name: str
    threshold: Decimal
    discount_percent: Decimal
    earn_percent: Decimal


def tier_for(qualifying: Decimal, tiers: Sequence[TierRule]) -> TierRule:
    """The highest tier whose threshold the qualifying value reaches.

    The lowest tier applies below every threshold, so a program always has a tier.
    """
    ordered = sorted(tiers, key=lambda t: t.threshold)
    if not ordered:
        raise ValueError("a program needs at least one tier")
    chosen = ordered[0]
    for tier in ordered:
        if qualifying >= tier.threshold:
            chosen = tier
    return chosen


def next_tier(qualifying: Decimal, tiers: Sequence[TierRule]) -> tuple[TierRule, Decimal] | None:
    """The next tier above the qualifying value and how much is still missing."""
    for tier in sorted(tiers, key=lambda t: t.threshold):
        if tier.threshold > qualifying:
            return tier, tier.threshold - qualifying
    return None


# --- Checkout ------------------------------------------------------------------------


class StackingPolicy(StrEnum):
    BEST_OF = "best_of"
    SUM_CAPPED = "sum_capped"


class RewardKind(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"
    POINTS = "points"
    GIFT = "gift"


@dataclass(frozen=True)
class BaseRate:
    """A candidate for the base rate of step 2 (tier, beneficiary, closed sale)."""

    source: str
    label: str
    percent: Decimal


@dataclass(frozen=True)
class Reward:
    """The one code or offer of step 3.

    `value` is a percent, a money amount or a number of points by `kind`;
    `cap` limits a percent discount; `min_receipt` is compared with the total T.
    """

    source: str
    label: str
    kind: RewardKind
    value: Decimal
    cap: Decimal | None = None
    min_receipt: Decimal = ZERO
    reference: str = ""


@dataclass(frozen=True)
class Step:
    rule: str
    label: str
    amount: Decimal | int
    detail: str = ""


@dataclass(frozen=True)
class Breakdown:
    total: Decimal
    base_rate: Decimal
    base_source: str
    base_discount: Decimal
    reward: Reward | None
    code_discount: Decimal
    reward_points: int
    points_max: int
    points_spent: int
    paid: Decimal
    earn_percent: Decimal
    points_earned: int
    tier_spend: Decimal
    steps: list[Step] = field(default_factory=list)


class PointsOverLimit(ValueError):
    def __init__(self, requested: int, allowed: int):
        self.requested = requested
        self.allowed = allowed
        super().__init__(f"{requested} points requested, at most {allowed} allowed")


def base_rate(
    candidates: Sequence[BaseRate], *, policy: StackingPolicy, cap_percent: Decimal
) -> tuple[Decimal, str, list[BaseRate]]:
    """Step 2: combine the base-rate candidates by the program's stacking policy.

    Returns the rate, the source that names it, and the candidates that count.
    "Best of" takes the single highest (ties go to the earlier candidate, the tier);
    "sum, capped" adds them and caps the sum.
    """
    positive = [c for c in candidates if c.percent > 0]
    if not positive:
        return Decimal("0"), "", []
    if policy == StackingPolicy.SUM_CAPPED:
        total = sum((c.percent for c in positive), Decimal("0"))
        return min(total, cap_percent), "+".join(c.source for c in positive), positive
    best = max(positive, key=lambda c: c.percent)  # max keeps the first of equals
    return best.percent, best.source, [best]


def reward_discount(reward: Reward, *, total: Decimal, after_base: Decimal) -> Decimal:
    """Step 3 money discount of one reward (points and gifts give no money discount)."""
    if total < reward.min_receipt:
        return ZERO
    if reward.kind == RewardKind.PERCENT:
        discount = percent_of(after_base, reward.value)
        if reward.cap is not None:
            discount = min(discount, money(reward.cap))
        return discount
    if reward.kind == RewardKind.FIXED:
        return min(money(reward.value), after_base)
    return ZERO


def reward_worth(reward: Reward, *, total: Decimal, after_base: Decimal) -> Decimal:
    """What a reward is worth to the member, to pick the best one (1 point = 1 ₽)."""
    if reward.kind == RewardKind.POINTS:
        return Decimal(int(reward.value)) if total >= reward.min_receipt else ZERO
    return reward_discount(reward, total=total, after_base=after_base)


def points_max(*, balance: int, after_discounts: Decimal, cap_percent: Decimal) -> int:
    """Step 4: the most points that may pay this receipt."""
    return max(0, min(balance, points_floor(after_discounts * cap_percent / HUNDRED)))


def checkout(
    *,
    total: Decimal,
    base_candidates: Sequence[BaseRate],
    policy: StackingPolicy,
    stacking_cap_percent: Decimal,
    reward: Reward | None,
    points_balance: int,
    points_to_spend: int | None,
    points_cap_percent: Decimal,
    earn_percent: Decimal,
) -> Breakdown:
    """Steps 1-7 of the checkout arithmetic for one receipt.

    `points_to_spend=None` spends the most allowed; a request above it raises
    PointsOverLimit so the cashier or partner sees the allowed figure.
    """
    total = money(total)
    steps = [Step("total", _("Receipt total"), total)]

    rate, source, counted = base_rate(
        base_candidates, policy=policy, cap_percent=stacking_cap_percent
    )
    d1 = percent_of(total, rate)
    for candidate in counted:
        steps.append(
            Step(
                candidate.source,
                candidate.label,
                d1 if len(counted) == 1 else ZERO,
                f"{candidate.percent}%",
            )
        )
    if len(counted) > 1:
        steps.append(Step("base_discount", _("Base discounts summed"), d1, f"{rate}%"))

    after_base = total - d1
    d2 = ZERO
    reward_points = 0
    if reward is not None:
        d2 = reward_discount(reward, total=total, after_base=after_base)
        if reward.kind == RewardKind.POINTS and total >= reward.min_receipt:
            reward_points = int(reward.value)
        steps.append(Step(reward.source, reward.label, reward_points or d2, reward.reference))

    after_discounts = total - d1 - d2
    allowed = points_max(
        balance=points_balance, after_discounts=after_discounts, cap_percent=points_cap_percent
    )
    if points_to_spend is None:
        spent = allowed
    elif points_to_spend < 0:
        raise ValueError("points to spend cannot be negative")
    elif points_to_spend > allowed:
        raise PointsOverLimit(points_to_spend, allowed)
    else:
        spent = points_to_spend
    if spent:
        steps.append(Step("points_spent", _("Points spent"), spent))

    paid = after_discounts - spent
    earned = points_floor(paid * earn_percent / HUNDRED)
    steps.append(Step("paid", _("Money paid"), paid))
    steps.append(Step("points_earned", _("Points earned"), earned, f"{earn_percent}%"))

    return Breakdown(
        total=total,
        base_rate=rate,
        base_source=source,
        base_discount=d1,
        reward=reward,
        code_discount=d2,
        reward_points=reward_points,
        points_max=allowed,
        points_spent=spent,
        paid=paid,
        earn_percent=earn_percent,
        points_earned=earned,
        tier_spend=after_discounts,
        steps=steps,
    )


# --- Refunds -------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundShares:
    """How much of a purchase one refund reverses (cumulative, so shares add up exactly)."""

    points_to_take_back: int
    points_to_return: int
    tier_spend: Decimal


def refund_shares(
    *,
    paid: Decimal,
    refunded_before: Decimal,
    refund_amount: Decimal,
    points_earned: int,
    points_spent: int,
    tier_spend: Decimal,
) -> RefundShares:
    """The proportional part of earned points, spent points and tier spend a refund reverses.

    Computed on the cumulative refunded share minus what earlier refunds reversed, so
    any sequence of partial refunds that ends in a full refund reverses exactly the
    whole purchase. Points round down (in the member's favour on take-back).
    """
    if paid <= 0:
        paid, before, after = Decimal(1), Decimal(0), Decimal(1)
    else:
        before, after = refunded_before, refunded_before + refund_amount

    # Multiply before dividing: a rounded fraction (10/30 = 0.333...) times the whole
    # falls just short of an exact share and would floor one point too low.
    def points_share(whole: int, refunded: Decimal) -> int:
        return points_floor(whole * refunded / paid)

    return RefundShares(
        points_to_take_back=points_share(points_earned, after)
        - points_share(points_earned, before),
        points_to_return=points_share(points_spent, after) - points_share(points_spent, before),
        tier_spend=money(tier_spend * after / paid) - money(tier_spend * before / paid),
    )


def refund_withheld(*, amount: Decimal, points_short: int, point_value: Decimal) -> Decimal:
    """Money withheld from a refund for earned points the member no longer has.

    Their value (1 point = `point_value`), never more than the money being refunded, so
    the balance never goes negative and the refund never does either.
    """
    return min(money(points_short * point_value), amount)
