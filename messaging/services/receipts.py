"""The e-mail receipt: queued by the checkout, in its transaction (a purchase hook)."""

from __future__ import annotations

from messaging import selectors
from messaging.models import Channel, Kind, Message
from messaging.services.outbox import message_queue


def purchase_receipt_queue(*, purchase, member, **_event) -> Message | None:
    """Queue the receipt of a committed purchase to the member's e-mail, if they have
    one and the receipt template is switched on. A transactional message: it needs no
    marketing consent."""
    if not member.email or not selectors.template_active(kind=Kind.RECEIPT, channel=Channel.EMAIL):
        return None
    return message_queue(
        member=member,
        kind=Kind.RECEIPT,
        channel=Channel.EMAIL,
        event_key=f"purchase:{purchase.pk}",
        context={
            "receipt_number": purchase.receipt_number,
            "store": purchase.store.name,
            "total_amount": purchase.total,
            "discount_amount": purchase.base_discount + purchase.code_discount,
            "paid_amount": purchase.paid,
            "points_spent": purchase.points_spent,
            "points_earned": purchase.points_earned,
            "purchase_at": purchase.created_at,
        },
    )
