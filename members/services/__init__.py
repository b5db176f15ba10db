"""Business writes on members, purchases and points. One function per write."""

from members.services.checkout import (
    CheckoutResult,
    checkout_commit,
    checkout_evaluate,
    member_tier_upgrade,
)
from members.services.enrollment import member_consent_set, member_enroll
from members.services.points import points_adjust, points_expire, points_grant
from members.services.refunds import purchase_refund
from members.services.tiers import TierMoves, tier_review, tier_what_if

__all__ = [
    "CheckoutResult",
    "TierMoves",
    "checkout_commit",
    "checkout_evaluate",
    "member_consent_set",
    "member_enroll",
    "member_tier_upgrade",
    "points_adjust",
    "points_expire",
    "points_grant",
    "purchase_refund",
    "tier_review",
    "tier_what_if",
]
