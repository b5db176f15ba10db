"""Issue 4, acceptance 2: the delivery task run twice at once sends each row once, and a
worker killed mid-batch and redelivered sends no duplicates and skips nothing
(PostgreSQL, Redis, real Celery worker processes, an HTTP SMS provider).

The workers send SMS through messaging.backends.http_json.HttpBackend to a fake provider
(tests/messaging/provider.py) running in this test process; it records every request and
honours Idempotency-Key as real providers do, so what reached the members is its
`delivered`. loyalty.test_settings pins the SMS backend to the in-memory one, so each
worker runs on a settings module written for it: the test settings plus the provider.

Redelivery is the broker's own: a SIGKILLed worker's message stays in kombu's `unacked`
hash on Redis, and a consumer started after the visibility timeout puts it back in its
queue (kombu restores expired unacked messages when it starts polling, and every
`unacked_restore_interval` × `unacked_restore_throttle` seconds after). The timeout is an
hour by default; the replacement worker is given one second, so it takes the killed
worker's message (the same task id) as soon as it starts.
"""

from __future__ import annotations

import collections
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django_celery_results.models import TaskResult

from loyalty.celery import app
from loyalty.models import Tier
from members.models import Member
from messaging import tasks
from messaging.models import Message
from messaging.services import delivery, messages_queue_for
from messaging.services.delivery import in_doubt_note
from tests import factories
from tests.messaging import provider
from tests.worker.conftest import (
    Worker,
    _broker_url,
    _database_url,
    _queue_delete,
    _stop,
    poll,
    unacked_forget,
)
from tests.worker.conftest import worker_start as _worker_start

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
sms_provider = provider.sms_provider  # the fixture, for the tests of this module

TWICE_AT_ONCE = 3_000
KILLED = 1_000
BATCH = 100
HELD = 325  # the first worker is killed while the provider holds its 326th request
VISIBILITY_TIMEOUT = 1  # seconds, the replacement worker's: it redelivers at once
DONE_TIMEOUT = 60
UNLOCK_TIMEOUT = 30
UNFINISHED = [Message.Status.PENDING, Message.Status.SENDING]


# --- Helpers ------------------------------------------------------------------------------


def members_with_sms_consent(count: int) -> None:
    """`count` members who agreed to SMS (one INSERT: the worker tests keep to ~60 s)."""
    tier = Tier.objects.order_by("threshold").first()
    members = factories.MemberFactory.build_batch(count, tier=tier, consent_sms=True)
    Member.objects.bulk_create(members, batch_size=1_000)


def promo_sms_queued(count: int) -> dict[int, str]:
    """A promo code SMS queued for `count` members; returns {message id: idempotency key}."""
    factories.MessageTemplateFactory(kind="promo_code", channel="sms")
    members_with_sms_consent(count)
    queued = messages_queue_for(
        members=Member.objects.all(),
        kind="promo_code",
        channel="sms",
        event_key="campaign:test",
        context={"code": "ЁЖИК-2025"},
    )
    assert queued == count
    return {m.pk: m.idempotency_key for m in Message.objects.only("pk")}


def statuses() -> dict[str, int]:
    return dict(collections.Counter(Message.objects.values_list("status", flat=True)))


def unfinished() -> bool:
    return Message.objects.filter(status__in=UNFINISHED).exists()


def task_send(worker: Worker, *, batch_size: int) -> str:
    """messages_deliver_task on the workers' queue on Redis; returns its task id."""
    with app.connection_for_write(worker.broker_url) as conn:
        result = tasks.messages_deliver_task.apply_async(
            kwargs={"batch_size": batch_size}, queue=worker.queue, connection=conn
        )
    return result.id


def task_result(task_id: str) -> TaskResult | None:
    return TaskResult.objects.filter(task_id=task_id, status="SUCCESS").first()


def claim_locks() -> int:
    """Delivery claims whose advisory lock some session of this database holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND classid::bigint = %s""",
            [delivery._LOCK_SPACE],
        )
        return cursor.fetchone()[0]


def unacked(broker_url: str, queue: str) -> list[tuple[dict, float]]:
    """kombu's unacknowledged messages of `queue` on Redis, with when each was taken."""
    import redis

    client = redis.Redis.from_url(broker_url)
    found = []
    for tag, raw in client.hgetall("unacked").items():
        payload, _exchange, routing_key = json.loads(raw)
        if routing_key == queue:
            found.append((payload, client.zscore("unacked_index", tag)))
    return found


WORKER_SETTINGS = """\
from loyalty.test_settings import *  # noqa: F403

MESSAGES_SMS_BACKEND = "messaging.backends.http_json.HttpBackend"
MESSAGES_SMS_OPTIONS = {options!r}
CELERY_BROKER_TRANSPORT_OPTIONS = {transport!r}
"""


@pytest.fixture
def workers(django_db_setup, tmp_path, sms_provider):
    """Starts workers (side by side) on one queue of the test's own, each sending SMS to
    the fake provider as its own `sender`; each is stopped (or already dead) and the queue
    and its unacked messages removed afterwards, even on failure."""
    database_url = _database_url()
    broker_url = _broker_url()
    queue = f"loyalty-test-sms-{uuid.uuid4().hex[:12]}"
    started: list[Worker] = []
    python_path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))

    def start_one(sender: str, visibility_timeout: int | None) -> Worker:
        module = f"worker_settings_{sender.replace('-', '_')}"
        (tmp_path / f"{module}.py").write_text(
            WORKER_SETTINGS.format(
                options={"url": sms_provider.url, "sender": sender, "timeout": 10},
                transport={"visibility_timeout": visibility_timeout} if visibility_timeout else {},
            )
        )
        worker = _worker_start(
            queue=queue,
            name=f"{queue}-{sender}@%h",
            broker_url=broker_url,
            database_url=database_url,
            log=tmp_path / f"{sender}.log",
            extra_env={"DJANGO_SETTINGS_MODULE": module, "PYTHONPATH": python_path},
        )
        started.append(worker)
        return worker

    def start(*senders: str, visibility_timeout: int | None = None) -> list[Worker]:
        # Side by side: a worker takes seconds to start on a busy machine.
        with ThreadPoolExecutor(max_workers=len(senders)) as pool:
            return list(pool.map(lambda sender: start_one(sender, visibility_timeout), senders))

    try:
        yield start
    finally:
        for worker in started:
            _stop(worker)
        if started:
            _queue_delete(started[-1])
            unacked_forget(broker_url, queue)


# --- Acceptance 2 -------------------------------------------------------------------------


def test_two_delivery_runs_at_once_send_each_row_once(workers, sms_provider):
    # given 3,000 promo SMS queued and two workers on one queue
    keys = promo_sms_queued(TWICE_AT_ONCE)
    first, second = workers("worker-1", "worker-2")
    everyone = [first, second]

    # when the delivery task is sent twice at once (small batches, so the runs interleave)
    task_ids = [task_send(first, batch_size=50), task_send(first, batch_size=50)]
    poll("every message sent", lambda: not unfinished(), timeout=DONE_TIMEOUT, workers=everyone)
    results = poll(
        "both task results",
        lambda: all(r := [task_result(t) for t in task_ids]) and r,
        timeout=DONE_TIMEOUT,
        workers=everyone,
    )

    # then each worker ran one of the tasks, at the same time as the other
    by_sender = collections.defaultdict(list)
    for request in sms_provider.requests:
        by_sender[request.sender].append(request)
    ran_on = {r.worker.partition("@")[0].rpartition("-")[2]: r for r in results}
    assert sorted(ran_on) == ["1", "2"], [r.worker for r in results]
    for sender, requests in by_sender.items():
        # each task handled exactly the rows its worker sent to the provider
        assert json.loads(ran_on[sender.rpartition("-")[2]].result) == len(requests)
    assert sorted(by_sender) == ["worker-1", "worker-2"]
    assert all(len(requests) >= 50 for requests in by_sender.values())
    one, two = by_sender["worker-1"], by_sender["worker-2"]
    assert one[0].at < two[-1].at, "the two runs did not overlap"
    assert two[0].at < one[-1].at, "the two runs did not overlap"

    # and every row was sent exactly once: one request per key, one delivery per row
    assert statuses() == {Message.Status.SENT: TWICE_AT_ONCE}
    assert len(sms_provider.requests) == TWICE_AT_ONCE
    assert {r.key for r in sms_provider.requests} == set(keys.values())
    assert set(sms_provider.delivered) == set(keys.values())
    assert all(r.status == 200 for r in sms_provider.requests)
    rows = list(Message.objects.values("id", "attempts", "provider_id", "claim", "error"))
    assert {row["attempts"] for row in rows} == {1}
    assert {row["claim"] for row in rows} == {None}
    assert {row["error"] for row in rows} == {""}
    provider_ids = {row["provider_id"] for row in rows}
    assert len(provider_ids) == TWICE_AT_ONCE
    assert "" not in provider_ids


def test_a_worker_killed_mid_batch_and_redelivered_sends_no_duplicates_and_skips_nothing(
    workers,
    sms_provider,
):
    # given 1,000 promo SMS queued and a worker
    keys = promo_sms_queued(KILLED)
    (first,) = workers("worker-1")

    # when the worker runs the delivery task and is killed (SIGKILL) in the middle of a
    # batch, while the provider has taken a message and not yet answered
    sms_provider.hold_from = HELD
    task_id = task_send(first, batch_size=BATCH)
    poll(
        "the provider to hold a message",
        sms_provider.holding.is_set,
        timeout=DONE_TIMEOUT,
        workers=[first],
    )
    first.process.kill()
    first.process.wait(timeout=30)
    assert first.process.returncode == -9
    sms_provider.release()  # its answer goes to a closed socket
    # PostgreSQL ends the dead worker's session, and its claim's advisory lock with it.
    poll(
        "the dead run's claim lock to go",
        lambda: claim_locks() == 0,
        timeout=UNLOCK_TIMEOUT,
        workers=[],
    )

    # then the rows before the one in flight are sent, the rest of its claimed batch is
    # stuck in sending, and the following batches wait
    in_batch = HELD % BATCH
    assert statuses() == {
        Message.Status.SENT: HELD,
        Message.Status.SENDING: BATCH - in_batch,
        Message.Status.PENDING: KILLED - HELD - (BATCH - in_batch),
    }
    stuck = list(
        Message.objects.filter(status=Message.Status.SENDING)
        .order_by("id")
        .values_list("id", "claim")
    )
    (dead_claim,) = {claim for _id, claim in stuck}
    in_doubt = stuck[0][0]
    sent_before = dict(
        Message.objects.filter(status=Message.Status.SENT).values_list("id", "provider_id")
    )
    # The dead run requested each row it recorded as sent, once, then the row in doubt
    # (the lowest id of its claim), which the provider delivered; none after it.
    requested_before = [r.key for r in sms_provider.requests]
    assert requested_before == [keys[i] for i in sorted(sent_before)] + [keys[in_doubt]]
    assert keys[in_doubt] in sms_provider.delivered

    # and the killed worker's task is still taken by it, unacknowledged, on Redis
    (message, taken_at), *others = unacked(first.broker_url, first.queue)
    assert others == []
    assert message["headers"]["id"] == task_id
    time.sleep(max(0.0, taken_at + VISIBILITY_TIMEOUT - time.time()))

    # when a second worker starts, past the visibility timeout of that message
    (second,) = workers("worker-2", visibility_timeout=VISIBILITY_TIMEOUT)
    poll("every message sent", lambda: not unfinished(), timeout=DONE_TIMEOUT, workers=[second])
    result = poll(
        "the redelivered task's result", lambda: task_result(task_id), timeout=30, workers=[second]
    )

    # then the second worker ran that same task and recovered the dead claim itself
    assert result.worker.startswith(f"{second.queue}-worker-2@")
    assert json.loads(result.result) == KILLED - HELD
    log = second.log.read_text(errors="replace")
    assert f"messages_deliver_task[{task_id}] received" in log
    assert f"recovered delivery claim {dead_claim}: message {in_doubt} was in doubt" in log

    # and every row is sent and reached its member once
    assert statuses() == {Message.Status.SENT: KILLED}
    assert set(sms_provider.delivered) == set(keys.values())
    requests = sms_provider.requests_by_key()
    assert set(requests) == set(keys.values())
    # Only the row in doubt was requested twice, once by each worker with its one key; the
    # provider answered the repeat as the first time and did not deliver it again.
    assert len(sms_provider.requests) == KILLED + 1
    twice = {key: sent for key, sent in requests.items() if len(sent) > 1}
    assert list(twice) == [keys[in_doubt]]
    assert [r.sender for r in twice[keys[in_doubt]]] == ["worker-1", "worker-2"]
    assert [r.status for r in twice[keys[in_doubt]]] == [200, 200]

    # and the rows sent before the kill were not requested again, nor changed
    after = {
        row["id"]: row
        for row in Message.objects.values("id", "attempts", "provider_id", "error", "claim")
    }
    for message_id, provider_id in sent_before.items():
        assert len(requests[keys[message_id]]) == 1
        assert after[message_id]["provider_id"] == provider_id
    assert {requests[keys[i]][-1].sender for i in set(keys) - set(sent_before)} == {"worker-2"}
    # The row in doubt has the id the provider gave it the first time, and counts both
    # attempts (its in-doubt note is cleared once it is sent).
    first_answer, second_answer = (r.answer for r in twice[keys[in_doubt]])
    assert first_answer == second_answer
    assert after[in_doubt]["provider_id"] == first_answer["id"]
    assert after[in_doubt]["attempts"] == 2
    assert {after[i]["attempts"] for i in set(keys) - {in_doubt}} == {1}
    # the row in doubt keeps saying so (it was requested twice); the others have no error
    assert after[in_doubt]["error"] == in_doubt_note()
    assert {after[i]["error"] for i in set(keys) - {in_doubt}} == {""}
    assert {row["claim"] for row in after.values()} == {None}
    provider_ids = {row["provider_id"] for row in after.values()}
    assert len(provider_ids) == KILLED
    assert "" not in provider_ids
