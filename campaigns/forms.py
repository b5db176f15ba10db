"""Admin forms of campaigns: one form for every kind, showing and checking what the kind
uses. Validation lives here (form clean()), never in ModelAdmin.save_model, which
cannot veto a save."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, RewardChoices
from campaigns.services.lifecycle import (
    REWARDS,
    campaign_field_problems,
    campaign_is_locked,
    reward_value_problem,
)

Kind = Campaign.Kind
Reward = RewardChoices

# PRODUCT.md mechanic 4: a receipt from 500 / 1,000 / 10,000 ₽ earns 50 / 150 / 2,000 ₽.
DEFAULT_LEVELS = (
    (Decimal(500), Decimal(50)),
    (Decimal(1000), Decimal(150)),
    (Decimal(10000), Decimal(2000)),
)

FIELDS = [
    "name",
    "description",
    "kind",
    "starts_at",
    "ends_at",
    "segment",
    "is_segment_frozen",
    "holdout_percent",
    "reward_kind",
    "reward_value",
    "reward_cap",
    "min_receipt",
    "gift_name",
    "every_n",
    "offer_days",
    "lead_days",
    "last_chance_hours",
    "referrer_points",
    "budget",
    "channel",
]
# Left empty, these take the model's default (the form says which).
DEFAULTED = (
    "kind",
    "holdout_percent",
    "reward_value",
    "min_receipt",
    "offer_days",
    "lead_days",
    "last_chance_hours",
    "referrer_points",
    "channel",
)

# Their help says what an empty field stands for.
HINTED = ("min_receipt", "offer_days", "lead_days", "last_chance_hours")

_COMMON = {
    "name",
    "description",
    "kind",
    "starts_at",
    "ends_at",
    "segment",
    "holdout_percent",
    "reward_kind",
    "reward_value",
    "reward_cap",
    "min_receipt",
    "gift_name",
    "budget",
    "channel",
}
_LIVE_SEGMENT = {"is_segment_frozen"}  # offers and closed sales always freeze theirs
# The fields each kind uses; the others are hidden and reset to their defaults.
KIND_FIELDS: dict[str, set[str]] = {
    Kind.PROMO: {"name", "description", "kind"},
    Kind.NTH_PURCHASE: _COMMON | _LIVE_SEGMENT | {"every_n"},
    Kind.OFFER: _COMMON | {"last_chance_hours"},
    Kind.CLOSED_SALE: (_COMMON - {"reward_cap", "min_receipt", "gift_name"})
    | {"lead_days", "last_chance_hours"},
    Kind.THRESHOLD: (_COMMON - {"reward_value", "gift_name"}) | _LIVE_SEGMENT | {"offer_days"},
    # Welcome, birthday and referral reach members who join later: their segment is
    # never frozen. A birthday gift is valid until the end of the birthday plus as many
    # days as it came before it (lead_days), so it takes no "offer valid, days".
    Kind.WELCOME: _COMMON | {"offer_days"},
    Kind.BIRTHDAY: _COMMON | {"lead_days"},
    Kind.REFERRAL: (_COMMON - {"reward_cap", "min_receipt", "gift_name"}) | {"referrer_points"},
}
# Fields that also depend on the reward chosen.
REWARD_FIELDS = {
    "reward_value": (Reward.PERCENT, Reward.FIXED, Reward.POINTS),
    "reward_cap": (Reward.PERCENT,),
    "gift_name": (Reward.GIFT,),
}


def is_shown(field: str, *, kind: str, reward_kind: str) -> bool:
    """Whether a campaign of this kind and reward uses the field."""
    if field not in KIND_FIELDS.get(kind, set()):
        return False
    return field not in REWARD_FIELDS or reward_kind in REWARD_FIELDS[field]


def _one_of(name: str, values) -> str:
    # A read-only field has no variable on the page: the field then shows (the server
    # already left out what the saved kind does not use).
    listed = ", ".join(f"'{value}'" for value in values)
    return f"(typeof {name} === 'undefined' || [{listed}].includes({name}))"


def conditional_fields() -> dict[str, str]:
    """Unfold's show-when expressions: each field shows for the kinds (and rewards) that
    use it."""
    conditions = {}
    for field in FIELDS:
        kinds = [kind for kind, used in KIND_FIELDS.items() if field in used]
        parts = []
        if len(kinds) < len(KIND_FIELDS):
            parts.append(_one_of("kind", kinds))
        if field in REWARD_FIELDS:
            parts.append(_one_of("reward_kind", REWARD_FIELDS[field]))
        if parts:
            conditions[field] = " && ".join(parts)
    return conditions


class CampaignForm(forms.ModelForm):
    """A campaign of any kind: a new one or a draft (every field), or one that has run
    (the fields that decide what members got are read-only)."""

    class Meta:
        model = Campaign
        fields = FIELDS
        help_texts = {
            "kind": _(
                "What the campaign does. The form shows only the fields this kind uses; "
                "the kind is fixed once the campaign is scheduled."
            ),
            "reward_kind": _(
                "A closed sale gives a percent; a referral, bonus points; threshold coupons "
                "get their values from the levels below."
            ),
            # xgettext:no-python-format
            "holdout_percent": _(
                "A control group, 0-50%: this share of the targeted members is set aside "
                "and gets nothing, so the results can measure the uplift. Members are "
                "chosen by a fixed rule and recorded. Empty: 0."
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in DEFAULTED:
            if name in self.fields:
                self.fields[name].required = False
                if name in HINTED:
                    default = Campaign._meta.get_field(name).get_default()
                    own = self.fields[name].help_text
                    hint = _("Empty: %(default)s.") % {"default": default}
                    self.fields[name].help_text = f"{own} {hint}".strip()

    def _value(self, name: str):
        """The cleaned value, or the saved one where the field is read-only."""
        if name in self.fields:
            return self.cleaned_data.get(name)
        return getattr(self.instance, name)

    def clean(self):
        cleaned = super().clean()
        for name in DEFAULTED:
            if name in self.fields and name not in self.errors and cleaned.get(name) in (None, ""):
                cleaned[name] = Campaign._meta.get_field(name).get_default()
        kind = self._value("kind")
        if "reward_kind" in self.fields and not cleaned.get("reward_kind"):
            # The one reward a kind can give, or the one its default levels are in.
            allowed = REWARDS.get(kind, ())
            if len(allowed) == 1:
                cleaned["reward_kind"] = allowed[0]
            elif kind == Kind.THRESHOLD:
                cleaned["reward_kind"] = Reward.FIXED
        self._keep_saved_moments()
        self._reset_unused(kind)
        if kind == Kind.THRESHOLD and "reward_value" in self.fields:
            # The levels set it (RewardLevelFormSet); until then it must pass the reward
            # check like any value.
            saved = self.instance.reward_value
            cleaned["reward_value"] = saved if saved > 0 else DEFAULT_LEVELS[0][1]
        candidate = self._candidate()
        for field, message in campaign_field_problems(candidate):
            if field in self.errors:
                continue  # the field's own error says it already
            self.add_error(field if field in self.fields else None, message)
        self._clean_running_end()
        return cleaned

    def _keep_saved_moments(self) -> None:
        """A date-time posted back as shown (to the second) is the saved one, not a
        moment a fraction of a second earlier."""
        for name in ("starts_at", "ends_at"):
            saved, posted = getattr(self.instance, name), self.cleaned_data.get(name)
            if saved is not None and posted is not None and posted == saved.replace(microsecond=0):
                self.cleaned_data[name] = saved

    def _reset_unused(self, kind: str) -> None:
        """Fields hidden for this kind or reward go back to their defaults: a value typed
        before the kind was changed must not count (nor fail unseen)."""
        reward_kind = self._value("reward_kind") or ""
        for name in FIELDS:
            if name in self.fields and not is_shown(name, kind=kind, reward_kind=reward_kind):
                if name in ("name", "description", "kind"):
                    continue
                self.cleaned_data[name] = Campaign._meta.get_field(name).get_default()

    def _candidate(self) -> Campaign:
        """The campaign as it would be saved, for the checks its kind needs."""
        candidate = Campaign(
            **{f.attname: getattr(self.instance, f.attname) for f in Campaign._meta.concrete_fields}
        )
        for name in FIELDS:
            if name in self.fields and name in self.cleaned_data:
                setattr(candidate, name, self.cleaned_data[name])
        return candidate

    def _clean_running_end(self) -> None:
        """A campaign that has run may only end later than planned: ending it sooner
        is what "Finish" is for."""
        if self.instance.pk is None or "ends_at" not in self.fields or "ends_at" in self.errors:
            return
        if not campaign_is_locked(self.instance):
            return
        old, new = self.instance.ends_at, self.cleaned_data.get("ends_at")
        if new == old or new is None:
            return  # no end at all: the kind's own check asks for one where it needs it
        if old is not None and new < old:
            self.add_error(
                "ends_at",
                _("A campaign that has run may only end later; to stop it now, use “Finish”."),
            )
        elif new <= timezone.now():
            self.add_error("ends_at", _("The new end has already passed."))


class RewardLevelForm(forms.ModelForm):
    def clean_threshold(self) -> Decimal:
        value = self.cleaned_data["threshold"]
        if value is not None and value <= 0:
            raise forms.ValidationError(_("Enter a receipt amount above 0."), code="threshold_min")
        return value

    def clean_reward_value(self) -> Decimal:
        value = self.cleaned_data["reward_value"]
        if value is not None and value <= 0:
            raise forms.ValidationError(_("Enter a reward above 0."), code="reward_min")
        return value


class RewardLevelFormSet(BaseInlineFormSet):
    """A threshold campaign's levels: at least one (a fixed reward left without levels
    gets the default ones), each a valid value of the campaign's reward. The campaign's
    own reward value becomes its lowest level's."""

    use_defaults = False

    def clean(self):
        super().clean()
        campaign = self.instance
        if any(self.errors) or (campaign.pk and campaign_is_locked(campaign)):
            return
        levels = [
            form
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and (form.instance.pk is not None or form.has_changed())
        ]
        if campaign.kind != Kind.THRESHOLD:
            if levels:
                raise forms.ValidationError(
                    _(
                        "Only threshold coupons have levels: delete these, or choose the "
                        "kind “Threshold coupons”."
                    ),
                    code="levels_not_threshold",
                )
            return
        if not levels:
            if campaign.reward_kind != Reward.FIXED:
                raise forms.ValidationError(
                    _(
                        "Add at least one level: a receipt from an amount earns a reward. "
                        "Only an amount off has default levels."
                    ),
                    code="levels_missing",
                )
            self.use_defaults = True
            campaign.reward_value = DEFAULT_LEVELS[0][1]
            return
        values = []
        for form in levels:
            value = form.cleaned_data["reward_value"]
            if message := reward_value_problem(campaign.reward_kind, value):
                form.add_error("reward_value", message)
            values.append(value)
        if not any(self.errors):
            campaign.reward_value = min(values)
