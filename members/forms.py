"""Admin forms for members and purchases. They clean input; the services do the writes."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from unfold.forms import BaseDialogForm
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminRadioSelectWidget,
    UnfoldAdminTextInputWidget,
)

from loyalty.actors import Actor
from members.models import ConsentRecord, Member, Purchase
from members.services import member_enroll
from members.services.enrollment import CONSENT_FIELDS

CONSENT_SOURCE_ADMIN = "admin"


class MemberAddForm(forms.ModelForm):
    """Enrols a new member through member_enroll: card number, normalised phone, consents."""

    consents = forms.MultipleChoiceField(
        label=_("Consents"),
        choices=ConsentRecord.ConsentChannel.choices,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_("Channels the member agreed to be contacted on."),
    )

    # Set by the ModelAdmin for the request: who enrols the member.
    actor: Actor | None = None

    class Meta:
        model = Member
        fields = ["phone", "first_name", "last_name", "email", "birth_date", "joined_store"]

    def save(self, commit: bool = True) -> Member:
        if self.actor is None:
            raise ImproperlyConfigured("MemberAdmin.get_form() sets the actor.")
        data = self.cleaned_data
        given = set(data.get("consents") or [])
        member = member_enroll(
            phone=str(data["phone"]),
            first_name=data["first_name"],
            last_name=data.get("last_name") or "",
            email=data.get("email") or "",
            birth_date=data.get("birth_date"),
            joined_store=data.get("joined_store"),
            # Every channel is recorded, given or not: the record shows what was asked.
            consents={channel: channel in given for channel in CONSENT_FIELDS},
            source=CONSENT_SOURCE_ADMIN,
            actor=self.actor,
        )
        self.instance = member
        self.save_m2m = lambda: None
        return member


class MemberChangeForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = [
            "first_name",
            "last_name",
            "phone",
            "email",
            "birth_date",
            "joined_store",
            "beneficiary_category",
            "beneficiary_proof",
            "beneficiary_verified_until",
        ]

    def clean(self):
        cleaned = super().clean()
        category = cleaned.get("beneficiary_category")
        proof = cleaned.get("beneficiary_proof")
        until = cleaned.get("beneficiary_verified_until")
        if category is None and (proof or until):
            self.add_error(
                "beneficiary_category",
                _("Choose the category that the document proves, or clear the document."),
            )
        if category is not None and category.is_proof_required and until and not proof:
            self.add_error("beneficiary_proof", _("Enter the document that was checked."))
        if category is not None and category.is_proof_required and proof and not until:
            self.add_error(
                "beneficiary_verified_until", _("Enter the date until which the proof is valid.")
            )
        return cleaned


def _object_or_404(model, object_id):
    """The row the dialog acts on; a malformed id in the address is a 404 too."""
    try:
        pk = int(object_id)
    except (TypeError, ValueError):
        raise Http404 from None
    return get_object_or_404(model, pk=pk)


def _digest(*parts) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


class ConfirmedDialogForm(BaseDialogForm):
    """A dialog form that is submitted twice: first to see a summary of what will
    happen, then to confirm exactly that (changing any value asks again)."""

    form_before_template = "admin/members/dialog_errors.html"

    confirmation = forms.CharField(required=False, widget=forms.HiddenInput)

    def confirmation_parts(self) -> tuple:
        raise NotImplementedError

    def confirmation_summary(self) -> str:
        raise NotImplementedError

    def get_before_template_context(self, request, object_id=None):
        return {"form": self}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        expected = _digest(*self.confirmation_parts())
        if cleaned.get("confirmation") != expected:
            self.data = self.data.copy()
            self.data[self.add_prefix("confirmation")] = expected
            raise forms.ValidationError(self.confirmation_summary(), code="confirm")
        return cleaned


class PointsAdjustForm(ConfirmedDialogForm):
    amount = forms.IntegerField(
        label=_("Points"),
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=_("Positive to add points, negative to take them away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Shown in the member's ledger."),
    )

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.member = _object_or_404(Member, object_id)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("The adjustment cannot be zero."), code="zero")
        if amount < 0 and -amount > self.member.points_balance:
            raise forms.ValidationError(
                _("The member has only %(balance)s points.")
                % {"balance": self.member.points_balance},
                code="insufficient_points",
            )
        return amount

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("A manual adjustment needs a reason."), code="required")
        return reason

    def confirmation_parts(self) -> tuple:
        return (
            self.member.pk,
            self.member.points_balance,
            self.cleaned_data["amount"],
            self.cleaned_data["reason"],
        )

    def confirmation_summary(self) -> str:
        amount = self.cleaned_data["amount"]
        return _(
            "%(amount)+d points for %(member)s: the balance goes from %(before)s to %(after)s. "
            "Submit again to confirm."
        ) % {
            "amount": amount,
            "member": self.member,
            "before": self.member.points_balance,
            "after": self.member.points_balance + amount,
        }


class ConsentChangeForm(BaseDialogForm):
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=ConsentRecord.ConsentChannel.choices,
        widget=UnfoldAdminRadioSelectWidget,
    )
    is_granted = forms.TypedChoiceField(
        label=_("Consent"),
        choices=[("1", _("Given")), ("0", _("Withdrawn"))],
        coerce=lambda value: value == "1",
        widget=UnfoldAdminRadioSelectWidget,
    )
    source = forms.CharField(
        label=_("Source"),
        max_length=100,
        initial=CONSENT_SOURCE_ADMIN,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Where the member gave or withdrew consent, e.g. a signed form."),
    )

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.member = _object_or_404(Member, object_id)


class PurchaseRefundForm(BaseDialogForm):
    form_before_template = "admin/members/dialog_errors.html"

    amount = forms.DecimalField(
        label=_("Amount to refund"),
        required=False,
        min_value=Decimal("0.01"),
        max_digits=12,
        decimal_places=2,
        widget=UnfoldAdminDecimalFieldWidget,
    )
    # What had been refunded when the dialog opened; purchase_refund checks it under the
    # purchase's lock, so a second click refunds nothing (refund_stale).
    refunded_before = forms.DecimalField(
        required=False, max_digits=12, decimal_places=2, widget=forms.HiddenInput
    )

    def __init__(self, request, object_id=None, *args, **kwargs):
        super().__init__(request, object_id, *args, **kwargs)
        self.purchase = _object_or_404(Purchase, object_id)
        self.fields["refunded_before"].initial = self.purchase.refunded_paid
        self.fields["amount"].help_text = _(
            "Leave empty to refund everything still refundable: %(refundable)s."
        ) % {"refundable": self.purchase.refundable}

    def get_before_template_context(self, request, object_id=None):
        return {"form": self}

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount is not None and amount > self.purchase.refundable:
            raise forms.ValidationError(
                _("At most %(refundable)s can still be refunded.")
                % {"refundable": self.purchase.refundable},
                code="over_refundable",
            )
        return amount
