"""E-mail through Django's mail system: whatever EMAIL_BACKEND says (console, SMTP,
django-anymail for an ESP), one connection per delivery run."""

from __future__ import annotations

import smtplib
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from messaging.backends import (
    Accepted,
    Backend,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
)


def _anymail_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(permanent, transient) exception classes of django-anymail."""
    from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

    return (AnymailRecipientsRefused,), (AnymailAPIError,)


class EmailBackend(Backend):
    def __init__(self, **options):
        super().__init__(**options)
        self.connection = None

    def open(self) -> None:
        self.connection = get_connection(fail_silently=False)
        try:
            self.connection.open()
        except (smtplib.SMTPException, OSError) as exc:
            self.connection = None
            raise TransientDeliveryError(str(exc)) from exc

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def send(self, message: Outgoing) -> Accepted:
        if self.connection is None:
            self.open()
        domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to],
            # The same Message-ID on every attempt: receiving systems that deduplicate
            # on it show a retried message once.
            headers={"Message-ID": f"<{message.idempotency_key}@{domain}>", **message.headers},
            connection=self.connection,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        permanent, transient = _anymail_errors()
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx for every recipient (greylisting, a full mailbox) is worth a retry.
            codes = [code for code, _text in exc.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientDeliveryError(str(exc)) from exc
            raise PermanentDeliveryError(str(exc)) from exc
        except (smtplib.SMTPSenderRefused, *permanent) as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentDeliveryError(error) from exc
            self.close()  # e.g. 421: the server is closing the connection
            raise TransientDeliveryError(error) from exc
        except (smtplib.SMTPException, OSError, *transient) as exc:
            self.close()  # a broken connection is opened again for the next message
            raise TransientDeliveryError(str(exc)) from exc
        status = getattr(email, "anymail_status", None)
        provider_id = (getattr(status, "message_id", None) or "") if status else ""
        return Accepted(provider_id=str(provider_id), response="accepted")
