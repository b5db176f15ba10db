"""Reads on promo codes: finding a typed code and telling why it cannot be used."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import F, QuerySet
from django.utils import formats
from django.utils.translation import gettext as _

from loyalty import rules
from loyalty.context_processors import currency_symbol
from members.models import Member
from promocodes import codes, errors
from promocodes.models import CodeBatch, PromoCode


def code_find(text: str) -> PromoCode:
    """The code typed (normalised, its check character verified first), or a refusal.

    A code of an imported batch carries no check character of ours and may use any Latin
    letter or digit: when the strict form fails, the database is asked (among imported
    codes only) if an imported batch exists, and otherwise not at all.
    """
    qs = PromoCode.objects.select_related("batch")
    try:
        canonical = codes.normalise(text)
    except codes.CodeFormatError as exc:
        canonical = None
        refusal = errors.REFUSALS.get(exc.code, errors.CodeNotFound)(exc.message)
    if canonical is not None:
        if codes.has_valid_check(canonical):
            found = qs.filter(code=canonical).first()
            if found is None:
                raise errors.CodeNotFound()
            return found
        refusal = errors.CodeBadCheckChar()
    if refusal.code != errors.CodeRequired.code and _imported_batches_exist():
        try:
            loose = codes.normalise(text, imported=True)
        except codes.CodeFormatError:
            raise refusal from None
        found = qs.filter(code=loose, batch__source=CodeBatch.Source.IMPORTED).first()
        if found is not None:
            return found
    raise refusal


def _imported_batches_exist() -> bool:
    return CodeBatch.objects.filter(source=CodeBatch.Source.IMPORTED).exists()


def code_refusal(
    code: PromoCode, *, member: Member | None, total: Decimal | None, at: dt.datetime
) -> errors.CodeRefused | None:
    """Why `code` cannot be used by `member` on a receipt of `total` at `at`, or None.

    The order is the one a member can act on: a switched-off or dated code first, then
    a used one, then one that belongs to someone else, then the receipt's size.
    """
    batch = code.batch
    if not batch.is_active:
        return errors.CodeInactive()
    if at < batch.valid_from:
        return errors.CodeNotYetValid()
    if at >= batch.valid_until or code.status == PromoCode.Status.EXPIRED:
        return errors.CodeExpired()
    if code.uses >= code.max_uses:
        return errors.CodeUsedUp()
    if code.member_id is not None and (member is None or code.member_id != member.pk):
        return errors.CodeNotYours()
    if total is not None and total < batch.min_receipt:
        return errors.CodeMinReceipt(
            _("This promo code needs a receipt of at least %(amount)s %(symbol)s.")
            % {
                "amount": formats.number_format(
                    batch.min_receipt, 2, use_l10n=True, force_grouping=True
                ),
                "symbol": currency_symbol(),
            },
            min_receipt=str(batch.min_receipt),
        )
    return None


def code_reward(code: PromoCode) -> rules.Reward:
    """The step-3 reward a code gives (its reference is the canonical code)."""
    batch = code.batch
    label = batch.gift_name if batch.reward_kind == CodeBatch.Reward.GIFT else batch.name
    return rules.Reward(
        source="code",
        label=f"{codes.display(code.code)}: {label}",
        kind=rules.RewardKind(batch.reward_kind),
        value=batch.reward_value,
        cap=batch.reward_cap,
        min_receipt=batch.min_receipt,
        reference=code.code,
    )


def member_codes_usable(member: Member, *, at: dt.datetime) -> QuerySet[PromoCode]:
    """The member's personal codes that can be used now (any receipt size)."""
    return (
        PromoCode.objects.filter(
            member=member,
            status=PromoCode.Status.ACTIVE,
            uses__lt=F("max_uses"),
            batch__is_active=True,
            batch__valid_from__lte=at,
            batch__valid_until__gt=at,
        )
        .select_related("batch")
        .order_by("batch__valid_until", "id")
    )


def member_codes(member: Member) -> QuerySet[PromoCode]:
    """Every personal code of the member, newest batch first."""
    return (
        PromoCode.objects.filter(member=member)
        .select_related("batch")
        .order_by("-batch__created_at", "-id")
    )
