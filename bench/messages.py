"""Delivering the outbox: messaging.services.messages_deliver on N queued messages (a
marketing SMS to N members who consented), with the in-memory SMS backend, in this
process. Issue #4, acceptance 6.

Phases, each on an outbox emptied first (TRUNCATE, VACUUM ANALYZE and CHECKPOINT):

- queue: messages_queue_for over the N members, the one INSERT … SELECT a campaign
  uses, commit included.
- one worker: messages_deliver() until the queue is empty; messages/s is N over its
  wall-clock time. Each batch's claim is timed by wrapping delivery._claim.
- two workers: the same work again in two threads, each with its own connection, at
  once. Threads share the GIL, so this shows that two runs split the queue without
  sending a row twice, more than how far two worker processes would scale.
- e-mail: N / 5 messages through Django's locmem e-mail backend (building the MIME
  message, its HTML part and headers costs more than an SMS).

After each run, untimed: every row sent exactly once (status, attempts), the backend
holding exactly one message per row under that row's idempotency key, to that member.
A run that delivered wrong reports it in its check row, which then says MISSED.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core import mail
from django.db import connection, connections, transaction
from django.test import override_settings
from django.utils import timezone

from bench import memory
from bench.data import members_insert
from bench.database import settle
from bench.memory import PeakRss
from members.models import Member
from members.services.enrollment import CONSENT_FIELDS
from messaging.backends import memory as memory_backend
from messaging.models import Channel, Kind, Message, MessageTemplate
from messaging.services import delivery, messages_deliver, messages_queue_for

_MESSAGE = Message._meta.db_table
_MEMBER = Member._meta.db_table
CODE = "BENCH-10AB-CD3E"

SMS_BODY = (
    "{{ first_name }}, ваш промокод {{ code }}: скидка 10% до конца недели. "
    "Отписка: {{ unsubscribe_url }}"
)
EMAIL_SUBJECT = "{{ first_name }}, промокод для вас"
EMAIL_BODY = """{{ first_name }}, здравствуйте!

Ваш промокод {{ code }} даёт скидку 10% на любую покупку до конца недели.
Ваш уровень: {{ tier }}. Баланс: {{ balance }} баллов.

Отписаться от писем: {{ unsubscribe_url }}"""

# Settings of the whole bench: no Celery kick after a queue's commit (there is no
# broker; the bench delivers by itself), the in-memory SMS backend and locmem e-mail.
BENCH_SETTINGS = {
    "MESSAGES_DELIVER_ON_COMMIT": False,
    "MESSAGES_SMS_BACKEND": "messaging.backends.memory.MemoryBackend",
    "MESSAGES_SMS_OPTIONS": {},
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}


@dataclass(frozen=True)
class Queued:
    messages: int
    seconds: float


@dataclass(frozen=True)
class DeliveryCheck:
    """What a delivery run left behind: rows by status and what the backend holds."""

    expected: int
    by_status: dict[str, int]
    sent_not_once: int  # sent rows whose attempts is not 1
    kept: int  # messages the backend holds
    distinct_keys: int  # distinct idempotency keys among them
    keys_match: bool  # the keys are exactly those of the rows
    recipients_match: bool  # each went to its row's member's address
    bodies_rendered: int  # kept messages whose text has the code and no template tag
    stats_sent: int  # what messages_deliver said it sent

    @property
    def sent(self) -> int:
        return self.by_status.get(Message.Status.SENT, 0)

    @property
    def not_sent(self) -> int:
        return sum(n for status, n in self.by_status.items() if status != Message.Status.SENT)

    @property
    def holds(self) -> bool:
        n = self.expected
        return (
            self.sent == self.kept == self.distinct_keys == self.stats_sent == n
            and self.bodies_rendered == n
            and self.not_sent == 0
            and self.sent_not_once == 0
            and self.keys_match
            and self.recipients_match
        )


@dataclass(frozen=True)
class Worker:
    sent: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds


@dataclass(frozen=True)
class Delivered:
    channel: str
    messages: int
    seconds: float  # wall clock of the whole run, all workers
    cpu_seconds: float  # CPU time of this process (all its threads) meanwhile
    workers: list[Worker]
    check: DeliveryCheck
    claim_ms: list[float] = field(default_factory=list)  # each batch's claim
    batch_ms: list[float] = field(default_factory=list)  # each batch's sends and outcomes
    rss_before: int | None = None
    rss_peak: int | None = None
    kept_bytes: int | None = None  # rough size of what the memory backend keeps
    outcome_floor_ms: float | None = None  # p50 of one outcome-sized UPDATE and commit

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def cpu_ms_per_message(self) -> float:
        """The worker's own CPU per message: the rate it could reach if the database
        answered at once, and less sensitive than wall time to others' use of the CPU."""
        return self.cpu_seconds * 1000 / self.messages

    @property
    def rss_growth(self) -> int | None:
        return memory.growth(self.rss_before, self.rss_peak)


@dataclass(frozen=True)
class MessagesFigures:
    members: int
    batch_size: int
    queued: Queued
    sms: Delivered
    two_workers: Delivered | None
    email: Delivered | None


def async_outcomes() -> bool:
    """Whether delivery commits outcomes without waiting for the WAL flush."""
    return getattr(settings, "MESSAGES_ASYNC_OUTCOMES", False)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share 0.5 is the median); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- Data -------------------------------------------------------------------------------


def members_make(count: int) -> None:
    """`count` members, id i, each with a phone, an e-mail and consent to SMS and e-mail
    (the cached consent columns delivery reads; no ConsentRecord rows, nothing reads
    them here). Every member table is emptied first."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {_MEMBER} RESTART IDENTITY CASCADE")
        members_insert(
            cursor,
            count=count,
            at=timezone.now(),
            email="'bench' || i || '@example.com'",
            first_name="'Участник' || i",
            last_name="'Рассылочный'",
            consents=(True, True, False),
        )


def templates_ensure() -> list[int]:
    """The promo code templates the bench sends (SMS and e-mail); returns their ids."""
    ids = []
    for channel, subject, body in [
        (Channel.SMS, "", SMS_BODY),
        (Channel.EMAIL, EMAIL_SUBJECT, EMAIL_BODY),
    ]:
        template, _ = MessageTemplate.objects.update_or_create(
            kind=Kind.PROMO_CODE,
            channel=channel,
            campaign=None,
            defaults={"subject_ru": subject, "body_ru": body, "is_active": True},
        )
        ids.append(template.pk)
    return ids


def templates_remove(ids: list[int]) -> None:
    MessageTemplate.objects.filter(pk__in=ids).delete()
    MessageTemplate.history.filter(id__in=ids).delete()


def outbox_empty() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {_MESSAGE}")
    settle([_MESSAGE, _MEMBER])


def _queue(*, channel: str, members: int, event_key: str) -> Queued:
    # A campaign's segment: the members who consented to the channel.
    chosen = Member.objects.filter(pk__lte=members, **{CONSENT_FIELDS[channel]: True})
    started = time.perf_counter()
    queued = messages_queue_for(
        members=chosen,
        kind=Kind.PROMO_CODE,
        channel=channel,
        event_key=event_key,
        context={"code": CODE},
    )
    elapsed = time.perf_counter() - started
    settle([_MESSAGE])
    return Queued(queued, elapsed)


# --- Delivery ---------------------------------------------------------------------------


@contextlib.contextmanager
def _claims_timed(claim_ms: list[float], batch_ms: list[float]):
    """Time each batch's claim, and the sends between two claims of the same run, by
    wrapping delivery._claim (messages_deliver looks it up on every batch)."""
    original = delivery._claim
    last_end = threading.local()

    def timed(batch_size: int):
        started = time.perf_counter()
        if getattr(last_end, "at", None) is not None:
            batch_ms.append((started - last_end.at) * 1000)
        result = original(batch_size)
        last_end.at = time.perf_counter()
        if result[1]:
            claim_ms.append((last_end.at - started) * 1000)
        return result

    delivery._claim = timed
    try:
        yield
    finally:
        delivery._claim = original


def _kept_clear() -> None:
    memory_backend.clear()
    mail.outbox = []


def _kept(channel: str) -> list[tuple[str, str, str]]:
    """(idempotency key, recipient, text) of each message the backend holds."""
    if channel == Channel.SMS:
        return [(m.idempotency_key, m.to, m.body) for m in memory_backend.outbox]
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    kept = []
    for email in mail.outbox:
        message_id = email.extra_headers.get("Message-ID", "")
        key = message_id.removeprefix("<").removesuffix(f"@{domain}>")
        kept.append((key, email.to[0] if len(email.to) == 1 else repr(email.to), email.body))
    return kept


def _kept_bytes() -> int:
    """About how much the memory backend's list holds (what a real provider would not)."""
    total = sys.getsizeof(memory_backend.outbox)
    for message in memory_backend.outbox:
        total += sys.getsizeof(message) + sys.getsizeof(message.__dict__)
        total += sum(sys.getsizeof(v) for v in message.__dict__.values())
    return total


def _check(*, channel: str, event_key: str, expected: int, stats_sent: int) -> DeliveryCheck:
    rows = Message.objects.filter(channel=channel, event_key=event_key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT status, COUNT(*) FROM {_MESSAGE}
                WHERE channel = %s AND event_key = %s GROUP BY status""",
            [channel, event_key],
        )
        by_status = dict(cursor.fetchall())
    sent_not_once = rows.filter(status=Message.Status.SENT).exclude(attempts=1).count()
    address = "phone" if channel == Channel.SMS else "email"
    expected_to = {
        f"{settings.MESSAGES_ID_PREFIX}-{pk}": str(to)
        for pk, to in rows.values_list("pk", f"member__{address}").iterator(chunk_size=20_000)
    }
    kept = _kept(channel)
    keys = {key for key, _to, _text in kept}
    return DeliveryCheck(
        expected=expected,
        by_status=by_status,
        sent_not_once=sent_not_once,
        kept=len(kept),
        distinct_keys=len(keys),
        keys_match=keys == expected_to.keys(),
        recipients_match=all(expected_to.get(key) == to for key, to, _text in kept),
        bodies_rendered=sum(CODE in text and "{{" not in text for _key, _to, text in kept),
        stats_sent=stats_sent,
    )


def _deliver_alone(batch_size: int) -> tuple[float, list[Worker], dict]:
    extra: dict = {"claim_ms": [], "batch_ms": []}
    with _claims_timed(extra["claim_ms"], extra["batch_ms"]), PeakRss() as peak:
        cpu = time.process_time()
        started = time.perf_counter()
        stats = messages_deliver(batch_size=batch_size)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    extra.update(rss_before=peak.before, rss_peak=peak.peak, cpu_seconds=cpu)
    return elapsed, [Worker(stats.sent, elapsed)], extra


def _deliver_in_threads(batch_size: int, workers: int) -> tuple[float, list[Worker], dict]:
    """`workers` delivery runs at once, each in its own thread and connection; the clock
    starts when all of them are connected."""
    results: list[Worker | None] = [None] * workers
    errors: list[BaseException] = []
    ready = threading.Barrier(workers + 1)

    def work(i: int) -> None:
        try:
            connection.ensure_connection()
            ready.wait()
            started = time.perf_counter()
            stats = messages_deliver(batch_size=batch_size)
            results[i] = Worker(stats.sent, time.perf_counter() - started)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            ready.abort()
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"bench-worker-{i}") for i in range(workers)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait()
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if errors:
        raise errors[0]
    return elapsed, [w for w in results if w is not None], {"cpu_seconds": cpu}


def _outcome_floor_ms(samples: int = 300) -> float:
    """p50 of one UPDATE of a sent row and its commit, with synchronous_commit as
    delivery sets it: the database's least share of recording one outcome."""
    ids = list(Message.objects.order_by("id").values_list("id", flat=True)[:samples])
    times = []
    with connection.cursor() as cursor:
        cursor.execute(f"SET synchronous_commit TO {'off' if async_outcomes() else 'on'}")
        try:
            for pk in ids:
                started = time.perf_counter()
                cursor.execute(
                    f"UPDATE {_MESSAGE} SET updated_at = updated_at, attempts = attempts "
                    "WHERE id = %s AND claim IS NULL",
                    [pk],
                )
                times.append((time.perf_counter() - started) * 1000)
        finally:
            cursor.execute("RESET synchronous_commit")
    return percentile(times, 0.5) or 0.0


def _delivery_phase(
    *,
    channel: str,
    members: int,
    event_key: str,
    batch_size: int,
    workers: int,
    log: Callable[[str], None],
) -> tuple[Queued, Delivered]:
    outbox_empty()
    _kept_clear()
    queued = _queue(channel=channel, members=members, event_key=event_key)
    if queued.messages != members:
        raise RuntimeError(f"queued {queued.messages:,} {channel} messages, not {members:,}")
    who = "one worker" if workers == 1 else f"{workers} workers (threads)"
    log(f"{channel}: {queued.messages:,} queued in {queued.seconds:.2f} s; delivering, {who}…")
    if workers == 1:
        elapsed, done, extra = _deliver_alone(batch_size)
    else:
        elapsed, done, extra = _deliver_in_threads(batch_size, workers)
    log(f"{channel}: delivered in {elapsed:.2f} s; checking every row…")
    check = _check(
        channel=channel,
        event_key=event_key,
        expected=members,
        stats_sent=sum(w.sent for w in done),
    )
    kept_bytes = _kept_bytes() if channel == Channel.SMS and workers == 1 else None
    _kept_clear()
    if workers == 1 and channel == Channel.SMS:
        extra["outcome_floor_ms"] = _outcome_floor_ms()
    return queued, Delivered(
        channel=channel,
        messages=members,
        seconds=elapsed,
        workers=done,
        check=check,
        kept_bytes=kept_bytes,
        **extra,
    )


def messages_bench(
    *,
    count: int,
    email_count: int,
    batch_size: int | None,
    two_workers: bool = True,
    log: Callable[[str], None],
) -> MessagesFigures:
    batch_size = batch_size or delivery.BATCH_SIZE
    log(f"messages: {count:,} members with SMS and e-mail consent…")
    members_make(max(count, email_count))
    template_ids = templates_ensure()
    try:
        with override_settings(**BENCH_SETTINGS):
            queued, sms = _delivery_phase(
                channel=Channel.SMS,
                members=count,
                event_key="bench:sms:1",
                batch_size=batch_size,
                workers=1,
                log=log,
            )
            two = None
            if two_workers:
                _, two = _delivery_phase(
                    channel=Channel.SMS,
                    members=count,
                    event_key="bench:sms:2",
                    batch_size=batch_size,
                    workers=2,
                    log=log,
                )
            email = None
            if email_count > 0:
                _, email = _delivery_phase(
                    channel=Channel.EMAIL,
                    members=email_count,
                    event_key="bench:email:1",
                    batch_size=batch_size,
                    workers=1,
                    log=log,
                )
    finally:
        outbox_empty()
        templates_remove(template_ids)
    return MessagesFigures(
        members=max(count, email_count),
        batch_size=batch_size,
        queued=queued,
        sms=sms,
        two_workers=two,
        email=email,
    )
