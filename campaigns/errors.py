"""Business errors of campaigns; codes are part of the public API contract."""

from django.utils.translation import gettext_lazy as _

from loyalty.errors import Conflict, DomainError, InvalidInput, NotFound


class CampaignError(DomainError):
    code = "campaign_error"


class BudgetExhausted(Conflict):
    code = "campaign_budget_exhausted"
    default_message = _("The campaign's budget is used up; the reward can no longer be given.")


class OfferNotUsable(Conflict):
    code = "offer_not_usable"
    default_message = _("This offer can no longer be used: it was used, burnt or cancelled.")


class SaleNotFound(NotFound):
    code = "sale_not_found"
    default_message = _("No closed sale with this id.")


class SaleNotInvited(InvalidInput):
    code = "sale_not_invited"
    default_message = _(
        "This member is not invited to the closed sale: only invited members get its price."
    )


class SaleNotOpen(InvalidInput):
    code = "sale_not_open"
    default_message = _("The closed sale is not open now: its price applies only inside its dates.")


class CampaignTransitionRefused(InvalidInput):
    code = "campaign_transition_refused"
    default_message = _("The campaign cannot move to this status now.")


class CampaignIncomplete(InvalidInput):
    code = "campaign_incomplete"
    default_message = _("The campaign is missing what its kind needs.")
