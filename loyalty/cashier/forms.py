"""Forms of the cashier desk. They clean what the cashier typed and call the services.

DomainError → form error happens in exactly one place: `DomainErrorsMixin.call`.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.errors import DomainError
from loyalty.models import BeneficiaryCategory, Store
from members.errors import NoRewardApplies
from members.models import BeneficiaryDocument
from members.services.checkout import money_input, receipt_total_input
from promocodes.errors import REFUSALS, TooManyGuesses

# Spaces people and keyboards put into amounts: "3 000,50", "3 000,50" (nbsp), "3 000".
_AMOUNT_SPACES = re.compile(r"[\s\u00a0\u202f']")


def amount_normalise(raw: str) -> str:
    """ "3 000,50 ₽" as a cashier types it → "3000.50" (the services parse it strictly)."""
    text = _AMOUNT_SPACES.sub("", raw or "").replace(",", ".")
    return text.removesuffix("₽")


class DomainErrorsMixin:
    """Runs a service and shows a DomainError as a form error.

    `domain_error_fields` maps an error code to the field it belongs next to; any other
    code becomes a form-wide error. This is the only place the desk maps DomainError.
    """

    domain_error_fields: dict[str, str] = {}

    def call(self, service, /, **kwargs):
        """The service's result, or None with the error added to the form."""
        try:
            return service(**kwargs)
        except DomainError as exc:
            field = self.domain_error_fields.get(exc.code)
            self.add_error(field, forms.ValidationError(str(exc.message), code=exc.code))
            return None


class LookupForm(DomainErrorsMixin, forms.Form):
    query = forms.CharField(
        label=_("Card or phone"),
        max_length=40,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "off",
                "inputmode": "tel",
                "enterkeyhint": "search",
                "placeholder": _("Scan the card or type the phone"),
            }
        ),
    )

    domain_error_fields = {"bad_card_number": "query", "member_not_found": "query"}


class ReceiptForm(DomainErrorsMixin, forms.Form):
    """One receipt: the same form is evaluated while typing and committed on confirm."""

    store = forms.ModelChoiceField(
        label=_("Store"),
        queryset=Store.objects.filter(is_active=True).order_by("code"),
        empty_label=None,
        error_messages={"invalid_choice": _("Unknown or inactive store.")},
    )
    receipt_number = forms.CharField(
        label=_("Receipt number"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "off", "enterkeyhint": "next"}),
    )
    total = forms.CharField(
        label=_("Receipt total"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0,00"}
        ),
    )
    points_to_spend = forms.IntegerField(
        label=_("Points to spend"),
        min_value=0,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    # The template renders both by hand: the code input carries its live check, the
    # choice is a radio per personal code of the member (its canonical text).
    code = forms.CharField(label=_("Promo code"), max_length=64, required=False)
    choice = forms.CharField(label=_("Member's codes and offers"), max_length=64, required=False)

    domain_error_fields = {
        "invalid_amount": "total",
        "points_over_limit": "points_to_spend",
        "insufficient_points": "points_to_spend",
        "receipt_conflict": "receipt_number",
        "receipt_number_required": "receipt_number",
        "store_not_found": "store",
        **dict.fromkeys(REFUSALS, "code"),
        TooManyGuesses.code: "code",
        NoRewardApplies.code: "choice",
        # An offer or N-th purchase reward used meanwhile at another till: the cashier
        # picks another one. A campaign's budget running out is a form-wide error.
        "offer_not_usable": "choice",
    }

    def __init__(self, *args, for_commit: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        # While the cashier types, the breakdown needs no receipt number yet.
        self.fields["receipt_number"].required = for_commit
        if for_commit:
            # The page shows the select: read the options once (the widget would read
            # them twice). The evaluate endpoint never renders it and skips the query.
            store = self.fields["store"]
            store.choices = [(s.pk, str(s)) for s in store.queryset]

    def clean_total(self) -> Decimal | None:
        return self.call(receipt_total_input, value=amount_normalise(self.cleaned_data["total"]))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("points_to_spend") is None and "points_to_spend" not in self.errors:
            cleaned["points_to_spend"] = 0
        if not cleaned.get("code"):
            # Without a typed code a refusal is about the personal code picked or applied
            # by itself (used up meanwhile at another till): show it by the list.
            self.domain_error_fields = {
                **self.domain_error_fields,
                **dict.fromkeys(REFUSALS, "choice"),
            }
        return cleaned


class RefundForm(DomainErrorsMixin, forms.Form):
    amount = forms.CharField(
        label=_("Amount to refund"),
        max_length=20,
        required=False,
        help_text=_("Leave empty to refund everything that is left."),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    # What had been refunded when the page was opened; purchase_refund checks it under
    # the purchase's lock, so a second click or a second cashier refunding the same
    # purchase gets a clear error instead of a second refund.
    refunded_before = forms.DecimalField(widget=forms.HiddenInput, decimal_places=2)

    domain_error_fields = {
        "invalid_amount": "amount",
        "refund_exceeds_paid": "amount",
    }

    def __init__(self, *args, purchase, **kwargs):
        kwargs.setdefault("initial", {"refunded_before": purchase.refunded_paid})
        super().__init__(*args, **kwargs)
        self.purchase = purchase

    def clean_amount(self) -> Decimal | None:
        raw = amount_normalise(self.cleaned_data["amount"])
        if not raw:
            return None
        return self.call(money_input, value=raw)


class BeneficiaryProofForm(DomainErrorsMixin, forms.Form):
    """The "proof checked" step: the document the cashier saw and the day it expires."""

    prefix = "proof"

    category = forms.ModelChoiceField(
        label=_("Beneficiary category"),
        queryset=BeneficiaryCategory.objects.filter(is_active=True).order_by("name"),
        error_messages={"invalid_choice": _("Choose one of the categories offered.")},
    )
    document_kind = forms.ChoiceField(
        label=_("Document"), choices=[("", "—"), *BeneficiaryDocument.choices]
    )
    document_number = forms.CharField(
        label=_("Document number"),
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    valid_until = forms.DateField(
        label=_("Valid until"),
        help_text=_("The last day the document is valid; the discount applies until then."),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )

    domain_error_fields = {
        "beneficiary_proof_expired": "valid_until",
        "beneficiary_category_inactive": "category",
        "beneficiary_document_kind_unknown": "document_kind",
        "beneficiary_document_required": "document_number",
    }

    def __init__(self, *args, member=None, **kwargs):
        if member is not None and member.beneficiary_category_id:
            kwargs.setdefault(
                "initial",
                {
                    "category": member.beneficiary_category_id,
                    "document_kind": member.beneficiary_document_kind,
                },
            )
        super().__init__(*args, **kwargs)
        # Read the options once (the widget would read them on every render).
        category = self.fields["category"]
        category.choices = [("", "—"), *((c.pk, c.name) for c in category.queryset)]
