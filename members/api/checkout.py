"""Checkout: evaluate a receipt (a dry run) and commit it (record the purchase)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty import rules
from loyalty.actors import Actor
from loyalty.api.fields import MoneyField
from loyalty.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from loyalty.api.schema import errors_common
from loyalty.api.throttling import RetryAfterMixin, guesser
from loyalty.models import Partner, ProgramSettings
from members import selectors
from members.api.members import NextTierSerializer, TierSerializer, next_tier_data
from members.api.offers import ProgressSerializer, progress_data, progress_projected_data
from members.cards import card_number_clean
from members.errors import ReceiptConflict
from members.models import Member
from members.services import CheckoutResult, checkout_commit, checkout_evaluate
from promocodes import guard

TAG = "Checkout"
POINTS_MAX_INPUT = 1_000_000_000
CODE_MAX_LENGTH = 64


# --- Serializers -----------------------------------------------------------------------


class CheckoutRequestSerializer(serializers.Serializer):
    card_number = serializers.CharField(
        max_length=32,
        help_text=_("The member's 13-digit card number; spaces and dashes are ignored."),
    )
    store = serializers.CharField(max_length=20, help_text=_("Store code, e.g. MSK-01."))
    receipt_number = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        help_text=_("The receipt number, unique within the store. Optional when evaluating."),
    )
    total = MoneyField(
        help_text=_(
            "Receipt total before discounts: a decimal string (“3000.00”) or a number, "
            "at most two decimal places."
        )
    )
    points_to_spend = serializers.IntegerField(
        min_value=0,
        max_value=POINTS_MAX_INPUT,
        required=False,
        default=0,
        help_text=_(
            "Points the member wants to pay with (1 point = 1 ruble). More than "
            "`points_max` gives 400 `points_over_limit` with `allowed`."
        ),
    )
    code = serializers.CharField(
        max_length=CODE_MAX_LENGTH,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "A promo code as the member typed it: case, spaces and dashes are ignored, and "
            "Cyrillic letters that look like Latin ones are read as Latin. A code that "
            "cannot be used is refused with its reason (e.g. 409 `used_up`) and nothing "
            "changes. Without `code` and `choice`, the member's own personal code worth "
            "most applies by itself."
        ),
    )
    choice = serializers.CharField(
        max_length=CODE_MAX_LENGTH,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "Instead of `code`: the `reference` of one of the member's personal codes "
            "(GET /members/{card_number}/promocodes/), offers or N-th purchase rewards "
            "(GET /members/{card_number}/offers/) to apply rather than the one worth "
            "most, or `none` to apply none of them. 400 `reward_not_available` when it "
            "cannot be used on this receipt. A gift never applies by itself."
        ),
    )
    sale = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        allow_null=True,
        default=None,
        help_text=_(
            "The id of a closed sale the member came for (GET "
            "/members/{card_number}/offers/, `invitations`). An open sale the member is "
            "invited to applies by itself; naming it refuses the receipt when its price "
            "does not apply: 404 `sale_not_found`, 400 `sale_not_invited` or "
            "`sale_not_open`, 409 `campaign_budget_exhausted`."
        ),
    )

    class Meta:
        ref_name = "Checkout"

    def validate_card_number(self, value: str) -> str:
        return card_number_clean(value)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("code") and attrs.get("choice"):
            raise serializers.ValidationError(
                {"choice": [_("Send either a typed `code` or a `choice`, not both.")]}
            )
        return attrs


class CheckoutCommitRequestSerializer(CheckoutRequestSerializer):
    receipt_number = serializers.CharField(
        max_length=64,
        help_text=_(
            "The receipt number, unique within the store. Committing the same receipt "
            "again with the same data returns the recorded purchase (200, "
            "`replayed: true`); with other data it is a 409 `receipt_conflict`."
        ),
    )

    class Meta:
        ref_name = "CheckoutCommit"


class StepSerializer(serializers.Serializer):
    rule = serializers.CharField(
        help_text=_(
            "What the step is: `total`; a base rate: `tier`, `beneficiary`, `sale-<id>` "
            "(a closed sale), `base_discount` (their sum); the one reward: `code` (a "
            "promo code; its `detail` is the code), `offer` (a personal offer, coupon or "
            "gift) or `nth_purchase` (an N-th purchase reward), whose `detail` is the "
            "`reference`; then `points_spent`, `paid`, `points_earned`. The `label` "
            "names the rule."
        )
    )
    label = serializers.CharField(help_text=_("What to show the member."))
    amount = serializers.CharField(help_text=_("Money (“150.00”) or points (“47”), see `unit`."))
    unit = serializers.ChoiceField(choices=[("money", _("Money")), ("points", _("Points"))])
    detail = serializers.CharField(
        help_text=_("E.g. the percent applied (“5.00%”), or the promo code of a `code` step.")
    )


def steps_data(steps: list[rules.Step]) -> list[dict]:
    return [
        {
            "rule": s.rule,
            "label": str(s.label),
            "amount": str(s.amount),
            "unit": "points" if isinstance(s.amount, int) else "money",
            "detail": s.detail,
        }
        for s in steps
    ]


class MemberAfterSerializer(serializers.Serializer):
    card_number = serializers.CharField()
    points_balance = serializers.IntegerField()
    tier = TierSerializer()
    next_tier = NextTierSerializer(allow_null=True)
    progress = ProgressSerializer(
        help_text=_("N-th purchase counters after this receipt (the rewarded one restarts).")
    )


class BreakdownSerializer(serializers.Serializer):
    card_number = serializers.CharField()
    store = serializers.CharField()
    receipt_number = serializers.CharField(allow_blank=True)
    total = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="T")
    base_discount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=_("D1: the best of tier and other discounts.")
    )
    code_discount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text=_(
            "D2: the one promo code or offer (0.00 for a bonus-points or gift code; its "
            "step says what it gives)."
        ),
    )
    points_max = serializers.IntegerField(help_text=_("The most points that may pay this receipt."))
    points_spent = serializers.IntegerField(help_text="S")
    paid = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=_("P = T − D1 − D2 − S: money the member pays.")
    )
    points_earned = serializers.IntegerField(help_text=_("E: points the receipt earns."))
    tier_spend = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text=_("T − D1 − D2: how much the receipt adds to the member's spend for tiers."),
    )
    steps = StepSerializer(many=True)
    member = MemberAfterSerializer(
        help_text=_("The member after this receipt: balance, tier and progress to the next.")
    )


class CheckoutCommitSerializer(BreakdownSerializer):
    purchase_id = serializers.IntegerField()
    replayed = serializers.BooleanField(
        help_text=_("True when this receipt had been recorded before and nothing changed now.")
    )

    class Meta:
        ref_name = "CommittedCheckout"


# --- Member afterwards ---------------------------------------------------------------------


def progress_projected(member: Member, breakdown: rules.Breakdown) -> selectors.MemberProgress:
    """The member's progress as it would be once the evaluated receipt is committed.

    Mirrors checkout_commit: the tier moves up when the qualifying value crosses a
    threshold and never down.
    """
    progress = selectors.member_progress(member)
    tiers = selectors.tier_rules()
    if progress.tier_basis == ProgramSettings.TierBasis.PURCHASES:
        qualifying = progress.qualifying + 1
    else:
        qualifying = progress.qualifying + breakdown.tier_spend
    reached = rules.tier_for(qualifying, tiers)
    tier = reached if reached.threshold > progress.tier.threshold else progress.tier
    above = [t for t in tiers if t.threshold > tier.threshold]
    upcoming = above[0] if above else None
    return selectors.MemberProgress(
        qualifying=qualifying,
        tier=tier,
        next_tier=upcoming,
        next_tier_remaining=max(upcoming.threshold - qualifying, Decimal(0)) if upcoming else None,
        expiring=progress.expiring,
        tier_basis=progress.tier_basis,
    )


def result_data(
    result: CheckoutResult, *, store: str, receipt_number: str, committed: bool
) -> dict:
    b = result.breakdown
    member = result.member
    at = timezone.now()
    if committed:
        progress = selectors.member_progress(member)
        balance = member.points_balance
        campaigns = progress_data(member, at=at)
    else:
        progress = progress_projected(member, b)
        balance = member.points_balance - b.points_spent + b.points_earned
        campaigns = progress_projected_data(member, at=at, result=result)
    data = {
        "card_number": member.card_number,
        "store": store,
        "receipt_number": receipt_number,
        "total": b.total,
        "base_discount": b.base_discount,
        "code_discount": b.code_discount,
        "points_max": b.points_max,
        "points_spent": b.points_spent,
        "paid": b.paid,
        "points_earned": b.points_earned,
        "tier_spend": b.tier_spend,
        "steps": steps_data(b.steps),
        "member": {
            "card_number": member.card_number,
            "points_balance": balance,
            "tier": progress.tier,
            "next_tier": next_tier_data(progress),
            "progress": campaigns,
        },
    }
    if committed:
        data["purchase_id"] = result.purchase.pk
        data["replayed"] = result.replayed
    return data


# --- Views -------------------------------------------------------------------------------

WORKED_EXAMPLE_REQUEST = {
    "card_number": "2712345678902",
    "store": "MSK-01",
    "receipt_number": "R-000123",
    "total": "3000.00",
    "points_to_spend": 500,
}
WORKED_EXAMPLE_RESPONSE = {
    "card_number": "2712345678902",
    "store": "MSK-01",
    "receipt_number": "R-000123",
    "total": "3000.00",
    "base_discount": "150.00",
    "code_discount": "0.00",
    "points_max": 500,
    "points_spent": 500,
    "paid": "2350.00",
    "points_earned": 47,
    "tier_spend": "2850.00",
    "steps": [
        {
            "rule": "total",
            "label": "Receipt total",
            "amount": "3000.00",
            "unit": "money",
            "detail": "",
        },
        {
            "rule": "tier",
            "label": "Tier discount: Серебряный",
            "amount": "150.00",
            "unit": "money",
            "detail": "5.00%",
        },
        {
            "rule": "points_spent",
            "label": "Points spent",
            "amount": "500",
            "unit": "points",
            "detail": "",
        },
        {"rule": "paid", "label": "Money paid", "amount": "2350.00", "unit": "money", "detail": ""},
        {
            "rule": "points_earned",
            "label": "Points earned",
            "amount": "47",
            "unit": "points",
            "detail": "2.00%",
        },
    ],
    "member": {
        "card_number": "2712345678902",
        "points_balance": 47,
        "tier": {"name": "Серебряный", "discount_percent": "5.00", "earn_percent": "2.00"},
        "next_tier": {"name": "Золотой", "basis": "spend", "remaining": "17150.00"},
        "progress": {"counters": []},
    },
}
# The worked example with a 10% promo code: D2 = 10% of T − D1 = 285.00.
CODE_EXAMPLE = "K7QM4XR2PTD"
CODE_EXAMPLE_REQUEST = {**WORKED_EXAMPLE_REQUEST, "code": "k7qm-4xr2-ptd"}
CODE_EXAMPLE_RESPONSE = {
    **WORKED_EXAMPLE_RESPONSE,
    "code_discount": "285.00",
    "paid": "2065.00",
    "points_earned": 41,
    "tier_spend": "2565.00",
    "steps": [
        *WORKED_EXAMPLE_RESPONSE["steps"][:2],
        {
            "rule": "code",
            "label": "K7QM-4XR2-PTD: Весна −10%",
            "amount": "285.00",
            "unit": "money",
            "detail": CODE_EXAMPLE,
        },
        WORKED_EXAMPLE_RESPONSE["steps"][2],
        {"rule": "paid", "label": "Money paid", "amount": "2065.00", "unit": "money", "detail": ""},
        {
            "rule": "points_earned",
            "label": "Points earned",
            "amount": "41",
            "unit": "points",
            "detail": "2.00%",
        },
    ],
    "member": {
        **WORKED_EXAMPLE_RESPONSE["member"],
        "points_balance": 41,
        "next_tier": {"name": "Золотой", "basis": "spend", "remaining": "17435.00"},
    },
}
# A member invited to an open closed sale of 25% (it beats the 5% tier in step 2) whose
# purchase is the 5th of an "every 5th purchase 50% off, at most 500 ₽" campaign.
CAMPAIGN_EXAMPLE_REQUEST = {
    "card_number": "2712345678902",
    "store": "MSK-01",
    "receipt_number": "R-000125",
    "total": "3000.00",
    "sale": 9,
}
CAMPAIGN_EXAMPLE_RESPONSE = {
    **WORKED_EXAMPLE_RESPONSE,
    "receipt_number": "R-000125",
    "base_discount": "750.00",
    "code_discount": "500.00",
    "points_spent": 0,
    "paid": "1750.00",
    "points_earned": 35,
    "tier_spend": "1750.00",
    "steps": [
        WORKED_EXAMPLE_RESPONSE["steps"][0],
        {
            "rule": "sale-9",
            "label": "Closed sale: Закрытая распродажа для своих",
            "amount": "750.00",
            "unit": "money",
            "detail": "25.00%",
        },
        {
            "rule": "nth_purchase",
            "label": "Reward for every 5 purchases: Каждая 5-я покупка −50%",
            "amount": "500.00",
            "unit": "money",
            "detail": "nth-7",
        },
        {"rule": "paid", "label": "Money paid", "amount": "1750.00", "unit": "money", "detail": ""},
        {
            "rule": "points_earned",
            "label": "Points earned",
            "amount": "35",
            "unit": "points",
            "detail": "2.00%",
        },
    ],
    "member": {
        **WORKED_EXAMPLE_RESPONSE["member"],
        "points_balance": 535,
        "next_tier": {"name": "Золотой", "basis": "spend", "remaining": "18250.00"},
        "progress": {
            "counters": [
                {
                    "campaign": 7,
                    "name": "Каждая 5-я покупка −50%",
                    "count": 0,
                    "every_n": 5,
                    "remaining": 5,
                    "reference": "nth-7",
                    "label": "5 more purchases to the reward",
                }
            ]
        },
    },
}
# Refusals of a typed promo code (promocodes.errors), by HTTP status.
CODE_REFUSALS = {
    400: [
        "bad_check_char",
        "code_required",
        "not_yet_valid",
        "expired",
        "min_receipt",
        "inactive",
        "reward_not_available",
    ],
    403: ["not_yours"],
    404: ["not_found"],
    409: ["used_up"],
    429: ["too_many_attempts"],
}
# Refusals of a named closed sale (`sale`, campaigns.errors).
SALE_REFUSALS = {
    400: ["sale_not_invited", "sale_not_open"],
    404: ["sale_not_found"],
    409: ["campaign_budget_exhausted"],
}
CHECKOUT_ERRORS = {
    400: [
        "bad_card_number",
        "store_not_found",
        "points_over_limit",
        "invalid_amount",
        *CODE_REFUSALS[400],
        *SALE_REFUSALS[400],
    ],
    403: CODE_REFUSALS[403],
    404: ["member_not_found", *CODE_REFUSALS[404], *SALE_REFUSALS[404]],
    409: [*CODE_REFUSALS[409], *SALE_REFUSALS[409]],
    429: CODE_REFUSALS[429],
}
CAMPAIGN_DESCRIPTION = _(
    "Campaigns take part by themselves: an open closed sale the member is invited to is "
    "a step-2 rate (its step's `rule` is `sale-<id>`), and the member's offers, coupons "
    "and due N-th purchase rewards compete with personal codes in step 3 (`offer`, "
    "`nth_purchase`); every step's `label` names the rule behind it. `member.progress` "
    "gives the N-th purchase counters after the receipt."
)
CODE_DESCRIPTION = _(
    "With `code`, the promo code is step 3: `code_discount` is its discount and a step "
    "with `rule` `code` names it in `detail`. A code that cannot be used is refused with "
    "its reason and nothing changes. Unknown or mistyped codes count against your key: "
    "too many in a few minutes give 429 `too_many_attempts` with `Retry-After`."
)


class CheckoutView(RetryAfterMixin, APIView):
    required_scope = Partner.Scope.CHECKOUT
    request_serializer = CheckoutRequestSerializer

    def cleaned(self, request) -> dict:
        serializer = self.request_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        data["member"] = selectors.member_get(card_number=data["card_number"])
        data["store_obj"] = selectors.store_get(code=data["store"])
        return data


@extend_schema(tags=[TAG])
class CheckoutEvaluateView(CheckoutView):
    @extend_schema(
        operation_id="checkout_evaluate",
        summary=_("Evaluate a receipt"),
        description=format_lazy(
            "{}\n\n{}\n\n{}",
            _(
                "Every step of the checkout arithmetic for a receipt — discounts, the points "
                "that may pay it, money paid, points earned — and the member's tier and "
                "progress as they would be afterwards. Changes nothing. Needs `checkout`."
            ),
            CODE_DESCRIPTION,
            CAMPAIGN_DESCRIPTION,
        ),
        request=CheckoutRequestSerializer,
        responses={200: BreakdownSerializer, **errors_common(CHECKOUT_ERRORS, has_body=True)},
        examples=[
            OpenApiExample("Worked example", value=WORKED_EXAMPLE_REQUEST, request_only=True),
            OpenApiExample("Worked example", value=WORKED_EXAMPLE_RESPONSE, response_only=True),
            OpenApiExample("With a 10% promo code", value=CODE_EXAMPLE_REQUEST, request_only=True),
            OpenApiExample(
                "With a 10% promo code", value=CODE_EXAMPLE_RESPONSE, response_only=True
            ),
            OpenApiExample(
                "Closed sale and an N-th purchase reward",
                value=CAMPAIGN_EXAMPLE_REQUEST,
                request_only=True,
            ),
            OpenApiExample(
                "Closed sale and an N-th purchase reward",
                value=CAMPAIGN_EXAMPLE_RESPONSE,
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        data = self.cleaned(request)
        with guard.guessing(guesser(request), data["code"]):
            result = checkout_evaluate(
                member=data["member"],
                store=data["store_obj"],
                total=data["total"],
                points_to_spend=data["points_to_spend"],
                code=data["code"],
                choice=data["choice"],
                sale=data["sale"],
            )
        body = result_data(
            result,
            store=data["store_obj"].code,
            receipt_number=data["receipt_number"],
            committed=False,
        )
        return Response(BreakdownSerializer(body).data)


@extend_schema(tags=[TAG])
class CheckoutCommitView(CheckoutView):
    request_serializer = CheckoutCommitRequestSerializer

    @extend_schema(
        operation_id="checkout_commit",
        summary=_("Commit a receipt"),
        description=format_lazy(
            "{}\n\n{}\n\n{}\n\n{}",
            _(
                "Records the purchase: spends and earns points and moves the member up a "
                "tier when the receipt crosses a threshold. 201 for a new purchase. Safe to "
                "retry: the same store and receipt number with the same data returns the "
                "recorded purchase with 200 and `replayed: true`; other data is a 409 "
                "`receipt_conflict`. An `Idempotency-Key` header makes any retry return the "
                "first response exactly. Needs `checkout`."
            ),
            _(
                "With `code`, the code is used once for this receipt: when its last use was "
                "taken by another receipt meanwhile, the answer is 409 `used_up` and nothing "
                "is recorded. A full refund of the purchase gives the code back while it is "
                "still valid."
            ),
            CAMPAIGN_DESCRIPTION,
            _(
                "An offer or N-th purchase reward is used once too: when another receipt "
                "used it meanwhile, the answer is 409 `offer_not_usable`; when the "
                "campaign's budget cannot pay it, 409 `campaign_budget_exhausted`. Nothing "
                "is recorded then. A full refund gives back what campaigns gave."
            ),
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=CheckoutCommitRequestSerializer,
        responses={
            201: OpenApiResponse(CheckoutCommitSerializer, description=_("A new purchase.")),
            200: OpenApiResponse(
                CheckoutCommitSerializer,
                description=_(
                    "This receipt was recorded before with the same data: the recorded "
                    "purchase, `replayed: true`, nothing changed."
                ),
            ),
            **errors_common(
                {
                    **CHECKOUT_ERRORS,
                    400: [*CHECKOUT_ERRORS[400], "idempotency_key_invalid"],
                    # An offer or N-th reward used or spent meanwhile at another till.
                    409: ["receipt_conflict", *CHECKOUT_ERRORS[409], "offer_not_usable"],
                    422: ["idempotency_key_reused"],
                },
                has_body=True,
            ),
        },
        examples=[
            OpenApiExample("Worked example", value=WORKED_EXAMPLE_REQUEST, request_only=True),
            OpenApiExample(
                "Worked example",
                value={**WORKED_EXAMPLE_RESPONSE, "purchase_id": 1017, "replayed": False},
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "Replayed",
                value={**WORKED_EXAMPLE_RESPONSE, "purchase_id": 1017, "replayed": True},
                response_only=True,
                status_codes=["200"],
            ),
            OpenApiExample(
                "With a 10% promo code",
                value={**CODE_EXAMPLE_REQUEST, "receipt_number": "R-000124"},
                request_only=True,
            ),
            OpenApiExample(
                "With a 10% promo code",
                value={
                    **CODE_EXAMPLE_RESPONSE,
                    "receipt_number": "R-000124",
                    "purchase_id": 1018,
                    "replayed": False,
                },
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        return idempotent(request, endpoint="checkout.commit", handler=lambda: self.commit(request))

    def commit(self, request) -> Response:
        data = self.cleaned(request)
        with guard.guessing(guesser(request), data["code"]):
            result = checkout_commit(
                member=data["member"],
                store=data["store_obj"],
                receipt_number=data["receipt_number"],
                total=data["total"],
                points_to_spend=data["points_to_spend"],
                actor=Actor.for_partner(request.partner),
                code=data["code"],
                choice=data["choice"],
                sale=data["sale"],
            )
        if result.replayed and result.purchase.partner_id != request.partner.pk:
            # Recorded by the cashier desk or another partner: not this partner's to see.
            raise ReceiptConflict()
        body = result_data(
            result,
            store=data["store_obj"].code,
            receipt_number=result.purchase.receipt_number,
            committed=True,
        )
        code = status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED
        return Response(CheckoutCommitSerializer(body).data, status=code)
