"""Business writes on the program's own records."""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from loyalty.models import IdempotencyRecord


def idempotency_records_prune(*, at: dt.datetime | None = None, batch_size: int = 10_000) -> int:
    """Delete idempotency records older than IDEMPOTENCY_KEY_RETENTION_DAYS; returns how many.

    Batched by id so a large backlog never holds one long lock. Safe to run twice.
    """
    at = at or timezone.now()
    cutoff = at - dt.timedelta(days=settings.IDEMPOTENCY_KEY_RETENTION_DAYS)
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(created_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(id__in=ids).delete()[0]
