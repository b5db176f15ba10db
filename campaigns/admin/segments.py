"""Segments in admin: rules built without code, grouped by who the members are, how they
buy and what they agreed to; "Count members" shows how many match before saving."""

from __future__ import annotations

import copy
from types import SimpleNamespace

from django import forms
from django.contrib import admin, messages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import dates, formats
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin
from unfold.decorators import display
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminNullBooleanSelectWidget,
)

from campaigns.models import Segment
from campaigns.segments import (
    MAX_DAYS,
    SegmentSpec,
    members_matching,
    segment_summary,
    spec_summary,
)

# The name of the submit button that counts the members of the rules as typed.
COUNT = "_count"

NPS_TOP = 10

# (lower bound, upper bound) pairs the form checks.
RANGES = (
    ("spend_min", "spend_max"),
    ("purchases_min", "purchases_max"),
    ("inactive_days_min", "inactive_days_max"),
    ("nps_min", "nps_max"),
    ("joined_from", "joined_until"),
)


def _number(value: int) -> str:
    return formats.number_format(value, force_grouping=True, use_l10n=True)


class ConsentSelect(UnfoldAdminNullBooleanSelectWidget):
    """Any / given / not given, instead of the stock unknown / yes / no."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [
            ("unknown", _("Any")),
            ("true", _("Given")),
            ("false", _("Not given")),
        ]


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = (
            "name",
            "description",
            "tiers",
            "beneficiary_categories",
            "stores",
            "birthday_month",
            "joined_from",
            "joined_until",
            "spend_min",
            "spend_max",
            "purchases_days",
            "purchases_min",
            "purchases_max",
            "inactive_days_min",
            "inactive_days_max",
            "consent_email",
            "consent_sms",
            "consent_push",
            "nps_min",
            "nps_max",
        )
        widgets = {
            "tiers": UnfoldAdminCheckboxSelectMultipleWidget,
            "beneficiary_categories": UnfoldAdminCheckboxSelectMultipleWidget,
            "consent_email": ConsentSelect,
            "consent_sms": ConsentSelect,
            "consent_push": ConsentSelect,
        }
        help_texts = {
            "purchases_min": _("Fully refunded purchases are not counted. Empty: no rule."),
            "purchases_max": _("0: no purchase in the period."),
            "inactive_days_max": _("0: bought today."),
            "birthday_month": _("Members born in this month, any year."),
            "joined_from": _("Both dates are included; days in the program's time zone."),
            "consent_email": _("Any: consent does not matter."),
            "consent_sms": _("Any: consent does not matter."),
            "consent_push": _("Any: consent does not matter."),
            "nps_max": _("0-10."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "birthday_month" in self.fields:
            self.fields["birthday_month"].choices = [
                ("", _("Any month")),
                *((month, name) for month, name in dates.MONTHS.items()),
            ]
        for name in ("nps_min", "nps_max"):
            if name in self.fields:
                self.fields[name].validators.append(MaxValueValidator(NPS_TOP))
                self.fields[name].widget.attrs["max"] = NPS_TOP
        for name in ("spend_min", "spend_max"):
            if name in self.fields:
                self.fields[name].validators.append(MinValueValidator(0))
        if "purchases_days" in self.fields:
            self.fields["purchases_days"].validators.append(MinValueValidator(1))
            self.fields["purchases_days"].widget.attrs["min"] = 1
        for name in ("purchases_days", "inactive_days_min", "inactive_days_max"):
            if name in self.fields:
                self.fields[name].validators.append(MaxValueValidator(MAX_DAYS))
                self.fields[name].widget.attrs["max"] = MAX_DAYS

    def clean(self):
        cleaned = super().clean()
        for low, high in RANGES:
            start, end = cleaned.get(low), cleaned.get(high)
            if start is not None and end is not None and start > end:
                self.add_error(
                    high,
                    _("Must not be less than “%(field)s”.") % {"field": self.fields[low].label},
                )
        return cleaned


def _counting(form_class, report):
    """The admin's form, but never valid: when it is, `report` gets its cleaned data and
    the admin shows the form again with what was typed instead of saving it."""

    class CountingForm(form_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if "name" in self.fields:
                self.fields["name"].required = False  # a draft may be counted before naming

        def is_valid(self) -> bool:
            # Validation writes the typed values onto the instance; the saved segment's
            # own figures on the page must not change, so a copy takes them.
            saved = self.instance
            self.instance = copy.copy(saved)
            try:
                if super().is_valid():
                    report(self.cleaned_data)
            finally:
                self.instance = saved
            return False

    return CountingForm


@admin.register(Segment)
class SegmentAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = SegmentForm
    list_display = ("name", "rules", "updated_at")
    search_fields = ("name",)
    autocomplete_fields = ("stores",)
    readonly_fields = ("rules", "members_now", "updated_at")
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "description"),
                "description": _(
                    "Every rule that is filled in must hold; an empty rule lets anyone "
                    "through. “Count members” shows how many members match the rules as "
                    "typed, without saving them."
                ),
            },
        ),
        (
            _("Who"),
            {
                "fields": (
                    "tiers",
                    "beneficiary_categories",
                    "stores",
                    "birthday_month",
                    ("joined_from", "joined_until"),
                )
            },
        ),
        (
            _("Behaviour"),
            {
                "fields": (
                    ("spend_min", "spend_max"),
                    "purchases_days",
                    ("purchases_min", "purchases_max"),
                    ("inactive_days_min", "inactive_days_max"),
                )
            },
        ),
        (
            _("Consent and NPS"),
            {"fields": (("consent_email", "consent_sms", "consent_push"), ("nps_min", "nps_max"))},
        ),
    )

    def get_queryset(self, request):
        # The rules in words need the names: three queries for the whole list.
        return (
            super()
            .get_queryset(request)
            .prefetch_related("tiers", "beneficiary_categories", "stores")
        )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        now = (_("Members now"), {"fields": ("rules", "members_now", "updated_at")})
        first, *rest = fieldsets
        return (first, now, *rest)

    @display(description=_("rules"))
    def rules(self, obj: Segment) -> str:
        return segment_summary(obj)

    @display(description=_("members matching now"))
    def members_now(self, obj: Segment) -> str:
        return _number(members_matching(SegmentSpec.of(obj)).count())

    # --- counting before use ------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.method == "POST" and COUNT in request.POST:
            return _counting(form, lambda data: self._count_report(request, data))
        return form

    def _count_report(self, request, data: dict) -> None:
        spec = SegmentSpec.from_data(data)
        count = members_matching(spec).count()
        names = {
            name: [str(item.name) for item in data.get(name) or ()]
            for name in ("tiers", "beneficiary_categories", "stores")
        }
        text = ngettext(
            "%(count)s member matches: %(rules)s. Nothing was saved.",
            "%(count)s members match: %(rules)s. Nothing was saved.",
            count,
        ) % {"count": _number(count), "rules": spec_summary(spec, names=names)}
        self.message_user(request, text, messages.INFO)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        may_edit = (
            self.has_add_permission(request) if add else self.has_change_permission(request, obj)
        )
        if may_edit:
            count_button = SimpleNamespace(
                action_name=COUNT, attrs={}, description=_("Count members"), icon="groups"
            )
            context["actions_submit_line"] = [*context.get("actions_submit_line", []), count_button]
        return super().render_change_form(request, context, add, change, form_url, obj)
