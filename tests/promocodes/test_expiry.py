"""The expiry task: codes of batches past their window are marked expired, set-based, and
a second run marks nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from promocodes import tasks
from promocodes.models import CodeBatch, PromoCode
from promocodes.services import promo_codes_expire
from tests import factories


def statuses() -> dict[int, str]:
    return dict(PromoCode.objects.values_list("pk", "status"))


def expired_counts() -> dict[int, int]:
    return dict(CodeBatch.objects.values_list("pk", "expired_count"))


@pytest.fixture
def batches():
    """A batch that ended yesterday (5 codes, one used), one that ended an hour ago with a
    code already marked, and one still running (3 codes)."""
    now = timezone.now()
    ended = factories.CodeBatchFactory(
        valid_from=now - dt.timedelta(days=30), valid_until=now - dt.timedelta(days=1)
    )
    just_ended = factories.CodeBatchFactory(
        valid_from=now - dt.timedelta(days=30), valid_until=now - dt.timedelta(hours=1)
    )
    running = factories.CodeBatchFactory(
        valid_from=now - dt.timedelta(days=1), valid_until=now + dt.timedelta(days=1)
    )
    made = {
        "ended": [factories.PromoCodeFactory(batch=ended) for _ in range(4)]
        + [factories.PromoCodeFactory(batch=ended, uses=1)],
        "just_ended": [
            factories.PromoCodeFactory(batch=just_ended),
            factories.PromoCodeFactory(batch=just_ended, status=PromoCode.Status.EXPIRED),
        ],
        "running": [factories.PromoCodeFactory(batch=running) for _ in range(3)],
    }
    CodeBatch.objects.filter(pk=just_ended.pk).update(expired_count=1)
    return {"ended": ended, "just_ended": just_ended, "running": running}, made


@pytest.mark.parametrize("batch_size", [50_000, 2])
def test_expire_marks_the_codes_of_batches_past_their_window(batches, batch_size):
    # given
    by_name, made = batches

    # when the task runs (in slices of `batch_size` codes)
    marked = promo_codes_expire(batch_size=batch_size)

    # then the four unused codes of the ended batch and the one left active in the batch
    # that just ended are expired; the used-up code stays as it is (it counts as
    # redeemed, not expired); the running batch is untouched
    assert marked == 5
    expected = {c.pk: "expired" for c in made["ended"][:4] + made["just_ended"]}
    expected[made["ended"][4].pk] = "active"
    expected.update({c.pk: "active" for c in made["running"]})
    assert statuses() == expected
    assert expired_counts() == {
        by_name["ended"].pk: 4,
        by_name["just_ended"].pk: 2,
        by_name["running"].pk: 0,
    }
    assert PromoCode.objects.get(pk=made["ended"][4].pk).uses == 1


def test_a_second_run_marks_nothing(batches):
    # given a run that marked everything due
    promo_codes_expire()
    before = (statuses(), expired_counts())

    # when it runs again
    marked = promo_codes_expire()

    # then
    assert marked == 0
    assert (statuses(), expired_counts()) == before


def test_expiry_at_a_later_moment_includes_the_running_batch(batches):
    # given
    by_name, _made = batches

    # when the task runs as of the day after tomorrow
    marked = promo_codes_expire(at=timezone.now() + dt.timedelta(days=2))

    # then every unused code is expired (all but the used-up one)
    assert marked == 8
    assert list(statuses().values()).count("expired") == 9
    assert PromoCode.objects.filter(status="active").get().uses == 1
    assert expired_counts()[by_name["running"].pk] == 3


def test_a_batch_ending_exactly_now_is_expired(batches):
    # given a batch whose window ends at the moment the task runs
    at = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)
    batch = factories.CodeBatchFactory(valid_until=at)
    code = factories.PromoCodeFactory(batch=batch)

    # when / then: the window is [valid_from, valid_until)
    promo_codes_expire(at=at - dt.timedelta(seconds=1))
    assert PromoCode.objects.get(pk=code.pk).status == "active"
    promo_codes_expire(at=at)
    assert PromoCode.objects.get(pk=code.pk).status == "expired"


def test_the_beat_task_runs_the_expiry(batches):
    # when the task body runs (in process)
    marked = tasks.promo_codes_expire_task.apply().get()

    # then
    assert marked == 5
