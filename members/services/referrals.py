"""Referral codes: each member's own code, and the friend who enrolled with it.

A member may be referred only by someone who joined before them (a lower id), so the
"invited by" links never form a cycle and always point to a lower id. The referral
reward locks the friend's row (the checkout's) and then the inviter's: every
transaction that takes two member locks takes them from the higher id to the lower,
so no two of them can wait for each other.
"""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction

from loyalty.actors import Actor
from members.errors import ReferralCodeUnknown, ReferralNotNew, ReferralSelf
from members.models import Member

# Without look-alikes (0/O, 1/I): read aloud at the till and typed by hand.
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERRAL_CODE_LENGTH = 8  # 32⁸ ≈ 10¹² codes: a collision is rare and simply retried


def referral_code_clean(value: str) -> str:
    """A code as people type it: any case, with spaces or dashes ("ab3d-ef7h")."""
    return "".join(value.split()).replace("-", "").upper()


def _referral_code_new() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def member_referral_code(member: Member) -> str:
    """The member's referral code, generated and saved on first use."""
    if member.referral_code:
        return member.referral_code
    for _attempt in range(10):
        code = _referral_code_new()
        try:
            with transaction.atomic():
                won = Member.objects.filter(pk=member.pk, referral_code__isnull=True).update(
                    referral_code=code
                )
        except IntegrityError:  # another member holds this code: draw again
            continue
        if not won:  # a concurrent request gave the member a code first
            code = Member.objects.values_list("referral_code", flat=True).get(pk=member.pk)
        member.referral_code = code
        return code
    raise RuntimeError("Could not draw a free referral code")  # pragma: no cover


@transaction.atomic
def member_referral_set(*, member: Member, code: str, actor: Actor) -> Member:
    """Record that the owner of `code` invited the member. Raises ReferralCodeUnknown,
    ReferralSelf, or ReferralNotNew (the member has bought, was invited already, or
    joined before the inviter); nothing changes then."""
    cleaned = referral_code_clean(code)
    inviter = Member.objects.filter(referral_code=cleaned).first() if cleaned else None
    if inviter is None:
        raise ReferralCodeUnknown()
    if inviter.pk == member.pk:
        raise ReferralSelf()
    # Under the member's lock: the checkout records purchases under it, so "has not
    # bought yet" still holds when the link is written.
    locked = Member.objects.select_for_update().get(pk=member.pk)
    if locked.referred_by_id is not None or inviter.pk > locked.pk or locked.purchases.exists():
        raise ReferralNotNew()
    locked.referred_by = inviter
    locked.save(update_fields=["referred_by", "updated_at"])
    member.referred_by = inviter
    return locked
