"""The one place where errors become API responses: `{"code": ..., "detail": ...}`.

Codes are a public contract: partners branch on them. Every code any endpoint can
return is listed in ERROR_CODES with what it means; the OpenAPI schema is built from
this catalogue and a test checks that every DomainError code is in it.
"""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.api.parsers import RequestTooLarge
from loyalty.errors import DomainError

ERROR_CODES: dict[str, str] = {
    # Requests and authentication
    "invalid": gettext_lazy("Some fields are invalid; `errors` holds the messages per field."),
    "parse_error": gettext_lazy("The body is not valid JSON."),
    "request_too_large": gettext_lazy("The body is larger than the server accepts."),
    "unsupported_media_type": gettext_lazy("Send the body as `Content-Type: application/json`."),
    "not_acceptable": gettext_lazy("The API answers in `application/json` only."),
    "method_not_allowed": gettext_lazy("This endpoint does not take this HTTP method."),
    "not_found": gettext_lazy(
        "No such endpoint (paths end with a slash); for a promo code: no such code (404)."
    ),
    "not_authenticated": gettext_lazy(
        "No `Authorization: Api-Key <key>` header, or one in another scheme."
    ),
    "authentication_failed": gettext_lazy(
        "The key is unknown, revoked or expired, or its partner is inactive."
    ),
    "permission_denied": gettext_lazy("The partner does not hold the scope this endpoint needs."),
    "throttled": gettext_lazy("Too many requests with this key; retry after `Retry-After` s."),
    "idempotency_key_invalid": gettext_lazy(
        "The Idempotency-Key header is empty, longer than 255 characters or not printable ASCII."
    ),
    "idempotency_key_reused": gettext_lazy(
        "This Idempotency-Key was already used with another request body or endpoint."
    ),
    # Members
    "member_not_found": gettext_lazy("No member has this card number."),
    "bad_card_number": gettext_lazy(
        "The card number is mistyped: 13 digits whose last one is a check digit."
    ),
    "member_exists": gettext_lazy("A member with this phone or e-mail already exists."),
    "invalid_phone": gettext_lazy("The phone is not a valid phone number."),
    "invalid_email": gettext_lazy("The e-mail is not a valid e-mail address."),
    "first_name_required": gettext_lazy("The first name is empty."),
    "invalid_consent_channel": gettext_lazy("Consent channels are `email`, `sms` and `push`."),
    "no_tiers": gettext_lazy("The program has no tiers configured yet."),
    # Checkout
    "store_not_found": gettext_lazy("No active store has this code."),
    "receipt_number_required": gettext_lazy("The receipt number is empty."),
    "receipt_conflict": gettext_lazy(
        "This store already recorded this receipt number with other data."
    ),
    "points_over_limit": gettext_lazy(
        "More points than may pay this receipt; `allowed` says how many may."
    ),
    "insufficient_points": gettext_lazy("The member does not have that many points."),
    "balance_changed": gettext_lazy(
        "The points balance changed since the adjustment was confirmed (staff only)."
    ),
    "invalid_amount": gettext_lazy(
        "The amount is not a valid amount of money (a receipt total must be more than zero)."
    ),
    "reward_not_available": gettext_lazy(
        "The chosen code or offer is not available for this receipt."
    ),
    # Promo codes (refusals are also returned by the validate endpoint as `code`)
    "bad_check_char": gettext_lazy(
        "The promo code is mistyped: its check character does not match (nothing was looked up)."
    ),
    "code_required": gettext_lazy("The promo code is empty."),
    "not_yet_valid": gettext_lazy("The promo code's validity window has not started."),
    "expired": gettext_lazy("The promo code's validity window has ended."),
    "used_up": gettext_lazy("The promo code has no uses left (409)."),
    "not_yours": gettext_lazy("The promo code is personal and belongs to another member (403)."),
    "min_receipt": gettext_lazy(
        "The receipt total is below the code's minimum; `min_receipt` gives it."
    ),
    "inactive": gettext_lazy("Marketing switched the code's batch off."),
    "too_many_attempts": gettext_lazy(
        "Too many unknown or mistyped codes from this key; retry after `Retry-After` s (429)."
    ),
    "batch_not_found": gettext_lazy("No promo code batch has this id."),
    "batch_not_personal": gettext_lazy("The batch does not issue personal codes."),
    "request_id_conflict": gettext_lazy(
        "This `request_id` already issued a code of the batch to another member."
    ),
    "not_recipient": gettext_lazy(
        "The batch was made for a list of members and this member is not on it (403)."
    ),
    "batch_full": gettext_lazy("The batch has issued all the codes it may (its `count`)."),
    "batch_not_generated": gettext_lazy("Imported batches are filled by import (staff only)."),
    "batch_not_imported": gettext_lazy("Only imported batches take imported codes (staff only)."),
    "import_conflict": gettext_lazy(
        "Codes of the file were added meanwhile; nothing was imported (staff only)."
    ),
    # Messages: links in messages and staff tools (no partner endpoint returns these yet)
    "bad_token": gettext_lazy("The signed link is damaged or forged."),
    "token_expired": gettext_lazy("The signed link has expired."),
    "survey_answered": gettext_lazy(
        "The survey has already been answered; the first answer stands."
    ),
    "invalid_score": gettext_lazy("An NPS score is a whole number from 0 to 10."),
    "message_not_failed": gettext_lazy("Only a failed message can be sent again (staff only)."),
    "no_template": gettext_lazy("No active template for the message's kind and channel."),
    "template_invalid": gettext_lazy("The message template cannot be compiled or rendered."),
    "invalid_address": gettext_lazy("Not an address the channel can send to (staff only)."),
    # Campaigns
    "campaign_error": gettext_lazy("The campaign cannot give this reward now."),
    "campaign_budget_exhausted": gettext_lazy(
        "The campaign's budget is used up; its reward can no longer be given (409)."
    ),
    "offer_not_usable": gettext_lazy(
        "The chosen offer was used, burnt or cancelled meanwhile (409)."
    ),
    "sale_not_found": gettext_lazy("No closed sale has this id (`sale`)."),
    "sale_not_invited": gettext_lazy(
        "The member is not invited to the closed sale; only invited members get its price."
    ),
    "sale_not_open": gettext_lazy("The closed sale is not open at this moment."),
    "campaign_transition_refused": gettext_lazy(
        "The campaign cannot move to this status now (staff only)."
    ),
    "campaign_incomplete": gettext_lazy(
        "The campaign lacks what its kind needs to start (staff only)."
    ),
    "referral_code_unknown": gettext_lazy("No member has this referral code."),
    "referral_self": gettext_lazy("A member cannot use their own referral code."),
    "referral_not_new": gettext_lazy(
        "Only a new member (no purchase yet, not invited before, joined after the inviter) "
        "can use a referral code."
    ),
    # Beneficiaries (the cashier desk's "proof checked" step; no partner endpoint returns these)
    "beneficiary_proof_expired": gettext_lazy("The beneficiary document has expired (staff only)."),
    "beneficiary_category_inactive": gettext_lazy(
        "The beneficiary category is no longer offered (staff only)."
    ),
    "beneficiary_document_kind_unknown": gettext_lazy(
        "Unknown kind of beneficiary document (staff only)."
    ),
    "beneficiary_document_required": gettext_lazy(
        "The beneficiary document's number is empty or too long (staff only)."
    ),
    # Purchases and refunds
    "purchase_not_found": gettext_lazy("No purchase with this id was recorded by your partner."),
    "already_refunded": gettext_lazy("The purchase has already been fully refunded."),
    "refund_exceeds_paid": gettext_lazy(
        "The amount is more than is left to refund of the money paid."
    ),
    "refund_not_allowed": gettext_lazy("This purchase cannot be refunded."),
    "refund_stale": gettext_lazy(
        "`expected_refunded` no longer matches: another refund was recorded meanwhile."
    ),
    # Generic codes of the DomainError base classes
    "domain_error": gettext_lazy("The operation cannot be completed."),
    "conflict": gettext_lazy("The request conflicts with the current state."),
}

ERROR_CODE_CHOICES = list(ERROR_CODES.items())

DRF_CODES = {
    RequestTooLarge: "request_too_large",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "parse_error",
    exceptions.ValidationError: "invalid",
}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = {"code": exc.code, "detail": str(exc.message)}
        body.update({k: v for k, v in exc.params.items() if isinstance(v, int | str)})
        return Response(body, status=exc.status)
    if isinstance(exc, RequestDataTooBig):  # the body was read before the parser ran
        exc = RequestTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        errors = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        response.data = {
            "code": code,
            "detail": _("Invalid input in: %(fields)s.") % {"fields": ", ".join(errors)},
            "errors": errors,
        }
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = {"code": code, "detail": str(detail)}
    # DRF turns authentication errors into 403 when no authentication class is set
    # (the key check is a permission here); 401 with a challenge is what they are.
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
        response["WWW-Authenticate"] = "Api-Key"
    return response


@csrf_exempt  # a POST to a wrong path is a 404, not a CSRF failure page
def not_found_view(request, *args, **kwargs):
    """Any path under /api/v1/ that no endpoint matches: JSON, like every other error."""
    return JsonResponse(
        {
            "code": "not_found",
            "detail": _("No such endpoint. Paths end with a slash, e.g. /api/v1/members/."),
        },
        status=status.HTTP_404_NOT_FOUND,
    )
