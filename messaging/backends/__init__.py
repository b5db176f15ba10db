"""Delivery backends, one per channel, chosen in settings.

E-mail goes through Django's mail system (EMAIL_URL / EMAIL_BACKEND: console,
SMTP or any django-anymail provider). SMS and push go through the small interface
below: MESSAGES_SMS_BACKEND and MESSAGES_PUSH_BACKEND name a class, and
MESSAGES_SMS_OPTIONS / MESSAGES_PUSH_OPTIONS are passed to it as keyword arguments.
Built in: console.ConsoleBackend, memory.MemoryBackend and http_json.HttpBackend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Outgoing:
    """One rendered message on its way to a provider."""

    idempotency_key: str
    channel: str
    to: str
    subject: str
    body: str
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """The provider took the message: its id for the message and what it answered."""

    provider_id: str = ""
    response: str = ""


class DeliveryError(Exception):
    """The provider did not take the message. Transient errors are retried with backoff;
    permanent ones (a refused address, a rejected text) mark the message failed."""

    is_transient = True

    def __init__(self, message: str, *, response: str = ""):
        super().__init__(message)
        self.response = response


class TransientDeliveryError(DeliveryError):
    is_transient = True


class PermanentDeliveryError(DeliveryError):
    is_transient = False


class Backend:
    """Send one message; raise a DeliveryError when the provider does not take it.

    `open` and `close` bracket a delivery run (one connection for a whole batch).
    """

    def __init__(self, **options):
        self.options = options

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, message: Outgoing) -> Accepted:
        raise NotImplementedError


def backend_for(channel: str) -> Backend:
    """A new backend instance for `channel` (email, sms or push), as configured."""
    if channel == "email":
        from messaging.backends.mail import EmailBackend

        return EmailBackend()
    path, options = {
        "sms": (settings.MESSAGES_SMS_BACKEND, settings.MESSAGES_SMS_OPTIONS),
        "push": (settings.MESSAGES_PUSH_BACKEND, settings.MESSAGES_PUSH_OPTIONS),
    }[channel]
    return import_string(path)(**options)
