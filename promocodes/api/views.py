"""Promo codes for partners: validate a typed code (a dry run), issue a member's personal
code, list a member's codes. Thin: input is cleaned here, the rules live in
promocodes.services and promocodes.selectors."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.actors import Actor
from loyalty.api.fields import MoneyField
from loyalty.api.pagination import NewestFirstPagination
from loyalty.api.schema import errors_common
from loyalty.api.throttling import MemberThrottle, RetryAfterMixin, guesser
from loyalty.models import Partner
from members import selectors as member_selectors
from members.cards import card_number_clean
from members.models import Member
from promocodes import codes, errors, guard, selectors
from promocodes.models import CodeBatch, PromoCode
from promocodes.services import Validation, promo_code_issue, promo_code_validate

TAG = "Promo codes"
CODE_MAX_LENGTH = 64
MONEY = {"max_digits": 12, "decimal_places": 2}
# What a member's code is now: usable, or the refusal a checkout with it would get.
CODE_STATUSES = [
    ("active", _("Can be used")),
    ("used_up", _("No uses left")),
    ("expired", _("Past its validity window")),
    ("not_yet_valid", _("Its validity window has not started")),
    ("inactive", _("Switched off by marketing")),
]
THROTTLES = [*APIView.throttle_classes, MemberThrottle]


# --- Serializers -----------------------------------------------------------------------


class RewardSerializer(serializers.Serializer):
    label = serializers.CharField(help_text=_("What to show the member."))
    kind = serializers.ChoiceField(choices=CodeBatch.Reward.choices)
    value = serializers.DecimalField(
        **MONEY, help_text=_("Percent, roubles or bonus points, by `kind` (0.00 for a gift).")
    )
    cap = serializers.DecimalField(
        **MONEY,
        allow_null=True,
        help_text=_("The most a percent discount takes off, in roubles; null: no cap."),
    )
    gift = serializers.CharField(allow_blank=True, help_text=_("The gift of a `gift` code."))
    min_receipt = serializers.DecimalField(
        **MONEY, help_text=_("The smallest receipt total (before discounts) the code accepts.")
    )

    class Meta:
        ref_name = "PromoCodeReward"


def reward_data(code: PromoCode) -> dict:
    reward = selectors.code_reward(code)
    return {
        "label": reward.label,
        "kind": reward.kind.value,
        "value": reward.value,
        "cap": reward.cap,
        "gift": code.batch.gift_name,
        "min_receipt": reward.min_receipt,
    }


class ValidateRequestSerializer(serializers.Serializer):
    code = serializers.CharField(
        max_length=CODE_MAX_LENGTH,
        help_text=_(
            "The promo code as typed: case, spaces and dashes are ignored, Cyrillic "
            "look-alike letters are read as Latin."
        ),
    )
    card_number = serializers.CharField(
        max_length=32, help_text=_("The member's card number; spaces and dashes are ignored.")
    )
    total = MoneyField(help_text=_("Receipt total before discounts, more than zero."))
    store = serializers.CharField(
        max_length=20,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "Store code (e.g. MSK-01), if known: a store's own discounts change the base a "
            "percent code is computed on."
        ),
    )

    class Meta:
        ref_name = "PromoCodeValidate"

    def validate_card_number(self, value: str) -> str:
        return card_number_clean(value)


class ValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text=_("True when the code would apply."))
    code = serializers.ChoiceField(
        choices=[(c, c) for c in errors.REFUSALS],
        allow_null=True,
        help_text=_(
            "Why the code would be refused (the error code checkout would answer with); "
            "null when it is valid."
        ),
    )
    detail = serializers.CharField(help_text=_("What to tell the member."))
    discount = serializers.DecimalField(
        **MONEY, help_text=_("D2: the discount the code would give on this receipt.")
    )
    points = serializers.IntegerField(help_text=_("Bonus points the code would give."))
    reward = RewardSerializer(
        allow_null=True, help_text=_("What the code gives; null when it is refused.")
    )
    min_receipt = serializers.CharField(
        required=False, help_text=_("Only with `min_receipt`: the code's minimum receipt total.")
    )

    class Meta:
        ref_name = "PromoCodeValidation"


def validation_data(validation: Validation) -> dict:
    refusal = validation.refusal
    if refusal is not None:
        return {
            "valid": False,
            "code": refusal.code,
            "detail": str(refusal.message),
            "discount": validation.discount,
            "points": validation.points,
            "reward": None,
            **{k: v for k, v in refusal.params.items() if k == "min_receipt"},
        }
    return {
        "valid": True,
        "code": None,
        "detail": gettext("The code applies: %(reward)s.") % {"reward": validation.reward.label},
        "discount": validation.discount,
        "points": validation.points,
        "reward": reward_data(validation.code),
    }


class MemberCodeSerializer(serializers.Serializer):
    # Needs `member` and `at` in the context (the status is computed for them, then).

    code = serializers.SerializerMethodField(
        help_text=_("The code as printed for the member: ABCD-EFGH-JKL.")
    )
    reference = serializers.CharField(
        source="code",
        help_text=_("The code without dashes: send it as checkout's `choice` to apply this code."),
    )
    batch = serializers.IntegerField(source="batch_id", help_text=_("The batch's id."))
    batch_name = serializers.CharField(source="batch.name")
    reward = serializers.SerializerMethodField()
    valid_from = serializers.DateTimeField(source="batch.valid_from")
    valid_until = serializers.DateTimeField(
        source="batch.valid_until", help_text=_("The code can be used before this moment.")
    )
    max_uses = serializers.IntegerField(help_text=_("Uses the code allows."))
    uses_left = serializers.SerializerMethodField(help_text=_("Uses it has left."))
    status = serializers.SerializerMethodField(
        help_text=_(
            "`active` when it can be used now; otherwise the refusal a checkout with it "
            "would get: `used_up`, `expired`, `not_yet_valid` or `inactive`."
        )
    )

    class Meta:
        ref_name = "MemberPromoCode"

    def get_code(self, code: PromoCode) -> str:
        return codes.display(code.code)

    @extend_schema_field(RewardSerializer)
    def get_reward(self, code: PromoCode) -> dict:
        return RewardSerializer(reward_data(code)).data

    def get_uses_left(self, code: PromoCode) -> int:
        return max(code.max_uses - code.uses, 0)

    @extend_schema_field(serializers.ChoiceField(choices=CODE_STATUSES))
    def get_status(self, code: PromoCode) -> str:
        refusal = selectors.code_refusal(
            code, member=self.context["member"], total=None, at=self.context["at"]
        )
        return "active" if refusal is None else refusal.code


class IssueRequestSerializer(serializers.Serializer):
    batch = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text=_("Id of a personal batch (shown in the back office)."),
    )
    request_id = serializers.CharField(
        max_length=64,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "Your id of this request (e.g. a UUID). Sending it again for the same member "
            "returns the same code; used for another member it is 409 "
            "`request_id_conflict`."
        ),
    )

    class Meta:
        ref_name = "PromoCodeIssue"


# --- Views -------------------------------------------------------------------------------

CARD_NUMBER = OpenApiParameter(
    "card_number",
    str,
    OpenApiParameter.PATH,
    description=_("The member's 13-digit card number."),
)
REWARD_EXAMPLE = {
    "label": "K7QM-4XR2-PTD: Весна −10%",
    "kind": "percent",
    "value": "10.00",
    "cap": None,
    "gift": "",
    "min_receipt": "0.00",
}
MEMBER_CODE_EXAMPLE = {
    "code": "K7QM-4XR2-PTD",
    "reference": "K7QM4XR2PTD",
    "batch": 12,
    "batch_name": "Весна −10%",
    "reward": REWARD_EXAMPLE,
    "valid_from": "2026-03-01T00:00:00+03:00",
    "valid_until": "2026-04-01T00:00:00+03:00",
    "max_uses": 1,
    "uses_left": 1,
    "status": "active",
}
MEMBER_ERRORS = {400: ["bad_card_number"], 404: ["member_not_found"]}


@extend_schema(tags=[TAG])
class PromoCodeValidateView(RetryAfterMixin, APIView):
    required_scope = Partner.Scope.CHECKOUT
    throttle_classes = THROTTLES

    @extend_schema(
        operation_id="promocode_validate",
        summary=_("Validate a promo code"),
        description=_(
            "What the typed code would give this member on a receipt of `total`: the "
            "discount (D2 of the checkout) or bonus points, or why it would be refused "
            "(`valid: false` with the refusal's `code`; still 200). Changes nothing: the "
            "code is used only by checkout commit. Unknown or mistyped codes count against "
            "your key: too many in a few minutes give 429 `too_many_attempts` with "
            "`Retry-After`. Needs `checkout`."
        ),
        request=ValidateRequestSerializer,
        responses={
            200: ValidationSerializer,
            **errors_common(
                {
                    400: ["bad_card_number", "store_not_found", "invalid_amount"],
                    404: ["member_not_found"],
                    429: ["too_many_attempts"],
                },
                has_body=True,
            ),
        },
        examples=[
            OpenApiExample(
                "Worked example",
                value={
                    "code": "k7qm-4xr2-ptd",
                    "card_number": "2712345678902",
                    "total": "3000.00",
                    "store": "MSK-01",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Valid",
                value={
                    "valid": True,
                    "code": None,
                    "detail": "The code applies: K7QM-4XR2-PTD: Весна −10%.",
                    "discount": "285.00",
                    "points": 0,
                    "reward": REWARD_EXAMPLE,
                },
                response_only=True,
            ),
            OpenApiExample(
                "Used up",
                value={
                    "valid": False,
                    "code": "used_up",
                    "detail": "This promo code has already been used.",
                    "discount": "0.00",
                    "points": 0,
                    "reward": None,
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        serializer = ValidateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        who = guesser(request)
        guard.guesses_check(who)
        member = member_selectors.member_get(card_number=data["card_number"])
        store = member_selectors.store_get(code=data["store"]) if data["store"] else None
        validation = promo_code_validate(
            text=data["code"], member=member, total=data["total"], store=store
        )
        if validation.refusal is not None:
            guard.guess_failed(who, validation.refusal)
        return Response(ValidationSerializer(validation_data(validation)).data)


class MemberCodesPagination(NewestFirstPagination):
    ordering = ("-id",)  # a code has no creation time of its own; ids grow


@extend_schema(tags=[TAG], parameters=[CARD_NUMBER])
class MemberPromoCodesView(RetryAfterMixin, GenericAPIView):
    required_scope = Partner.Scope.PROMOCODES
    throttle_classes = THROTTLES
    serializer_class = MemberCodeSerializer
    pagination_class = MemberCodesPagination
    filter_backends = []

    def member(self) -> Member:
        card_number = card_number_clean(self.kwargs["card_number"])
        return member_selectors.member_get(card_number=card_number)

    def code_response(self, code: PromoCode, member: Member, *, status_code: int) -> Response:
        context = {"member": member, "at": timezone.now()}
        return Response(MemberCodeSerializer(code, context=context).data, status=status_code)

    @extend_schema(
        operation_id="member_promocode_list",
        summary=_("List a member's promo codes"),
        description=_(
            "The member's personal codes, newest first, 50 a page (`page_size` up to 200): "
            "the code as printed, its batch and reward, validity window, uses left and "
            "status. Checkout applies the usable one worth most by itself; send a code's "
            "`reference` as checkout's `choice` to apply another. Needs `promocodes`."
        ),
        responses={
            200: MemberCodeSerializer(many=True),
            **errors_common({**MEMBER_ERRORS, 400: ["bad_card_number", "invalid"]}),
        },
        examples=[OpenApiExample("A page", value=MEMBER_CODE_EXAMPLE, response_only=True)],
    )
    def get(self, request, card_number: str):
        member = self.member()
        page = self.paginate_queryset(selectors.member_codes(member))
        context = {"member": member, "at": timezone.now()}
        return self.get_paginated_response(
            MemberCodeSerializer(page, many=True, context=context).data
        )

    @extend_schema(
        operation_id="member_promocode_issue",
        summary=_("Issue a personal promo code"),
        description=_(
            "Gives the member their code of a personal batch, made now: 201. A member "
            "has at most one code per batch, so asking again (with the same `request_id` "
            "or none) returns that code with 200 and changes nothing. Only the member "
            "can use it; it shows in their list and at the cashier desk. A batch made for "
            "a list of members issues only to them (403 `not_recipient`); one without a "
            "list issues on request up to its size (409 `batch_full`). Needs `promocodes`."
        ),
        request=IssueRequestSerializer,
        responses={
            201: OpenApiResponse(MemberCodeSerializer, description=_("A new code.")),
            200: OpenApiResponse(
                MemberCodeSerializer,
                description=_("The member already had a code of this batch: that code."),
            ),
            **errors_common(
                {
                    400: [*MEMBER_ERRORS[400], "batch_not_personal", "inactive", "expired"],
                    403: ["not_recipient"],
                    404: [*MEMBER_ERRORS[404], "batch_not_found"],
                    409: ["request_id_conflict", "batch_full"],
                },
                has_body=True,
            ),
        },
        examples=[
            OpenApiExample(
                "Issue",
                value={"batch": 12, "request_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
                request_only=True,
            ),
            OpenApiExample(
                "Issued", value=MEMBER_CODE_EXAMPLE, response_only=True, status_codes=["201"]
            ),
            OpenApiExample(
                "Issued before", value=MEMBER_CODE_EXAMPLE, response_only=True, status_codes=["200"]
            ),
        ],
    )
    def post(self, request, card_number: str):
        serializer = IssueRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = self.member()
        batch = CodeBatch.objects.filter(pk=data["batch"]).first()
        if batch is None:
            raise errors.BatchNotFound()
        code, created = promo_code_issue(
            batch=batch,
            member=member,
            request_id=data["request_id"],
            actor=Actor.for_partner(request.partner),
        )
        return self.code_response(
            code, member, status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
