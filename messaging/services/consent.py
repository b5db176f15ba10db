"""Consent withdrawn by the member themselves: the unsubscribe link and an SMS "STOP"."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from loyalty.actors import Actor
from members.models import ConsentRecord, Member
from members.selectors import phone_normalise
from members.services.enrollment import CONSENT_FIELDS, member_consent_set
from messaging.errors import BadToken
from messaging.tokens import unsubscribe_read

# What a member may text back to stop SMS (compared in capitals, without punctuation).
STOP_WORDS = frozenset({"STOP", "СТОП", "STOPALL", "UNSUBSCRIBE", "ОТПИСКА", "ОТПИСАТЬСЯ"})


def unsubscribe_link_read(token: str, *, for_update: bool = False) -> tuple[Member, str]:
    """(member, channel) of an unsubscribe link; raises BadToken for a damaged or
    forged token, an unknown channel or a member who no longer exists."""
    member_id, channel = unsubscribe_read(token)
    if channel not in CONSENT_FIELDS:
        raise BadToken()
    members = Member.objects.select_for_update() if for_update else Member.objects.all()
    member = members.filter(pk=member_id).first()
    if member is None:
        raise BadToken()
    return member, channel


def consent_given(member: Member, channel: str) -> bool:
    return getattr(member, CONSENT_FIELDS[channel])


@transaction.atomic
def unsubscribe(*, token: str) -> tuple[Member, str, ConsentRecord | None]:
    """Withdraw the marketing consent a signed unsubscribe link is for.

    Returns (member, channel, the new consent record, or None when the consent was
    already withdrawn: a second click records nothing). Raises BadToken."""
    member, channel = unsubscribe_link_read(token, for_update=True)
    if not consent_given(member, channel):
        return member, channel, None
    record = member_consent_set(
        member=member,
        channel=channel,
        is_granted=False,
        source=_stored(_("unsubscribe link")),
        actor=Actor.for_member(member),
    )
    return member, channel, record


def stop_word(text: str) -> bool:
    """Whether an inbound SMS asks to stop: "STOP", "стоп!", " Stop. " and the like."""
    return re.sub(r"[\W_]+", "", text).upper() in STOP_WORDS


@transaction.atomic
def sms_stop_receive(*, phone: str, text: str) -> ConsentRecord | None:
    """An inbound SMS from the provider's webhook: a stop word from a member's phone
    withdraws their SMS consent at once. Returns the record, or None when the text is
    not a stop word, the phone is not a member's or the consent was already withdrawn."""
    if not stop_word(text):
        return None
    e164 = phone_normalise(phone)
    if e164 is None:
        return None
    member = Member.objects.select_for_update().filter(phone=e164).first()
    if member is None or not member.consent_sms:
        return None
    return member_consent_set(
        member=member,
        channel=ConsentRecord.ConsentChannel.SMS,
        is_granted=False,
        source=_stored(_("SMS reply STOP")),
        actor=Actor.for_member(member),
    )


def _stored(text) -> str:
    """Kept in the consent history in the program's language, whoever clicked."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(text)
