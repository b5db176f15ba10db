"""Refunds, full or partial, following PRODUCT.md mechanic 3."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty import rules
from loyalty.actors import Actor
from members.errors import RefundNotAllowed
from members.models import LedgerEntry, Member, Purchase, Refund
from members.services.checkout import money_input, refund_hooks, reward_providers
from members.services.points import Movement, lots_return, lots_take

Kind = LedgerEntry.Kind


def _spent_still_out(purchase: Purchase) -> list[Movement]:
    """Per lot, the points this purchase spent and no refund has returned yet,
    newest burn date first (returned points go back where they live longest)."""
    per_lot: dict[int, int] = defaultdict(int)
    rows = (
        LedgerEntry.objects.filter(purchase=purchase, kind__in=[Kind.SPEND, Kind.REFUND])
        .exclude(kind=Kind.REFUND, amount__lt=0)
        .values("lot_id", "lot__expires_at")
        .annotate(s=Sum("amount"))
    )
    expiry = {}
    for row in rows:
        per_lot[row["lot_id"]] -= row["s"]
        expiry[row["lot_id"]] = row["lot__expires_at"]
    return [
        Movement(lot_id, out)
        for lot_id, out in sorted(per_lot.items(), key=lambda kv: expiry[kv[0]], reverse=True)
        if out > 0
    ]


def _allocate(movements: list[Movement], amount: int) -> list[Movement]:
    result = []
    for m in movements:
        if amount <= 0:
            break
        part = min(m.amount, amount)
        result.append(Movement(m.lot_id, part))
        amount -= part
    return result


def refund_shares_of(purchase: Purchase, amount: Decimal) -> rules.RefundShares:
    """The part of the purchase's points and tier spend a refund of `amount` reverses."""
    return rules.refund_shares(
        paid=purchase.paid,
        refunded_before=purchase.refunded_paid,
        refund_amount=amount,
        points_earned=purchase.points_earned,
        points_spent=purchase.points_spent,
        tier_spend=purchase.tier_spend,
    )


REFUND_SETTLED_FIELDS = ["money_withheld", "money_refunded", "points_taken_back", "points_returned"]
PURCHASE_REFUND_TOTALS = [
    "refunded_paid",
    "points_taken_back",
    "points_returned",
    "tier_spend_refunded",
    "is_fully_refunded",
]


def refund_settle(
    refund: Refund, *, shares: rules.RefundShares, points_taken: int, points_returned: int
) -> None:
    """Fill in the refund's figures once its points moved, and add them to the purchase's
    running totals (in memory: the caller saves REFUND_SETTLED_FIELDS and
    PURCHASE_REFUND_TOTALS, or bulk-creates the rows)."""
    purchase = refund.purchase
    withheld = rules.refund_withheld(
        amount=refund.amount,
        points_short=shares.points_to_take_back - points_taken,
        point_value=settings.LOYALTY_POINT_VALUE,
    )
    refund.money_withheld = withheld
    refund.money_refunded = refund.amount - withheld
    refund.points_taken_back = shares.points_to_take_back
    refund.points_returned = points_returned
    purchase.refunded_paid += refund.amount
    purchase.points_taken_back += shares.points_to_take_back
    purchase.points_returned += points_returned
    purchase.tier_spend_refunded += shares.tier_spend
    purchase.is_fully_refunded = purchase.refunded_paid >= purchase.paid


@transaction.atomic
def purchase_refund(
    *,
    purchase: Purchase,
    amount=None,
    actor: Actor,
    expected_refunded: Decimal | None = None,
) -> Refund:
    """Refund part or all of the money paid for a purchase.

    Gives back the spent points proportionally, takes back the earned points
    proportionally (the purchase's own lot first, then the oldest), and where the
    member no longer has them withholds their value from the money refunded, so the
    balance never goes negative. Raises RefundNotAllowed or InvalidAmount; nothing
    changes then.

    `expected_refunded` is what the caller saw refunded so far; checked under the
    purchase's lock, it turns a double click or two cashiers refunding the same receipt
    into a clear `refund_stale` error instead of a second refund.
    """
    # Lock order: member, then purchase, then lots (as in checkout).
    member = Member.objects.select_for_update().get(pk=purchase.member_id)
    purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
    refundable = purchase.paid - purchase.refunded_paid
    if expected_refunded is not None and expected_refunded != purchase.refunded_paid:
        raise RefundNotAllowed(
            _(
                "This purchase has changed since the page was opened (another refund "
                "was recorded). Check the amounts and try again."
            ),
            code="refund_stale",
        )
    if purchase.is_fully_refunded:
        raise RefundNotAllowed(
            _("This purchase has already been fully refunded."), code="already_refunded"
        )
    if amount is None:
        amount = refundable
    else:
        amount = money_input(amount, field_name="amount")
        if amount <= 0:
            raise RefundNotAllowed(
                _("The refund amount must be more than zero."), code="invalid_amount"
            )
        if amount > refundable:
            raise RefundNotAllowed(
                _("At most %(max)s can still be refunded for this purchase.") % {"max": refundable},
                code="refund_exceeds_paid",
            )
    shares = refund_shares_of(purchase, amount)
    now = timezone.now()
    refund = Refund(
        purchase=purchase,
        amount=amount,
        money_withheld=Decimal(0),
        money_refunded=amount,
        points_taken_back=0,
        points_returned=0,
        tier_spend=shares.tier_spend,
        channel=actor.channel,
        partner=actor.partner,
        recorded_by=actor.user,
    )
    refund.save()

    returned = lots_return(
        member=member,
        movements=_allocate(_spent_still_out(purchase), shares.points_to_return),
        at=now,
        actor=actor,
        purchase=purchase,
        refund=refund,
    )
    own_lot = purchase.points_lots.values_list("id", flat=True).first()
    taken = lots_take(
        member=member,
        amount=shares.points_to_take_back,
        kind=Kind.REFUND,
        at=now,
        actor=actor,
        purchase=purchase,
        refund=refund,
        prefer_lot_id=own_lot,
    )
    refund_settle(refund, shares=shares, points_taken=taken, points_returned=returned)
    refund.save(update_fields=REFUND_SETTLED_FIELDS)
    purchase.save(update_fields=PURCHASE_REFUND_TOTALS)
    if purchase.reward_source:
        for provider in reward_providers():
            provider.release(purchase=purchase, full_refund=purchase.is_fully_refunded, actor=actor)
    for hook in refund_hooks():
        hook(purchase=purchase, refund=refund, actor=actor)
    return refund
