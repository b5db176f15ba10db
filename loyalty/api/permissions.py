"""Partner authentication: `Authorization: Api-Key <key>` plus a scope per view.

djangorestframework-api-key stores hashed keys and knows about revocation and expiry;
the partner behind the key must be active and hold the scope the view declares.
"""

import re

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework_api_key.permissions import BaseHasAPIKey

from loyalty.models import Partner, PartnerAPIKey

# The library issues `<8-char prefix>.<32-char secret>` from [A-Za-z0-9]. Anything else
# is refused before the database sees it (a NUL byte would make PostgreSQL raise).
KEY_RE = re.compile(r"[A-Za-z0-9]{1,16}\.[A-Za-z0-9]{1,128}")
SCHEME = "Api-Key"


class HasPartnerKey(BaseHasAPIKey):
    """A valid, unrevoked, unexpired key of an active partner, with the view's scope.

    Views declare `required_scope`: a Partner.Scope value, a dict by HTTP method (`"*"`
    for the rest), or a `get_required_scope(request)` method; `None` means any valid
    key. The partner and key are put on `request.partner` and `request.api_key`.
    """

    model = PartnerAPIKey
    message = _("A valid partner API key is required: Authorization: Api-Key <key>.")
    invalid_message = _("This API key is unknown, revoked or expired, or its partner is inactive.")

    def get_key(self, request) -> str | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _sep, key = header.partition(" ")
        if scheme.lower() != SCHEME.lower():
            return None
        key = key.strip()
        return key or None

    def has_permission(self, request, view) -> bool:
        key = self.get_key(request)
        if key is None:
            raise exceptions.NotAuthenticated(self.message)
        api_key = self.key_lookup(key)
        request.partner = api_key.partner
        request.api_key = api_key
        scope = self.required_scope(request, view)
        if scope and not api_key.partner.has_scope(scope):
            raise exceptions.PermissionDenied(
                _("This partner key may not do this: it needs the scope “%(scope)s”.")
                % {"scope": scope}
            )
        return True

    def key_lookup(self, key: str) -> PartnerAPIKey:
        if not KEY_RE.fullmatch(key):
            raise exceptions.AuthenticationFailed(self.invalid_message)
        prefix = key.partition(".")[0]
        api_key = (
            PartnerAPIKey.objects.select_related("partner")
            .filter(prefix=prefix, revoked=False)
            .first()
        )
        if (
            api_key is None
            or not api_key.is_valid(key)
            or api_key.has_expired
            or not api_key.partner.is_active
        ):
            raise exceptions.AuthenticationFailed(self.invalid_message)
        return api_key

    @staticmethod
    def required_scope(request, view) -> str | None:
        # Fail closed: a view that forgot to say what it needs is a programming error,
        # not an endpoint open to every key. `required_scope = None` says so explicitly.
        if hasattr(view, "get_required_scope"):
            scope = view.get_required_scope(request)
        elif hasattr(view, "required_scope"):
            scope = view.required_scope
            if isinstance(scope, dict):
                scope = scope.get(request.method, scope.get("*"))
        else:
            raise ImproperlyConfigured(f"{type(view).__name__} declares no required_scope.")
        if scope is not None and scope not in Partner.Scope.values:
            raise ImproperlyConfigured(f"{type(view).__name__}: unknown scope {scope!r}.")
        return scope
