from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework_api_key.permissions import BaseHasAPIKey

from loyalty.models import PartnerAPIKey


class HasPartnerKey(BaseHasAPIKey):
    """A valid, unrevoked, unexpired key of an active partner, with the view's scope.

    Views declare `required_scope`; the partner is put on `request.partner`.
    """

    model = PartnerAPIKey
    message = _("A valid partner API key is required: Authorization: Api-Key <key>.")

    def get_key(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _sep, key = header.partition(" ")
        if scheme.lower() != "api-key" or not key.strip():
            return None
        return key.strip()

    def has_permission(self, request, view) -> bool:
        key = self.get_key(request)
        if not key:
            raise exceptions.NotAuthenticated(self.message)
        try:
            api_key = PartnerAPIKey.objects.select_related("partner").get_from_key(key)
        except PartnerAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed(self.message) from None
        if not api_key.is_valid(key) or not api_key.partner.is_active:
            raise exceptions.AuthenticationFailed(self.message)
        request.partner = api_key.partner
        request.api_key = api_key
        scope = getattr(view, "required_scope", None)
        if scope is None:
            return True
        if isinstance(scope, dict):
            scope = scope.get(request.method, scope.get("*"))
        if scope and not api_key.partner.has_scope(scope):
            raise exceptions.PermissionDenied(
                _("This partner key may not do this (scope %(scope)s).") % {"scope": scope}
            )
        return True
