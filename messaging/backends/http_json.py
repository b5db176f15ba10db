"""An SMS or push provider reached over HTTP with JSON: the example of a real backend.

Options (MESSAGES_SMS_OPTIONS / MESSAGES_PUSH_OPTIONS): `url`, `token` (sent as a
Bearer token), `sender` and `timeout` in seconds. Each message is one POST of
{"id", "to", "text", "title", "sender"} with an `Idempotency-Key` header equal to the
message's key, so a provider that honours it delivers a retried message once. 2xx is
accepted (the JSON answer's "id" is kept); 408, 425, 429 and 5xx are retried later; any
other 4xx is a permanent refusal.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from messaging.backends import (
    Accepted,
    Backend,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
)

RESPONSE_KEPT = 2000  # characters of the provider's answer kept on the message
RETRIED_STATUSES = frozenset({408, 425, 429})


class HttpBackend(Backend):
    def __init__(self, *, url: str, token: str = "", sender: str = "", timeout: float = 10):
        super().__init__(url=url, sender=sender, timeout=timeout)
        self.url = url
        self.token = token
        self.sender = sender
        self.timeout = timeout

    def send(self, message: Outgoing) -> Accepted:
        payload = {
            "id": message.idempotency_key,
            "to": message.to,
            "text": message.body,
            "title": message.subject,
            "sender": self.sender,
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": message.idempotency_key,
                **({"Authorization": f"Bearer {self.token}"} if self.token else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")[:RESPONSE_KEPT]
            error = f"HTTP {exc.code}"
            if exc.code >= 500 or exc.code in RETRIED_STATUSES:
                raise TransientDeliveryError(error, response=text) from exc
            raise PermanentDeliveryError(error, response=text) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientDeliveryError(str(getattr(exc, "reason", exc))) from exc
        try:
            provider_id = str(json.loads(text).get("id", ""))
        except (ValueError, AttributeError):
            provider_id = ""
        return Accepted(provider_id=provider_id, response=text[:RESPONSE_KEPT])
