"""Purchases a partner recorded, and their refunds."""

from __future__ import annotations

from decimal import Decimal

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from loyalty.actors import Actor
from loyalty.api.fields import MoneyField
from loyalty.api.filters import UtcDateTimeFilter
from loyalty.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from loyalty.api.pagination import NewestFirstPagination
from loyalty.api.schema import errors_common
from loyalty.errors import NotFound
from loyalty.models import Partner
from members.api.checkout import WORKED_EXAMPLE_RESPONSE, StepSerializer, steps_data
from members.models import Purchase, Refund
from members.services import purchase_refund
from members.services.checkout import breakdown_of

TAG = "Purchases"
MONEY = {"max_digits": 12, "decimal_places": 2}


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    default_message = _("No purchase with this id was recorded by your partner account.")


# --- Serializers -----------------------------------------------------------------------


class PurchaseSerializer(serializers.ModelSerializer):
    purchase_id = serializers.IntegerField(source="pk")
    card_number = serializers.CharField(source="member.card_number")
    store = serializers.CharField(source="store.code")
    steps = serializers.SerializerMethodField()
    refunded = serializers.DecimalField(
        source="refunded_paid", **MONEY, help_text=_("Money paid that refunds have covered.")
    )
    refundable = serializers.DecimalField(
        **MONEY, help_text=_("Money paid that can still be refunded.")
    )

    class Meta:
        model = Purchase
        fields = [
            "purchase_id",
            "card_number",
            "store",
            "receipt_number",
            "created_at",
            "total",
            "base_discount",
            "code_discount",
            "points_max",
            "points_spent",
            "paid",
            "points_earned",
            "tier_spend",
            "steps",
            "refunded",
            "refundable",
            "points_taken_back",
            "points_returned",
            "is_fully_refunded",
        ]
        read_only_fields = fields

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, purchase: Purchase) -> list[dict]:
        return steps_data(breakdown_of(purchase).steps)


class RefundRequestSerializer(serializers.Serializer):
    amount = MoneyField(
        required=False,
        min_value=Decimal("0.01"),
        help_text=_(
            "The part of the money paid that the returned goods are worth. Leave out to "
            "refund everything that is left."
        ),
    )

    expected_refunded = MoneyField(
        required=False,
        help_text=_(
            "Optional: the purchase's `refunded` as you last read it. If another refund "
            "was recorded since, the answer is 409 `refund_stale` and nothing changes."
        ),
    )

    class Meta:
        ref_name = "Refund"


class RefundSerializer(serializers.ModelSerializer):
    refund_id = serializers.IntegerField(source="pk")
    purchase_id = serializers.IntegerField(source="purchase.pk")
    purchase_refundable = serializers.DecimalField(
        source="purchase.refundable",
        **MONEY,
        help_text=_("Money paid that can still be refunded after this refund."),
    )
    is_fully_refunded = serializers.BooleanField(source="purchase.is_fully_refunded")

    class Meta:
        model = Refund
        fields = [
            "refund_id",
            "purchase_id",
            "amount",
            "money_refunded",
            "money_withheld",
            "points_taken_back",
            "points_returned",
            "created_at",
            "purchase_refundable",
            "is_fully_refunded",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "amount": {"help_text": _("The part of the money paid that was refunded.")},
            "money_refunded": {"help_text": _("Money to give back: amount − money_withheld.")},
            "money_withheld": {
                "help_text": _(
                    "Value of the points this purchase earned that the member had already "
                    "spent (1 point = 1 ruble), kept back so the balance never goes negative."
                )
            },
            "points_taken_back": {"help_text": _("Earned points taken back.")},
            "points_returned": {"help_text": _("Spent points given back to the member.")},
        }


# --- Filters ---------------------------------------------------------------------------


class PurchaseFilter(django_filters.FilterSet):
    card_number = django_filters.CharFilter(
        field_name="member__card_number", max_length=32, help_text=_("The member's card number.")
    )
    store = django_filters.CharFilter(
        field_name="store__code", lookup_expr="iexact", max_length=20, help_text=_("Store code.")
    )
    receipt_number = django_filters.CharFilter(max_length=64)
    created_after = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text=_("At or after this ISO 8601 time.")
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text=_("Before this ISO 8601 time.")
    )

    class Meta:
        model = Purchase
        fields = ["card_number", "store", "receipt_number", "created_after", "created_before"]


# --- Views -------------------------------------------------------------------------------

PURCHASE_EXAMPLE = {
    "purchase_id": 1017,
    "card_number": "2712345678902",
    "store": "MSK-01",
    "receipt_number": "R-000123",
    "created_at": "2026-03-01T12:00:00+03:00",
    "total": "3000.00",
    "base_discount": "150.00",
    "code_discount": "0.00",
    "points_max": 500,
    "points_spent": 500,
    "paid": "2350.00",
    "points_earned": 47,
    "tier_spend": "2850.00",
    "steps": WORKED_EXAMPLE_RESPONSE["steps"],
    "refunded": "0.00",
    "refundable": "2350.00",
    "points_taken_back": 0,
    "points_returned": 0,
    "is_fully_refunded": False,
}
PURCHASE_ID = OpenApiParameter(
    "purchase_id", int, OpenApiParameter.PATH, description=_("`purchase_id` from the commit.")
)


@extend_schema(tags=[TAG])
class PurchaseViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Purchase.objects.select_related("member", "store")
    serializer_class = PurchaseSerializer
    filterset_class = PurchaseFilter
    pagination_class = NewestFirstPagination
    lookup_field = "pk"
    lookup_url_kwarg = "purchase_id"
    # Digits only, and few enough for a bigint: anything else is a JSON 404 by the
    # catch-all route rather than a database error.
    lookup_value_regex = "[0-9]{1,18}"

    def get_required_scope(self, request) -> str:
        if self.action == "refund":
            return Partner.Scope.REFUNDS
        return Partner.Scope.CHECKOUT

    def get_queryset(self):
        # Only the purchases this partner recorded: another partner's are a 404.
        return self.queryset.filter(partner=self.request.partner)

    def get_object(self) -> Purchase:
        purchase = self.get_queryset().filter(pk=self.kwargs["purchase_id"]).first()
        if purchase is None:
            raise PurchaseNotFound()
        return purchase

    @extend_schema(
        operation_id="purchase_list",
        summary=_("List your purchases"),
        description=_(
            "Purchases committed with your keys, newest first, 50 a page (`page_size` up "
            "to 200); follow `next` for more. Needs `checkout`."
        ),
        responses={200: PurchaseSerializer(many=True), **errors_common({400: ["invalid"]})},
        examples=[
            OpenApiExample(
                "A page",
                value=PURCHASE_EXAMPLE,  # drf-spectacular puts it in a page
                response_only=True,
            )
        ],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="purchase_get",
        summary=_("Read a purchase"),
        parameters=[PURCHASE_ID],
        description=_(
            "Every step of its checkout and what refunds have covered. Needs `checkout`."
        ),
        responses={200: PurchaseSerializer, **errors_common({404: ["purchase_not_found"]})},
        examples=[OpenApiExample("Worked example", value=PURCHASE_EXAMPLE, response_only=True)],
    )
    def retrieve(self, request, purchase_id: str):
        return Response(PurchaseSerializer(self.get_object()).data)

    @extend_schema(
        operation_id="purchase_refund",
        summary=_("Refund a purchase"),
        description=_(
            "Refunds all that is left of the money paid, or `amount` of it. Spent points "
            "go back to the member and earned points are taken back in proportion; where "
            "the member already spent the earned points, their value is withheld from the "
            "money refunded. Not idempotent by itself: send an `Idempotency-Key` so a "
            "retry after a timeout cannot refund twice. Needs `refunds`."
        ),
        parameters=[PURCHASE_ID, IDEMPOTENCY_PARAMETER],
        request=RefundRequestSerializer,
        responses={
            201: RefundSerializer,
            **errors_common(
                {
                    400: ["idempotency_key_invalid"],
                    404: ["purchase_not_found"],
                    409: [
                        "already_refunded",
                        "refund_exceeds_paid",
                        "refund_stale",
                        "refund_not_allowed",
                    ],
                    422: ["idempotency_key_reused"],
                },
                has_body=True,
            ),
        },
        examples=[
            OpenApiExample("Partial refund", value={"amount": "1000.00"}, request_only=True),
            OpenApiExample("Full refund", value={}, request_only=True),
            OpenApiExample(
                "Partial refund",
                value={
                    "refund_id": 88,
                    "purchase_id": 1017,
                    "amount": "1000.00",
                    "money_refunded": "1000.00",
                    "money_withheld": "0.00",
                    "points_taken_back": 20,
                    "points_returned": 212,
                    "created_at": "2026-03-02T10:15:00+03:00",
                    "purchase_refundable": "1350.00",
                    "is_fully_refunded": False,
                },
                response_only=True,
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def refund(self, request, purchase_id: str):
        purchase = self.get_object()
        return idempotent(
            request,
            endpoint=f"purchases.refund:{purchase.pk}",
            handler=lambda: self.refund_commit(request, purchase),
        )

    def refund_commit(self, request, purchase: Purchase) -> Response:
        serializer = RefundRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund = purchase_refund(
            purchase=purchase,
            amount=serializer.validated_data.get("amount"),
            expected_refunded=serializer.validated_data.get("expected_refunded"),
            actor=Actor.for_partner(request.partner),
        )
        return Response(RefundSerializer(refund).data, status=status.HTTP_201_CREATED)
