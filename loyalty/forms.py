"""Admin forms of the program's configuration. Validation lives here (form clean()),
never in ModelAdmin.save_model, which cannot veto a save."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget, UnfoldBooleanSwitchWidget

from loyalty.models import Partner, ProgramSettings, Tier
from members.services import TierMoves, tier_what_if

# Stands in for the id of a tier that is being added (real ids start at 1).
NEW_TIER_ID = 0


def _is_whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


class ConfirmMovesMixin(forms.Form):
    """A change that would move members between tiers at the next review is saved only
    once marketing has seen how many (the what-if) and ticked the box."""

    confirm_moves = forms.BooleanField(
        label=_("I have seen the effect"),
        required=False,
        widget=UnfoldBooleanSwitchWidget,
        help_text=_("Needed when the change moves members between tiers at the next review."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.moves: TierMoves | None = None

    def require_moves_confirmed(self, moves: TierMoves) -> None:
        self.moves = moves
        if (moves.up or moves.down) and not self.cleaned_data.get("confirm_moves"):
            self.add_error(
                "confirm_moves",
                forms.ValidationError(
                    tier_moves_text(moves)
                    + " "
                    + str(_("Tick “I have seen the effect” to save anyway.")),
                    code="tier_moves_unconfirmed",
                ),
            )


class TierForm(ConfirmMovesMixin, forms.ModelForm):
    """A tier, with the what-if check marketing sees before a threshold change is saved."""

    class Meta:
        model = Tier
        fields = ["name", "threshold", "discount_percent", "earn_percent"]

    def clean_threshold(self) -> Decimal:
        threshold = self.cleaned_data["threshold"]
        program = ProgramSettings.load()
        if program.tier_basis == ProgramSettings.TierBasis.PURCHASES and not _is_whole(threshold):
            raise forms.ValidationError(
                _("The program counts purchases: the threshold must be a whole number."),
                code="threshold_not_whole",
            )
        return threshold

    def clean(self):
        cleaned = super().clean()
        threshold = cleaned.get("threshold")
        if threshold is None:
            return cleaned
        others = dict(Tier.objects.exclude(pk=self.instance.pk).values_list("id", "threshold"))
        if min([threshold, *others.values()]) != 0:
            # Every member must fall into some tier: the lowest one starts at 0.
            self.add_error(
                "threshold",
                forms.ValidationError(
                    _("The lowest tier must start at 0; give another tier 0 first."),
                    code="lowest_tier_not_zero",
                ),
            )
            return cleaned
        if self.instance.pk is not None and "threshold" not in self.changed_data:
            return cleaned
        proposed = {**others, self.instance.pk or NEW_TIER_ID: threshold}
        self.require_moves_confirmed(tier_what_if(thresholds=proposed))
        return cleaned


def tier_moves_text(moves: TierMoves) -> str:
    return ngettext(
        "%(up)d member would move up, %(down)d down at the next review.",
        "%(up)d members would move up, %(down)d down at the next review.",
        moves.up,
    ) % {"up": moves.up, "down": moves.down}


class ProgramSettingsForm(ConfirmMovesMixin, forms.ModelForm):
    """Program rules; a change of what the tiers count (basis, window) shows its what-if."""

    TIER_RULES = ("tier_basis", "tier_window", "tier_window_months")

    class Meta:
        model = ProgramSettings
        fields = [
            "tier_basis",
            "tier_window",
            "tier_window_months",
            "points_cap_percent",
            "points_life_days",
            "points_expiry_notice_days",
            "stacking_policy",
            "stacking_cap_percent",
        ]

    def clean_tier_basis(self) -> str:
        basis = self.cleaned_data["tier_basis"]
        if basis == ProgramSettings.TierBasis.PURCHASES:
            fractional = [
                t.name for t in Tier.objects.only("name", "threshold") if not _is_whole(t.threshold)
            ]
            if fractional:
                raise forms.ValidationError(
                    _(
                        "To count purchases, every tier threshold must be a whole number; "
                        "change these tiers first: %(tiers)s."
                    )
                    % {"tiers": ", ".join(fractional)},
                    code="threshold_not_whole",
                )
        return basis

    def clean(self):
        cleaned = super().clean()
        if self.errors or not set(self.TIER_RULES) & set(self.changed_data):
            return cleaned
        # The same thresholds read under the new rules: e.g. switching to counting
        # purchases turns "20,000 ₽" into "20,000 purchases" and moves nearly everyone down.
        proposed = ProgramSettings(**{name: cleaned[name] for name in self.TIER_RULES})
        self.require_moves_confirmed(tier_what_if(thresholds={}, program=proposed))
        return cleaned


class PartnerForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=Partner.Scope.choices,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_("What the partner's keys may do."),
    )

    class Meta:
        model = Partner
        fields = ["name", "is_active", "scopes"]
