"""Reads worth naming: finding members, qualifying value for tiers, progress."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Lower, Round, TruncDate
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber
from phonenumbers import NumberParseException

from loyalty import rules
from loyalty.models import ProgramSettings, Store, Tier
from members.cards import CARD_LENGTH, card_number_clean, card_number_is_valid
from members.errors import BadCardNumber, MemberNotFound, StoreNotFound
from members.models import Member, PointsLot, Purchase


def tier_rules() -> list[rules.TierRule]:
    return [
        rules.TierRule(t.id, t.name, t.threshold, t.discount_percent, t.earn_percent)
        for t in Tier.objects.order_by("threshold")
    ]


def store_get(*, code: str) -> Store:
    try:
        return Store.objects.get(code=code.strip().upper(), is_active=True)
    except Store.DoesNotExist:
        raise StoreNotFound() from None


def phone_normalise(raw: str) -> str | None:
    """E.164 for a Russian or international phone as people type it, or None."""
    try:
        number = PhoneNumber.from_string(raw.strip(), region="RU")
    except NumberParseException:
        return None
    return number.as_e164 if number.is_valid() else None


def member_find(query: str) -> Member:
    """A member by card number (typed or scanned) or phone.

    A 13-digit input is a card number; with a wrong check digit it is refused as a
    typo rather than looked up. Anything else is read as a phone number.
    """
    raw = "".join(query.split())
    digits = card_number_clean(raw)
    qs = Member.objects.select_related("tier", "beneficiary_category")
    if len(digits) == CARD_LENGTH and digits.isdigit():
        if not card_number_is_valid(digits):
            raise BadCardNumber()
        member = qs.filter(card_number=digits).first()
    else:
        phone = phone_normalise(raw)
        member = qs.filter(phone=phone).first() if phone else None
    if member is None:
        raise MemberNotFound()
    return member


def member_lookup_condition(term: str, queryset):
    """(queryset, condition) matching a typed term exactly through the members' indexes:
    card number, phone (normalised) or e-mail (lower(email)). The condition is empty
    when the term is none of these."""
    condition = Q()
    digits = card_number_clean(term)
    if len(digits) == CARD_LENGTH and digits.isdigit():
        condition |= Q(card_number=digits)
    phone = phone_normalise(term)
    if phone:
        condition |= Q(phone=phone)
    if "@" in term:
        queryset = queryset.alias(email_lower=Lower("email"))
        condition |= Q(email_lower=term.lower())
    return queryset, condition


def member_get(*, card_number: str) -> Member:
    card_number = card_number.strip()
    if not card_number_is_valid(card_number):
        raise BadCardNumber()
    try:
        return Member.objects.select_related("tier", "beneficiary_category").get(
            card_number=card_number
        )
    except Member.DoesNotExist:
        raise MemberNotFound() from None


def window_start(program: ProgramSettings, at: dt.datetime) -> dt.datetime | None:
    if program.tier_window != ProgramSettings.TierWindow.ROLLING:
        return None
    months = program.tier_window_months
    year, month = divmod(at.month - 1 - months, 12)
    year, month = at.year + year, month + 1
    # The same day N months back, or the last day of a shorter month (31 March → 28/29 Feb).
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def qualifying_purchases(program: ProgramSettings, at: dt.datetime):
    qs = Purchase.objects.filter(created_at__lte=at)
    start = window_start(program, at)
    if start is not None:
        qs = qs.filter(created_at__gt=start)
    return qs


def qualifying_subquery(program: ProgramSettings, at: dt.datetime):
    """SQL expression: a member's qualifying value (spend or purchase count) at `at`."""
    per_member = qualifying_purchases(program, at).filter(member=OuterRef("pk")).order_by()
    per_member = per_member.values("member")
    money = DecimalField(max_digits=14, decimal_places=2)
    if program.tier_basis == ProgramSettings.TierBasis.PURCHASES:
        value = per_member.filter(is_fully_refunded=False).annotate(v=Count("pk")).values("v")
        return Coalesce(Subquery(value, output_field=money), Value(Decimal(0)), output_field=money)
    # Round: SQLite sums decimals as binary floats (2,000.00 may come out 1,999.9999999999998),
    # and the review must see the same kopecks as member_qualifying.
    value = per_member.annotate(
        v=Round(
            Sum(ExpressionWrapper(F("tier_spend") - F("tier_spend_refunded"), output_field=money)),
            2,
            output_field=money,
        )
    ).values("v")
    return Coalesce(Subquery(value, output_field=money), Value(Decimal(0)), output_field=money)


def member_qualifying(member: Member, *, program: ProgramSettings, at: dt.datetime) -> Decimal:
    qs = qualifying_purchases(program, at).filter(member=member)
    if program.tier_basis == ProgramSettings.TierBasis.PURCHASES:
        return Decimal(qs.filter(is_fully_refunded=False).count())
    total = qs.aggregate(v=Sum(F("tier_spend") - F("tier_spend_refunded")))["v"]
    return total or Decimal(0)


def points_spendable(member: Member, *, at: dt.datetime) -> int:
    """Points that may pay at `at`: the balance without lots past their life that the
    expiry task has not burnt yet (they can no longer be taken from their lots)."""
    burning = (
        PointsLot.objects.filter(member=member, remaining__gt=0, expires_at__lte=at).aggregate(
            s=Sum("remaining")
        )["s"]
        or 0
    )
    return max(0, member.points_balance - burning)


@dataclass(frozen=True)
class ExpiringPoints:
    amount: int
    date: dt.date


@dataclass(frozen=True)
class MemberProgress:
    qualifying: Decimal
    tier: rules.TierRule
    next_tier: rules.TierRule | None
    next_tier_remaining: Decimal | None
    expiring: ExpiringPoints | None
    tier_basis: str


def expiring_points(member: Member, *, at: dt.datetime) -> ExpiringPoints | None:
    """The points of the next burn: open lots that burn on the earliest day."""
    open_lots = PointsLot.objects.filter(member=member, remaining__gt=0, expires_at__gt=at)
    first = open_lots.order_by("expires_at").values_list("expires_at", flat=True).first()
    if first is None:
        return None
    day = timezone.localtime(first).date()
    amount = (
        open_lots.annotate(day=TruncDate("expires_at"))
        .filter(day=day)
        .aggregate(s=Sum("remaining"))["s"]
    )
    return ExpiringPoints(amount=amount or 0, date=day)


def member_progress(member: Member, *, at: dt.datetime | None = None) -> MemberProgress:
    at = at or timezone.now()
    program = ProgramSettings.load()
    tiers = tier_rules()
    qualifying = member_qualifying(member, program=program, at=at)
    current = next(t for t in tiers if t.id == member.tier_id)
    # The next tier is the one above the member's current tier (a member keeps a
    # higher tier until the review even when the qualifying value dropped).
    above = [t for t in tiers if t.threshold > current.threshold]
    upcoming = above[0] if above else None
    remaining = max(upcoming.threshold - qualifying, Decimal(0)) if upcoming else None
    return MemberProgress(
        qualifying=qualifying,
        tier=current,
        next_tier=upcoming,
        next_tier_remaining=remaining,
        expiring=expiring_points(member, at=at),
        tier_basis=program.tier_basis,
    )


def purchases_of_member(member: Member):
    return Purchase.objects.filter(member=member).select_related("store", "tier")


def beneficiary_proof_state(member: Member, *, today: dt.date) -> str:
    """Whether the member's beneficiary discount applies on `today`, and why not: ""
    (no category), "inactive", "not_required", "missing", "valid" or "expired". The
    proof is valid through the day it is valid until."""
    category = member.beneficiary_category
    if category is None:
        return ""
    if not category.is_active:
        return "inactive"
    if not category.is_proof_required:
        return "not_required"
    until = member.beneficiary_verified_until
    if until is None:
        return "missing"
    return "valid" if until >= today else "expired"


def beneficiary_discount_applies(member: Member, *, today: dt.date) -> bool:
    return beneficiary_proof_state(member, today=today) in ("valid", "not_required")
