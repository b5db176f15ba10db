"""Request rate per partner key (settings: REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["partner"]).

A guard against a runaway integration, not a security control: the counter lives in
the Django cache (Redis in production) and is not atomic across processes.
"""

from rest_framework.throttling import SimpleRateThrottle


class PartnerKeyThrottle(SimpleRateThrottle):
    scope = "partner"

    def get_cache_key(self, request, view) -> str | None:
        api_key = getattr(request, "api_key", None)
        if api_key is None:  # schema and docs pages: no key, no partner budget
            return None
        return self.cache_format % {"scope": self.scope, "ident": api_key.prefix}
