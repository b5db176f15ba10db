from django.utils.translation import gettext_lazy as _

from loyalty.errors import Conflict, DomainError, InvalidInput, NotFound


class MemberNotFound(NotFound):
    code = "member_not_found"
    default_message = _("No member with this card or phone.")


class BadCardNumber(InvalidInput):
    code = "bad_card_number"
    default_message = _("This card number is mistyped: its check digit does not match.")


class MemberExists(Conflict):
    code = "member_exists"
    default_message = _("A member with this phone or e-mail already exists.")


class StoreNotFound(InvalidInput):
    code = "store_not_found"
    default_message = _("Unknown or inactive store.")


class ReceiptConflict(Conflict):
    code = "receipt_conflict"
    default_message = _("This receipt number was already recorded in this store with other data.")


class PointsOverLimit(InvalidInput):
    code = "points_over_limit"


class InsufficientPoints(InvalidInput):
    code = "insufficient_points"
    default_message = _("The member does not have that many points.")


class RefundNotAllowed(Conflict):
    code = "refund_not_allowed"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"


class NoRewardApplies(InvalidInput):
    code = "reward_not_available"
    default_message = _("The chosen code or offer is not available for this receipt.")


class ReferralCodeUnknown(InvalidInput):
    code = "referral_code_unknown"
    default_message = _("No member has this referral code.")


class ReferralSelf(InvalidInput):
    code = "referral_self"
    default_message = _("A member cannot use their own referral code.")


class ReferralNotNew(Conflict):
    code = "referral_not_new"
    default_message = _(
        "Only a new member can join with a referral code: this one has already bought, "
        "was invited already, or joined before the member who invites."
    )


__all__ = [
    "BadCardNumber",
    "DomainError",
    "InsufficientPoints",
    "InvalidAmount",
    "MemberExists",
    "MemberNotFound",
    "NoRewardApplies",
    "PointsOverLimit",
    "ReceiptConflict",
    "ReferralCodeUnknown",
    "ReferralNotNew",
    "ReferralSelf",
    "RefundNotAllowed",
    "StoreNotFound",
]
