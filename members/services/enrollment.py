"""Enrolling members, editing their details and recording their consent."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.actors import Actor
from loyalty.errors import InvalidInput
from loyalty.models import Store, Tier
from members.cards import card_number_generate
from members.errors import MemberExists
from members.models import ConsentRecord, Member
from members.selectors import phone_normalise
from members.services.referrals import member_referral_code, member_referral_set

CONSENT_FIELDS = {
    ConsentRecord.ConsentChannel.EMAIL: "consent_email",
    ConsentRecord.ConsentChannel.SMS: "consent_sms",
    ConsentRecord.ConsentChannel.PUSH: "consent_push",
}


def _consent_record(
    member: Member, channel: str, is_granted: bool, source: str, actor: Actor
) -> ConsentRecord:
    if channel not in CONSENT_FIELDS:
        raise InvalidInput(
            _("Unknown consent channel: %(channel)s") % {"channel": channel},
            code="invalid_consent_channel",
        )
    record = ConsentRecord.objects.create(
        member=member, channel=channel, is_granted=is_granted, source=source, actor=actor.label
    )
    setattr(member, CONSENT_FIELDS[channel], is_granted)
    return record


@transaction.atomic
def member_enroll(
    *,
    phone: str,
    first_name: str,
    actor: Actor,
    last_name: str = "",
    email: str = "",
    birth_date: dt.date | None = None,
    joined_store: Store | None = None,
    consents: dict[str, bool] | None = None,
    source: str = "",
    referral_code: str = "",
) -> Member:
    """Create a member on the lowest tier with a new card number, their consents and the
    member who invited them (`referral_code`).

    Raises InvalidInput for a phone or e-mail that is not one, MemberExists when the phone
    or e-mail belongs to another member, ReferralCodeUnknown for a code nobody has;
    nothing is created then.
    """
    e164 = phone_normalise(phone)
    if e164 is None:
        raise InvalidInput(
            _("Enter a valid phone number, e.g. +7 912 345-67-89."), code="invalid_phone"
        )
    first_name = first_name.strip()
    if not first_name:
        raise InvalidInput(_("Enter the first name."), code="first_name_required")
    email = email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput(_("Enter a valid e-mail address."), code="invalid_email") from None
    if Member.objects.filter(phone=e164).exists():
        raise MemberExists(_("A member with this phone already exists."))
    if email and Member.objects.filter(email__iexact=email).exists():
        raise MemberExists(_("A member with this e-mail already exists."))
    base_tier = Tier.objects.order_by("threshold").first()
    if base_tier is None:
        raise InvalidInput(_("The program has no tiers yet."), code="no_tiers")
    member = None
    for _attempt in range(5):
        try:
            with transaction.atomic():
                member = Member.objects.create(
                    card_number=card_number_generate(),
                    phone=e164,
                    email=email,
                    first_name=first_name,
                    last_name=last_name.strip(),
                    birth_date=birth_date,
                    joined_store=joined_store,
                    tier=base_tier,
                )
            break
        except IntegrityError:
            # A concurrent enrolment with the same phone or e-mail, or (about once in
            # 10^9 enrolments) a card number that is taken: look again.
            if Member.objects.filter(phone=e164).exists() or (
                email and Member.objects.filter(email__iexact=email).exists()
            ):
                raise MemberExists() from None
    if member is None:  # pragma: no cover - five card collisions in a row
        raise MemberExists(_("Could not issue a card number; try again."))
    source = source or actor.channel
    for channel, granted in (consents or {}).items():
        _consent_record(member, channel, bool(granted), source, actor)
    member.save(update_fields=list(CONSENT_FIELDS.values()))
    if referral_code.strip():
        member_referral_set(member=member, code=referral_code, actor=actor)
    # Made now, so showing the member later (a partner's GET, the desk) writes nothing;
    # members enrolled before referral codes existed get theirs on first use.
    member_referral_code(member)
    return member


# What staff may edit on a member's page; balance, tier, consents and referral links
# move only through their own services.
MEMBER_DETAIL_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "phone",
        "email",
        "birth_date",
        "joined_store",
        "language",
        "beneficiary_category",
        "beneficiary_document_kind",
        "beneficiary_proof",
        "beneficiary_verified_until",
    }
)


@transaction.atomic
def member_details_update(*, member: Member, changes: dict, actor: Actor) -> Member:
    """Save the member's details in `changes` that differ from the stored ones; a changed
    birth date is timestamped (no birthday gift for 30 days after, so a date cannot be
    moved to collect one). Raises ValueError for a field that is not a detail."""
    unknown = set(changes) - MEMBER_DETAIL_FIELDS
    if unknown:
        raise ValueError(f"Not an editable member detail: {sorted(unknown)}")
    locked = Member.objects.select_for_update().get(pk=member.pk)
    changed = []
    for name, value in changes.items():
        field = Member._meta.get_field(name)
        new = value.pk if field.is_relation and value is not None else value
        if field.value_from_object(locked) != new:
            setattr(locked, name, value)
            changed.append(name)
    if "birth_date" in changed:
        locked.birth_date_changed_at = timezone.now()
        changed.append("birth_date_changed_at")
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
    return locked


@transaction.atomic
def member_consent_set(
    *, member: Member, channel: str, is_granted: bool, source: str, actor: Actor
) -> ConsentRecord:
    """Record consent given or withdrawn on one channel; takes effect at once."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    record = _consent_record(member, channel, is_granted, source, actor)
    member.save(update_fields=[CONSENT_FIELDS[channel], "updated_at"])
    return record
