"""Request rates per partner key and per member, and the identity a code guesser is
counted under (promocodes.guard).

Settings: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["partner"] and ["member"]. A guard
against a runaway integration, not a security control: the counters live in the Django
cache (Redis in production) and are not atomic across processes. Guessing promo codes
is slowed separately, by promocodes.guard, which counts failures rather than requests.
"""

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from loyalty.errors import DomainError
from members.cards import card_number_clean


class PartnerKeyThrottle(SimpleRateThrottle):
    scope = "partner"

    def get_cache_key(self, request, view) -> str | None:
        api_key = getattr(request, "api_key", None)
        if api_key is None:  # schema and docs pages: no key, no partner budget
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key.prefix}


class MemberThrottle(SimpleRateThrottle):
    """Requests about one card number, whichever key sends them (the promo code
    endpoints): many keys, or one key spread over time, cannot hammer one member's codes.

    The card number is the `card_number` URL part or body field; a request without a
    well-formed one is not counted here (it is refused before any member is read).
    """

    scope = "member"
    default_rate = "60/min"

    def get_rate(self) -> str:
        return self.THROTTLE_RATES.get(self.scope, self.default_rate)

    def get_cache_key(self, request, view) -> str | None:
        card_number = view.kwargs.get("card_number")
        if card_number is None and isinstance(request.data, dict):
            card_number = request.data.get("card_number")
        if not isinstance(card_number, str):
            return None
        ident = card_number_clean(card_number)
        if not (ident.isascii() and ident.isdigit() and len(ident) <= 32):
            return None  # not a card number: refused as bad_card_number, no member to guard
        return self.cache_format % {"scope": self.scope, "ident": ident}


def guesser(request: Request) -> str:
    """Who promocodes.guard counts failed code lookups against: the partner key."""
    return f"api-key:{request.api_key.prefix}"


class RetryAfterMixin:
    """Views whose DomainErrors may carry `retry_after` (seconds), e.g. too_many_attempts:
    the answer gets the `Retry-After` header, like a throttled request."""

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, DomainError) and isinstance(exc.params.get("retry_after"), int):
            response["Retry-After"] = str(exc.params["retry_after"])
        return response
