"""The checkout pipeline: evaluate (a dry run) and commit (records the purchase).

Step 3 of the arithmetic ("at most one code or offer") is an extension point: reward
providers listed in settings.LOYALTY_REWARD_PROVIDERS offer candidates for a receipt
and, on commit, claim the chosen one inside the checkout transaction (a guarded
UPDATE or row lock on their side). Step 2 likewise asks the providers in
settings.LOYALTY_BASE_RATE_PROVIDERS (closed sales) besides tier and beneficiary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from loyalty import rules
from loyalty.actors import Actor
from loyalty.models import ProgramSettings, Store, Tier
from members import selectors
from members.errors import InvalidAmount, NoRewardApplies, PointsOverLimit, ReceiptConflict
from members.models import LedgerEntry, Member, Purchase
from members.services.points import lot_open, lots_take

MAX_TOTAL = Decimal("9999999999.99")
# The `choice` that keeps the member's personal codes and offers for another receipt.
NO_REWARD = "none"


@dataclass(frozen=True)
class CheckoutContext:
    """What a provider may look at to offer a base rate or a reward."""

    member: Member
    store: Store
    total: Decimal
    at: dt.datetime
    code: str = ""
    # A closed sale the cashier named: the base-rate providers refuse the receipt when
    # its price does not apply to this member now (not invited, not open).
    sale: int | str | None = None


@dataclass(frozen=True)
class RewardOption:
    provider: str
    reward: rules.Reward


class RewardProvider(Protocol):
    name: str

    def candidates(self, ctx: CheckoutContext) -> list[rules.Reward]:
        """Rewards this member may use on this receipt (a typed code included)."""

    def claim(self, reward: rules.Reward, *, ctx: CheckoutContext, purchase: Purchase) -> None:
        """Mark the reward used for `purchase`; raise a DomainError if it no longer can be."""

    def release(self, *, purchase: Purchase, full_refund: bool, actor: Actor) -> None:
        """Give back what the purchase claimed, where the provider's rules allow it."""


class BaseRateProvider(Protocol):
    def candidates(self, ctx: CheckoutContext) -> list[rules.BaseRate]: ...


@cache
def reward_providers() -> list[RewardProvider]:
    return [import_string(path)() for path in settings.LOYALTY_REWARD_PROVIDERS]


def purchase_hooks() -> list:
    """What else a recorded purchase causes (settings.LOYALTY_PURCHASE_HOOKS), run in the
    checkout's transaction: a hook's writes commit or roll back with the purchase."""
    return [import_string(path) for path in settings.LOYALTY_PURCHASE_HOOKS]


def refund_hooks() -> list:
    """What else a refund undoes (settings.LOYALTY_REFUND_HOOKS: campaign counters and
    rewards), run in the refund's transaction after it is settled."""
    return [import_string(path) for path in settings.LOYALTY_REFUND_HOOKS]


@cache
def base_rate_providers() -> list[BaseRateProvider]:
    return [import_string(path)() for path in settings.LOYALTY_BASE_RATE_PROVIDERS]


@dataclass
class CheckoutResult:
    breakdown: rules.Breakdown
    member: Member
    tier_before: Tier
    purchase: Purchase | None = None
    replayed: bool = False
    tier_after: Tier | None = None
    options: list[rules.Reward] = field(default_factory=list)
    chosen: RewardOption | None = None


def money_input(value, *, field_name: str = "total") -> Decimal:
    """A receipt amount from any interface: a finite, non-negative Decimal with kopecks."""
    if isinstance(value, (bool, float)):
        raise InvalidAmount(_("Enter the amount as a decimal number, e.g. 1500.00."))
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidAmount(_("Enter the amount as a decimal number, e.g. 1500.00.")) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_TOTAL:
        raise InvalidAmount(_("The amount must be between 0 and %(max)s.") % {"max": MAX_TOTAL})
    if amount.as_tuple().exponent < -2:
        raise InvalidAmount(_("The amount can have at most two decimal places."))
    # abs() only turns "-0" into 0 (negative amounts were refused above), so a receipt
    # never shows -0.00 and "-0" and "0" are the same request.
    return rules.money(abs(amount))


def receipt_total_input(value) -> Decimal:
    """A receipt total: as money_input, and more than zero (an empty receipt would count
    as a purchase towards tiers and purchase counters)."""
    total = money_input(value)
    if total <= 0:
        raise InvalidAmount(_("The receipt total must be more than zero."))
    return total


def base_rate_candidates(ctx: CheckoutContext, tier: Tier) -> list[rules.BaseRate]:
    """Step 2 candidates: the tier, a verified beneficiary category, and the providers'."""
    candidates = [
        rules.BaseRate(
            "tier", _("Tier discount: %(tier)s") % {"tier": tier.name}, tier.discount_percent
        )
    ]
    member = ctx.member
    if selectors.beneficiary_discount_applies(member, today=timezone.localdate(ctx.at)):
        category = member.beneficiary_category
        candidates.append(
            rules.BaseRate(
                "beneficiary",
                _("Beneficiary discount: %(category)s") % {"category": category.name},
                category.discount_percent,
            )
        )
    for provider in base_rate_providers():
        candidates.extend(provider.candidates(ctx))
    return candidates


def _reward_options(ctx: CheckoutContext) -> list[RewardOption]:
    return [
        RewardOption(provider.name, reward)
        for provider in reward_providers()
        for reward in provider.candidates(ctx)
    ]


def _choose(
    options: list[RewardOption], *, ctx: CheckoutContext, after_base: Decimal, choice: str
) -> RewardOption | None:
    """The one code or offer: the typed code, the cashier's pick, or the one worth most."""
    usable = [o for o in options if ctx.total >= o.reward.min_receipt]
    if ctx.code:
        typed = [o for o in options if o.reward.source == "code"]
        if not typed:
            raise NoRewardApplies()
        return typed[0]
    if choice == NO_REWARD:
        return None
    if choice:
        picked = [o for o in usable if o.reward.reference == choice]
        if not picked:
            raise NoRewardApplies()
        return picked[0]
    # By itself, only a reward worth something on this receipt: a gift (worth 0 here) is
    # used only when picked, so it is never spent without the member being handed it.
    worth = {
        id(o): rules.reward_worth(o.reward, total=ctx.total, after_base=after_base) for o in usable
    }
    best = max(usable, key=lambda o: worth[id(o)], default=None)
    return best if best is not None and worth[id(best)] > 0 else None


def _evaluate(
    *,
    member: Member,
    store: Store,
    total: Decimal,
    points_to_spend: int | None,
    code: str,
    choice: str,
    at: dt.datetime,
    program: ProgramSettings | None = None,
    sale: int | str | None = None,
) -> CheckoutResult:
    program = program or ProgramSettings.load()
    tier = member.tier
    ctx = CheckoutContext(member=member, store=store, total=total, at=at, code=code, sale=sale)
    candidates = base_rate_candidates(ctx, tier)
    rate, _source, _counted = rules.base_rate(
        candidates,
        policy=rules.StackingPolicy(program.stacking_policy),
        cap_percent=program.stacking_cap_percent,
    )
    options = _reward_options(ctx)
    chosen = _choose(
        options, ctx=ctx, after_base=total - rules.percent_of(total, rate), choice=choice
    )
    try:
        breakdown = rules.checkout(
            total=total,
            base_candidates=candidates,
            policy=rules.StackingPolicy(program.stacking_policy),
            stacking_cap_percent=program.stacking_cap_percent,
            reward=chosen.reward if chosen else None,
            points_balance=selectors.points_spendable(member, at=at),
            points_to_spend=points_to_spend,
            points_cap_percent=program.points_cap_percent,
            earn_percent=tier.earn_percent,
        )
    except rules.PointsOverLimit as exc:
        raise PointsOverLimit(
            _("At most %(allowed)s points can pay this receipt.") % {"allowed": exc.allowed},
            allowed=exc.allowed,
        ) from None
    except ValueError:
        raise InvalidAmount(_("Points to spend must be a whole number, 0 or more.")) from None
    return CheckoutResult(
        breakdown=breakdown,
        member=member,
        tier_before=tier,
        options=[o.reward for o in options],
        chosen=chosen,
    )


def checkout_evaluate(
    *,
    member: Member,
    store: Store,
    total,
    points_to_spend: int | None = 0,
    code: str = "",
    choice: str = "",
    at: dt.datetime | None = None,
    sale: int | str | None = None,
) -> CheckoutResult:
    """Every step of the arithmetic for a receipt; changes nothing. `sale`: a closed
    sale the cashier named, refused (SaleNotFound, SaleNotInvited, SaleNotOpen) when its
    price does not apply to this member now."""
    return _evaluate(
        member=member,
        store=store,
        total=receipt_total_input(total),
        points_to_spend=points_to_spend,
        code=code,
        choice=choice,
        at=at or timezone.now(),
        sale=sale,
    )


def receipt_fingerprint(
    *,
    member: Member,
    total: Decimal,
    points_to_spend: int | None,
    code: str,
    choice: str,
    sale: int | str | None = None,
) -> str:
    """What makes two commits of one receipt "the same request" (idempotency)."""
    # A retry may type the same code with other spacing, dashes or case.
    code = "".join(code.split()).replace("-", "").upper()
    request = [member.card_number, str(total), points_to_spend, code, choice]
    if sale is not None:  # only then, so receipts recorded before keep their fingerprint
        request.append(str(sale).strip())
    data = json.dumps(request, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def _replay(existing: Purchase, fingerprint: str) -> CheckoutResult:
    if existing.request_fingerprint != fingerprint:
        raise ReceiptConflict()
    member = existing.member
    breakdown = breakdown_of(existing)
    return CheckoutResult(
        breakdown=breakdown,
        member=member,
        tier_before=existing.tier,
        purchase=existing,
        replayed=True,
        tier_after=member.tier,
    )


def breakdown_of(purchase: Purchase) -> rules.Breakdown:
    """The breakdown of a recorded purchase, as it was at checkout."""
    return rules.Breakdown(
        total=purchase.total,
        base_rate=purchase.base_rate,
        base_source=purchase.base_source,
        base_discount=purchase.base_discount,
        reward=None,
        code_discount=purchase.code_discount,
        reward_points=0,
        points_max=purchase.points_max,
        points_spent=purchase.points_spent,
        paid=purchase.paid,
        earn_percent=purchase.earn_percent,
        points_earned=purchase.points_earned,
        tier_spend=purchase.tier_spend,
        steps=[
            rules.Step(
                s["rule"],
                s["label"],
                Decimal(s["amount"]) if "." in s["amount"] else int(s["amount"]),
                s["detail"],
            )
            for s in purchase.steps
        ],
    )


def steps_json(steps: list[rules.Step]) -> list[dict]:
    """The breakdown's steps as stored on the purchase (amounts as decimal strings)."""
    return [
        {"rule": s.rule, "label": str(s.label), "amount": str(s.amount), "detail": s.detail}
        for s in steps
    ]


@transaction.atomic
def checkout_commit(
    *,
    member: Member,
    store: Store,
    receipt_number: str,
    total,
    points_to_spend: int | None = 0,
    actor: Actor,
    code: str = "",
    choice: str = "",
    sale: int | str | None = None,
) -> CheckoutResult:
    """Record a purchase: spend and earn points, claim the reward, move the tier up.

    Idempotent on (store, receipt number): a retry with the same data returns the same
    purchase (`replayed=True`); the same receipt with other data raises ReceiptConflict.
    Raises PointsOverLimit, InvalidAmount, NoRewardApplies, and for a named closed
    `sale` SaleNotFound, SaleNotInvited or SaleNotOpen; nothing changes then.
    """
    total = receipt_total_input(total)
    receipt_number = receipt_number.strip()
    if not receipt_number:
        raise InvalidAmount(_("Enter the receipt number."), code="receipt_number_required")
    fingerprint = receipt_fingerprint(
        member=member,
        total=total,
        points_to_spend=points_to_spend,
        code=code,
        choice=choice,
        sale=sale,
    )
    existing = Purchase.objects.filter(store=store, receipt_number=receipt_number).first()
    if existing is not None:
        return _replay(existing, fingerprint)

    # The member's row lock serialises every write on their points and tier. The row is
    # locked alone and read again after: with FOR UPDATE over a join, PostgreSQL rechecks a
    # row changed while waiting against the old joined tier row and drops it when the
    # concurrent checkout moved the member up (Member.DoesNotExist).
    list(Member.objects.select_for_update().filter(pk=member.pk).values_list("pk", flat=True))
    member = Member.objects.select_related("tier", "beneficiary_category").get(pk=member.pk)
    existing = Purchase.objects.filter(store=store, receipt_number=receipt_number).first()
    if existing is not None:  # committed by a concurrent request while this one waited
        return _replay(existing, fingerprint)

    now = timezone.now()
    program = ProgramSettings.load()
    result = _evaluate(
        member=member,
        store=store,
        total=total,
        points_to_spend=points_to_spend,
        code=code,
        choice=choice,
        at=now,
        program=program,
        sale=sale,
    )
    b = result.breakdown
    chosen = result.chosen
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(
                member=member,
                store=store,
                receipt_number=receipt_number,
                total=b.total,
                base_rate=b.base_rate,
                base_source=b.base_source,
                base_discount=b.base_discount,
                reward_source=chosen.reward.source if chosen else "",
                reward_reference=chosen.reward.reference if chosen else "",
                code_discount=b.code_discount,
                points_max=b.points_max,
                points_spent=b.points_spent,
                paid=b.paid,
                tier=member.tier,
                earn_percent=b.earn_percent,
                points_earned=b.points_earned,
                tier_spend=b.tier_spend,
                steps=steps_json(b.steps),
                request_fingerprint=fingerprint,
                channel=actor.channel,
                partner=actor.partner,
                recorded_by=actor.user,
                created_at=now,
            )
    except IntegrityError:
        # Another member's checkout took this receipt number in the meantime.
        existing = Purchase.objects.filter(store=store, receipt_number=receipt_number).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)

    if b.points_spent:
        lots_take(
            member=member,
            amount=b.points_spent,
            kind=LedgerEntry.Kind.SPEND,
            at=now,
            actor=actor,
            purchase=purchase,
        )
    if b.points_earned:
        lot_open(
            member=member,
            amount=b.points_earned,
            kind=LedgerEntry.Kind.EARN,
            at=now,
            actor=actor,
            purchase=purchase,
            life_days=program.points_life_days,
        )
    if chosen is not None:
        provider = next(p for p in reward_providers() if p.name == chosen.provider)
        provider.claim(
            chosen.reward,
            ctx=CheckoutContext(
                member=member, store=store, total=total, at=now, code=code, sale=sale
            ),
            purchase=purchase,
        )
    result.purchase = purchase
    result.tier_after = member_tier_upgrade(member=member, at=now, program=program)
    for hook in purchase_hooks():
        hook(purchase=purchase, member=member, at=now, actor=actor)
    return result


def member_tier_upgrade(
    *, member: Member, at: dt.datetime, program: ProgramSettings | None = None
) -> Tier:
    """Move the (locked) member up as soon as the qualifying value crosses a threshold.

    Never moves down: downgrades happen only at the scheduled review.
    """
    program = program or ProgramSettings.load()
    qualifying = selectors.member_qualifying(member, program=program, at=at)
    # The highest tier the qualifying value reaches, if it is above the current one
    # (the same choice as rules.tier_for, asked of the database in one query).
    higher = (
        Tier.objects.filter(threshold__gt=member.tier.threshold, threshold__lte=qualifying)
        .order_by("-threshold")
        .first()
    )
    if higher is not None:
        member.tier = higher
        member.save(update_fields=["tier", "updated_at"])
    return member.tier
