"""Enrolling members and recording their consent."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from loyalty.actors import Actor
from loyalty.errors import InvalidInput
from loyalty.models import Store, Tier
from members.cards import card_number_generate
from members.errors import MemberExists
from members.models import ConsentRecord, Member
from members.selectors import phone_normalise

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
) -> Member:
    """Create a member on the lowest tier with a new card number and their consents.

    Raises InvalidInput for a phone or e-mail that is not one and MemberExists when the phone
    or e-mail belongs to another member; nothing is created then.
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
    return member


@transaction.atomic
def member_consent_set(
    *, member: Member, channel: str, is_granted: bool, source: str, actor: Actor
) -> ConsentRecord:
    """Record consent given or withdrawn on one channel; takes effect at once."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    record = _consent_record(member, channel, is_granted, source, actor)
    member.save(update_fields=[CONSENT_FIELDS[channel], "updated_at"])
    return record
