"""Idempotency-Key for writes, as Stripe does it.

A partner that retries a write after a timeout sends the same `Idempotency-Key`
header. The first request that completes stores its status and body; a retry with the
same key and body gets exactly that response back (header `Idempotent-Replayed:
true`) and changes nothing; the same key with another body or on another endpoint is
refused with 422 `idempotency_key_reused`.

The record is claimed (inserted) at the start of the request's transaction and filled
in at its end, together with the business write: a request that fails leaves no
record and may be retried with the same key. Two concurrent requests with one key
insert the same unique (partner, key) row: on PostgreSQL the second insert waits for
the first transaction and then fails, so the second request does no work and replays
the winner's stored response.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from loyalty.errors import DomainError, InvalidInput
from loyalty.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}")


class IdempotencyKeyInvalid(InvalidInput):
    code = "idempotency_key_invalid"
    default_message = _(
        "The Idempotency-Key header must be 1 to 255 printable ASCII characters, e.g. a UUID."
    )


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    default_message = _(
        "This Idempotency-Key was already used for another request. Use a new key for "
        "each new operation and the same key only to retry the same request."
    )


class _KeyTaken(Exception):
    """A concurrent request committed the same key first."""


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    type=str,
    description=(
        "A unique value (a UUID) per operation, 1-255 printable ASCII characters. "
        "Retrying with the same key and the same body returns the stored response of "
        "the first request (with `Idempotent-Replayed: true`) and changes nothing. The "
        "same key with another body or on another endpoint gives 422 "
        "`idempotency_key_reused`. A request that failed stores nothing, so it may be "
        "retried with the same key."
    ),
)


def request_hash(data) -> str:
    canonical = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, *, endpoint: str, digest: str) -> Response:
    if record.endpoint != endpoint or record.request_hash != digest:
        raise IdempotencyKeyReused()
    return Response(
        record.response_body,
        status=record.response_status,
        headers={REPLAYED_HEADER: "true"},
    )


def idempotent(request: Request, *, endpoint: str, handler: Callable[[], Response]) -> Response:
    """Run `handler` (the business write) once per Idempotency-Key of the partner.

    Without the header the handler just runs. `endpoint` names the operation and its
    target (e.g. `refund:42`), so one key cannot be reused on another purchase.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not KEY_RE.fullmatch(key):
        raise IdempotencyKeyInvalid()
    partner = request.partner
    digest = request_hash(request.data)  # parses the body: a bad body stores nothing
    record = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
    if record is not None:
        return _replay(record, endpoint=endpoint, digest=digest)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        partner=partner,
                        key=key,
                        endpoint=endpoint,
                        request_hash=digest,
                        response_status=0,
                        response_body={},
                    )
            except IntegrityError:
                raise _KeyTaken() from None
            response = handler()
            if response.status_code >= 400:
                # An error answered without raising: it must not be stored either.
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = json.loads(JSONRenderer().render(response.data))
            record.save(update_fields=["response_status", "response_body"])
            return response
    except _KeyTaken:
        record = IdempotencyRecord.objects.get(partner=partner, key=key)
        return _replay(record, endpoint=endpoint, digest=digest)
