import datetime as dt

import time_machine

from loyalty.models import IdempotencyRecord
from loyalty.services import idempotency_records_prune

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def record(partner, key: str, age_days: float) -> IdempotencyRecord:
    with time_machine.travel(NOW - dt.timedelta(days=age_days), tick=False):
        return IdempotencyRecord.objects.create(
            partner=partner,
            key=key,
            endpoint="checkout-commit",
            request_hash="0" * 64,
            response_status=201,
            response_body={},
        )


def test_records_past_retention_are_deleted_and_a_second_run_deletes_nothing(partner, settings):
    # given a 7-day retention and records 1, 6.9, 7.1 and 30 days old
    settings.IDEMPOTENCY_KEY_RETENTION_DAYS = 7
    for key, age in (("a", 1), ("b", 6.9), ("c", 7.1), ("d", 30)):
        record(partner, key, age)

    # when
    first = idempotency_records_prune(at=NOW, batch_size=1)
    second = idempotency_records_prune(at=NOW)

    # then
    assert first == 2
    assert second == 0
    assert sorted(IdempotencyRecord.objects.values_list("key", flat=True)) == ["a", "b"]
