"""Business errors shared by every interface.

Each error has a stable machine-readable `code` (a public API contract: partners code
against it) and a human message. The DRF exception handler, the cashier desk, admin
and Celery tasks each map DomainError in exactly one place.
"""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    status = 400
    default_message = _("The operation cannot be completed.")

    def __init__(self, message=None, *, code: str | None = None, **params):
        self.message = message if message is not None else self.default_message
        if code:
            self.code = code
        self.params = params
        super().__init__(str(self.message))

    def __str__(self) -> str:
        return str(self.message)


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status = 409
    default_message = _("The request conflicts with the current state.")


class InvalidInput(DomainError):
    code = "invalid"
    status = 400
    default_message = _("Invalid input.")
