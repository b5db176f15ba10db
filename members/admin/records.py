"""Purchases, refunds, points lots, ledger and consent records: read-only for everyone."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import RelatedDropdownFilter
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from loyalty.actors import Actor
from loyalty.admin_base import DayRangeFilter, ReadOnlyModelAdmin, dialog_again, dialog_done
from loyalty.errors import DomainError
from members.cards import CARD_LENGTH
from members.forms import (
    PurchaseRefundForm,
)
from members.models import Channel, ConsentRecord, LedgerEntry, PointsLot, Purchase, Refund
from members.services import purchase_refund

REFUND_DIALOG = {
    "title": _("Refund the purchase"),
    "description": _(
        "Refunds part or all of the money paid. Earned points are taken back and spent "
        "points returned; earned points the member already spent are withheld in money."
    ),
    "form_class": PurchaseRefundForm,
    "form_submit_text": _("Refund"),
}


def card_or_receipt_search(queryset, search_term: str, *, member_path: str, receipt_path: str = ""):
    """Exact card number (through the member) or exact receipt number."""
    term = search_term.strip()
    if not term:
        return queryset, False
    condition = Q()
    if receipt_path:
        condition |= Q(**{receipt_path: term})
    digits = term.replace(" ", "").replace("-", "")
    if len(digits) == CARD_LENGTH and digits.isdigit():
        condition |= Q(**{f"{member_path}__card_number": digits})
    if not condition:
        return queryset.none(), False
    return queryset.filter(condition), False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "receipt_number",
        "store_code",
        "member_card",
        "total",
        "paid",
        "points_spent",
        "points_earned",
        "channel",
        "is_fully_refunded",
    )
    list_display_links = ("created_at", "receipt_number")
    list_select_related = ("store", "member")
    list_filter = (
        ("store", RelatedDropdownFilter),
        "channel",
        ("created_at", DayRangeFilter),
        "is_fully_refunded",
    )
    list_filter_submit = True
    search_fields = ("receipt_number",)
    search_help_text = _("Exact receipt number or card number.")
    actions_detail = ["refund_dialog"]

    def get_search_results(self, request, queryset, search_term):
        return card_or_receipt_search(
            queryset, search_term, member_path="member", receipt_path="receipt_number"
        )

    @display(description=_("store"), ordering="store__code")
    def store_code(self, obj: Purchase) -> str:
        return obj.store.code

    @display(description=_("card number"))
    def member_card(self, obj: Purchase) -> str:
        return obj.member.card_number

    def has_refund_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("members.add_refund")

    @action(
        description=_("Refund"),
        url_path="refund",
        permissions=["refund"],
        icon="undo",
        variant=ActionVariant.WARNING,
        dialog=REFUND_DIALOG,
    )
    def refund_dialog(self, request, form: PurchaseRefundForm, object_id):
        try:
            refund = purchase_refund(
                purchase=form.purchase,
                amount=form.cleaned_data["amount"],
                actor=Actor.for_user(request.user, Channel.ADMIN),
                expected_refunded=form.cleaned_data["refunded_before"],
            )
        except DomainError as error:
            form.add_error(None, error.message)
            return dialog_again(request, REFUND_DIALOG, form)
        self.message_user(
            request,
            _(
                "Refunded %(money)s (withheld %(withheld)s); points taken back %(taken)s, "
                "returned %(returned)s."
            )
            % {
                "money": refund.money_refunded,
                "withheld": refund.money_withheld,
                "taken": refund.points_taken_back,
                "returned": refund.points_returned,
            },
            messages.SUCCESS,
        )
        return dialog_done(request, reverse("admin:members_purchase_change", args=[object_id]))


@admin.register(Refund)
class RefundAdmin(ReadOnlyModelAdmin):
    list_display = (
        "purchase",
        "amount",
        "money_withheld",
        "money_refunded",
        "points_taken_back",
        "points_returned",
        "channel",
        "created_at",
    )
    list_select_related = ("purchase",)
    list_filter = ("channel", ("created_at", DayRangeFilter))
    list_filter_submit = True
    search_fields = ("purchase__receipt_number",)
    search_help_text = _("Exact receipt number or card number.")

    def get_search_results(self, request, queryset, search_term):
        return card_or_receipt_search(
            queryset,
            search_term,
            member_path="purchase__member",
            receipt_path="purchase__receipt_number",
        )


@admin.register(PointsLot)
class PointsLotAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "member", "amount", "remaining", "earned_at", "expires_at", "purchase")
    list_select_related = ("member", "purchase")
    list_filter = (("expires_at", DayRangeFilter), ("earned_at", DayRangeFilter))
    list_filter_submit = True
    search_fields = ("member__card_number",)
    search_help_text = _("Exact card number.")

    def get_search_results(self, request, queryset, search_term):
        return card_or_receipt_search(queryset, search_term, member_path="member")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "member",
        "kind",
        "amount",
        "lot_number",
        "purchase",
        "reason",
        "actor",
    )
    list_select_related = ("member", "purchase")
    list_filter = ("kind", ("created_at", DayRangeFilter))
    list_filter_submit = True
    search_fields = ("member__card_number",)
    search_help_text = _("Exact card number or receipt number.")

    def get_search_results(self, request, queryset, search_term):
        return card_or_receipt_search(
            queryset, search_term, member_path="member", receipt_path="purchase__receipt_number"
        )

    @display(description=_("lot"), ordering="lot_id")
    def lot_number(self, obj: LedgerEntry) -> int:
        return obj.lot_id


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "member", "channel", "is_granted", "source", "actor")
    list_select_related = ("member",)
    list_filter = ("channel", "is_granted", ("created_at", DayRangeFilter))
    list_filter_submit = True
    search_fields = ("member__card_number",)
    search_help_text = _("Exact card number.")

    def get_search_results(self, request, queryset, search_term):
        return card_or_receipt_search(queryset, search_term, member_path="member")
