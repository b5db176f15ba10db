"""Segments as member querysets: every rule that is filled in must hold (AND).

A rule becomes a condition of one SQL query (correlated subqueries over the member's
purchases and surveys), added only when the rule is set, so the query stays cheap, a
count is one query and INSERT … SELECT can take it as its SELECT.

Days are the program's local calendar days (settings.TIME_ZONE, Europe/Moscow):
"purchases in the last 7 days" are those of today and the 6 days before; "days since
the last purchase" is 0 on the day of the purchase, 1 the next day; "joined from / until"
are inclusive local dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import dates, formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.models import MONEY, Segment
from loyalty.context_processors import currency_symbol
from members.models import Member, Purchase
from messaging.selectors import member_nps_latest

_M2M = ("tiers", "beneficiary_categories", "stores")
_SCALARS = (
    "spend_min",
    "spend_max",
    "purchases_days",
    "purchases_min",
    "purchases_max",
    "inactive_days_min",
    "inactive_days_max",
    "birthday_month",
    "consent_email",
    "consent_sms",
    "consent_push",
    "nps_min",
    "nps_max",
    "joined_from",
    "joined_until",
)

# A hundred years: any longer period means "ever", and dates before year 1 do not exist.
MAX_DAYS = 36_500


def _ids(values) -> frozenset[int]:
    return frozenset(getattr(value, "pk", value) for value in values or ())


@dataclass(frozen=True)
class SegmentSpec:
    """The rules of a segment as plain values: from a saved segment or from a form's
    cleaned data that is not saved yet. None (or an empty set) is "no rule"."""

    tier_ids: frozenset[int] = field(default_factory=frozenset)
    category_ids: frozenset[int] = field(default_factory=frozenset)
    store_ids: frozenset[int] = field(default_factory=frozenset)
    spend_min: Decimal | None = None
    spend_max: Decimal | None = None
    purchases_days: int = 90
    purchases_min: int | None = None
    purchases_max: int | None = None
    inactive_days_min: int | None = None
    inactive_days_max: int | None = None
    birthday_month: int | None = None
    consent_email: bool | None = None
    consent_sms: bool | None = None
    consent_push: bool | None = None
    nps_min: int | None = None
    nps_max: int | None = None
    joined_from: dt.date | None = None
    joined_until: dt.date | None = None

    @classmethod
    def of(cls, segment: Segment) -> SegmentSpec:
        """The saved segment's rules; its tiers, categories and stores are read in one
        query (none when they were prefetched)."""
        scalars = {name: getattr(segment, name) for name in _SCALARS}
        prefetched = getattr(segment, "_prefetched_objects_cache", {})
        if all(name in prefetched for name in _M2M):
            return cls(
                tier_ids=_ids(prefetched["tiers"]),
                category_ids=_ids(prefetched["beneficiary_categories"]),
                store_ids=_ids(prefetched["stores"]),
                **scalars,
            )
        found: dict[str, set[int]] = {name: set() for name in _M2M}
        for name, pk in _m2m_rows(segment.pk):
            found[name].add(pk)
        return cls(
            tier_ids=frozenset(found["tiers"]),
            category_ids=frozenset(found["beneficiary_categories"]),
            store_ids=frozenset(found["stores"]),
            **scalars,
        )

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SegmentSpec:
        """The rules of a segment form's cleaned data (model instances or ids in the
        many-to-many fields); keys that are missing are "no rule"."""
        scalars = {name: data[name] for name in _SCALARS if name in data}
        if scalars.get("purchases_days") is None:
            scalars.pop("purchases_days", None)
        return cls(
            tier_ids=_ids(data.get("tiers")),
            category_ids=_ids(data.get("beneficiary_categories")),
            store_ids=_ids(data.get("stores")),
            **scalars,
        )

    @property
    def is_empty(self) -> bool:
        """No rule at all: every member matches."""
        return not any(_rules_set(self))


def _rules_set(spec: SegmentSpec) -> list[bool]:
    """Which rules take part in the query (a bound that cannot exclude anyone does not)."""
    return [
        bool(spec.tier_ids),
        bool(spec.category_ids),
        bool(spec.store_ids),
        spec.spend_min is not None,
        spec.spend_max is not None,
        bool(spec.purchases_min),
        spec.purchases_max is not None,
        bool(spec.inactive_days_min),
        spec.inactive_days_max is not None,
        spec.birthday_month is not None,
        spec.consent_email is not None,
        spec.consent_sms is not None,
        spec.consent_push is not None,
        spec.nps_min is not None,
        spec.nps_max is not None,
        spec.joined_from is not None,
        spec.joined_until is not None,
    ]


def _m2m_rows(segment_id: int) -> list[tuple[str, int]]:
    """(relation name, related id) of the segment's three many-to-many rules."""
    columns = {
        "tiers": "tier_id",
        "beneficiary_categories": "beneficiarycategory_id",
        "stores": "store_id",
    }
    parts = [
        getattr(Segment, name)
        .through.objects.filter(segment_id=segment_id)
        .annotate(relation=Value(name))
        .values_list("relation", column)
        for name, column in columns.items()
    ]
    return list(parts[0].union(*parts[1:], all=True))


def segment_members(segment: Segment) -> QuerySet[Member]:
    """The members the saved segment holds now."""
    return members_matching(SegmentSpec.of(segment))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(
        dt.datetime.combine(day, dt.time.min), timezone.get_default_timezone()
    )


def _within(name: str, low, high) -> Q:
    """low ≤ name ≤ high, a side left open when None; both bounds make one BETWEEN, so
    the subquery behind `name` appears (and runs) once."""
    if low is not None and high is not None:
        return Q(**{f"{name}__range": (low, high)})
    if low is not None:
        return Q(**{f"{name}__gte": low})
    if high is not None:
        return Q(**{f"{name}__lte": high})
    return Q()


def members_matching(spec: SegmentSpec, *, at: dt.datetime | None = None) -> QuerySet[Member]:
    """Members for whom every rule of `spec` holds at `at` (now by default); one query."""
    at = at or timezone.now()
    today = timezone.localdate(at, timezone.get_default_timezone())
    members = Member.objects.all()
    conditions = Q()
    purchases = Purchase.objects.filter(member=OuterRef("pk")).order_by()

    if spec.tier_ids:
        conditions &= Q(tier_id__in=sorted(spec.tier_ids))
    if spec.category_ids:
        conditions &= Q(beneficiary_category_id__in=sorted(spec.category_ids))
    if spec.store_ids:
        stores = sorted(spec.store_ids)
        conditions &= Q(joined_store_id__in=stores) | Exists(purchases.filter(store_id__in=stores))
    if spec.birthday_month is not None:
        conditions &= Q(birth_date__month=spec.birthday_month)
    for channel in ("email", "sms", "push"):
        consent = getattr(spec, f"consent_{channel}")
        if consent is not None:
            conditions &= Q(**{f"consent_{channel}": consent})
    if spec.joined_from is not None:
        conditions &= Q(created_at__gte=_day_start(spec.joined_from))
    if spec.joined_until is not None:
        conditions &= Q(created_at__lt=_day_start(spec.joined_until + dt.timedelta(days=1)))

    if spec.spend_min is not None or spec.spend_max is not None:
        money = DecimalField(**MONEY)
        spent = purchases.values("member").annotate(
            total=Sum(F("tier_spend") - F("tier_spend_refunded"), output_field=money)
        )
        members = members.alias(
            segment_spend=Coalesce(
                Subquery(spent.values("total"), output_field=money),
                Value(Decimal(0), output_field=money),
                output_field=money,
            )
        )
        conditions &= _within("segment_spend", spec.spend_min, spec.spend_max)

    if spec.purchases_min or spec.purchases_max is not None:
        since = _day_start(today - dt.timedelta(days=min(spec.purchases_days, MAX_DAYS) - 1))
        counted = (
            purchases.filter(created_at__gte=since, is_fully_refunded=False)
            .values("member")
            .annotate(number=Count("pk"))
        )
        members = members.alias(
            segment_purchases=Coalesce(Subquery(counted.values("number")), Value(0))
        )
        conditions &= _within("segment_purchases", spec.purchases_min or None, spec.purchases_max)

    if spec.inactive_days_min or spec.inactive_days_max is not None:
        # The latest purchase (refunded ones too: the member came) or, for a member who
        # never bought, the day they joined.
        latest = purchases.order_by("-created_at").values("created_at")[:1]
        members = members.alias(segment_last_seen=Coalesce(Subquery(latest), F("created_at")))
        earliest = latest_moment = None
        if spec.inactive_days_max is not None:
            earliest = _day_start(today - dt.timedelta(days=min(spec.inactive_days_max, MAX_DAYS)))
        if spec.inactive_days_min:
            # The last moment of the local day `inactive_days_min` days ago.
            day_after = today - dt.timedelta(days=min(spec.inactive_days_min, MAX_DAYS) - 1)
            latest_moment = _day_start(day_after) - dt.timedelta(microseconds=1)
        conditions &= _within("segment_last_seen", earliest, latest_moment)

    if spec.nps_min is not None or spec.nps_max is not None:
        # NULL (never answered) fails both comparisons, so such members do not match.
        members = members.alias(segment_nps=member_nps_latest())
        conditions &= _within("segment_nps", spec.nps_min, spec.nps_max)

    return members.filter(conditions)


# --- The rules in words -----------------------------------------------------------------


def _number(value) -> str:
    return formats.number_format(value, force_grouping=True, use_l10n=True)


def _amount(value: Decimal) -> str:
    places = 0 if value == value.to_integral_value() else 2
    return formats.number_format(value, places, force_grouping=True, use_l10n=True)


def _range(low, high, show=_number) -> str:
    """Bounds in words: "≥ 3", "≤ 5", "3–5", or "3" when both are equal."""
    if low is not None and high is not None:
        return show(low) if low == high else f"{show(low)}–{show(high)}"
    if low is not None:
        return f"≥ {show(low)}"
    return f"≤ {show(high)}"


def _day(value: dt.date) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT")


def segment_summary(segment: Segment) -> str:
    """The segment's rules in words, in the active language, e.g.
    "Silver, Gold · spend ≥ 2,000 ₽ · SMS consent"; "All members" without rules. Uses the
    prefetched tiers, categories and stores when there are any."""
    return spec_summary(
        SegmentSpec.of(segment),
        names={
            "tiers": [str(tier.name) for tier in segment.tiers.all()],
            "beneficiary_categories": [str(c) for c in segment.beneficiary_categories.all()],
            "stores": [store.name for store in segment.stores.all()],
        },
    )


def spec_summary(spec: SegmentSpec, *, names: dict[str, list[str]]) -> str:
    """The rules in words; `names` holds the names of the tiers, beneficiary categories
    and stores (keys as the segment's fields)."""
    parts: list[str] = []
    if spec.tier_ids:
        parts.append(", ".join(names.get("tiers", [])))
    if spec.category_ids:
        parts.append(", ".join(names.get("beneficiary_categories", [])))
    if spec.store_ids:
        parts.append(_("stores: %(names)s") % {"names": ", ".join(names.get("stores", []))})
    if spec.birthday_month is not None:
        month = dates.MONTHS[spec.birthday_month]
        parts.append(_("birthday month: %(month)s") % {"month": month})
    if spec.joined_from is not None or spec.joined_until is not None:
        parts.append(
            _("joined %(range)s") % {"range": _range(spec.joined_from, spec.joined_until, _day)}
        )
    if spec.spend_min is not None or spec.spend_max is not None:
        parts.append(
            _("spend %(range)s")
            % {"range": f"{_range(spec.spend_min, spec.spend_max, _amount)} {currency_symbol()}"}
        )
    if spec.purchases_min or spec.purchases_max is not None:
        parts.append(
            ngettext(
                "purchases in %(days)s day: %(range)s",
                "purchases in %(days)s days: %(range)s",
                spec.purchases_days,
            )
            % {
                "days": _number(spec.purchases_days),
                "range": _range(spec.purchases_min or None, spec.purchases_max),
            }
        )
    if spec.inactive_days_min or spec.inactive_days_max is not None:
        parts.append(
            _("days since last purchase: %(range)s")
            % {"range": _range(spec.inactive_days_min or None, spec.inactive_days_max)}
        )
    consents = {
        "email": (_("e-mail consent"), _("no e-mail consent")),
        "sms": (_("SMS consent"), _("no SMS consent")),
        "push": (_("push consent"), _("no push consent")),
    }
    for channel, (given, refused) in consents.items():
        consent = getattr(spec, f"consent_{channel}")
        if consent is not None:
            parts.append(given if consent else refused)
    if spec.nps_min is not None or spec.nps_max is not None:
        parts.append(_("latest NPS %(range)s") % {"range": _range(spec.nps_min, spec.nps_max)})
    if not parts:
        return _("All members")
    text = " · ".join(parts)
    return text[:1].upper() + text[1:]
