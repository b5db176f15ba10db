"""Delivering the outbox: each message sent once, with its outcome recorded.

How "never twice" holds:
- A delivery run claims a batch of due rows in one short transaction
  (`FOR UPDATE SKIP LOCKED`, then status `sending` with the run's claim id), so two
  runs at once, a redelivered task or beat firing twice never claim the same row.
- The run sends its rows one by one in id order and records each outcome in its own
  commit before the next row is sent. So when a worker dies, every row of its claim
  before the one in flight is recorded, and every row after it was never tried: only
  the lowest-id row still `sending` may have reached the provider.
- PostgreSQL knows the run is alive by a session advisory lock on the claim id, held
  on the run's connection; it goes with the connection when the worker dies. The next
  run returns a dead claim's rows to the queue; the one row in doubt is sent again
  with the same idempotency key (Idempotency-Key to HTTP providers, Message-ID in
  e-mail), which a provider that honours it delivers once. SQLite (one worker in
  development) treats a claim older than MESSAGES_CLAIM_TIMEOUT as dead.
- Consent and addresses are read for the rest of a batch at once and again once they
  are a second old: a withdrawal stops every message sent more than a second after it
  (38-FZ: stop means stop at once), at one query per batch rather than per message.
- Each outcome is a commit of its own. With MESSAGES_ASYNC_OUTCOMES they are committed
  with synchronous_commit off: a worker crash still loses none of them (they are on
  the server); only a crash of the database server itself could forget the last
  fraction of a second of outcomes, whose rows would then be sent again.
- The advisory lock is a session lock: workers need a direct connection to PostgreSQL
  (or a pooler in session mode), never a transaction-mode pooler.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, F
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext as _

from members.models import Member
from members.services.enrollment import CONSENT_FIELDS
from messaging import selectors
from messaging.backends import Backend, DeliveryError, backend_for
from messaging.errors import MessageNotFailed, TemplateInvalid
from messaging.models import Channel, Message, PushDevice
from messaging.render import member_context, render
from messaging.services.outbox import delivery_kick_on_commit
from messaging.tokens import unsubscribe_url

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# How old a member's consent and addresses may be when a message is sent: read for the
# rest of a batch at once, and again once this many seconds have passed.
MEMBER_FRESH_SECONDS = 1.0
_LOCK_SPACE = 7302  # advisory lock namespace of delivery claims
IN_DOUBT_NOTE = gettext_noop(
    "The worker was lost while sending this message; it is sent again with the same "
    "idempotency key."
)


def in_doubt_note() -> str:
    """The note on a row that may have reached the provider twice, as it is stored (in
    the program's language)."""
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(IN_DOUBT_NOTE)


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    retried: int = 0
    recovered: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.suppressed + self.retried


@dataclass
class _Run:
    """What a delivery run keeps between rows: open backends and found templates."""

    backends: dict[str, Backend] = field(default_factory=dict)
    templates: dict[tuple, object] = field(default_factory=dict)
    members: dict[int, dict] = field(default_factory=dict)
    members_read_at: float = 0.0

    def backend(self, channel: str) -> Backend:
        if channel not in self.backends:
            backend = backend_for(channel)
            backend.open()
            self.backends[channel] = backend
        return self.backends[channel]

    def template(self, message: Message):
        key = (message.kind, message.channel, message.campaign_id)
        if key not in self.templates:
            self.templates[key] = selectors.template_for(
                kind=message.kind, channel=message.channel, campaign_id=message.campaign_id
            )
        return self.templates[key]

    def member_now(self, message: Message, batch: list[Message]) -> dict | None:
        """The member's consent and addresses, read at most MEMBER_FRESH_SECONDS ago: one
        query for the rest of the batch instead of one per message."""
        stale = time.monotonic() - self.members_read_at > MEMBER_FRESH_SECONDS
        if stale or message.member_id not in self.members:
            ids = {m.member_id for m in batch if m.pk >= message.pk}
            # The phone as its stored E.164 text: parsing and validating a PhoneNumber
            # per message cost more than sending it.
            self.members = {
                row["id"]: row
                for row in Member.objects.filter(pk__in=ids).values(
                    "id",
                    "consent_email",
                    "consent_sms",
                    "consent_push",
                    "email",
                    phone_text=Cast("phone", CharField()),
                )
            }
            self.members_read_at = time.monotonic()
        return self.members.get(message.member_id)

    def close(self) -> None:
        for backend in self.backends.values():
            try:
                backend.close()
            except Exception:  # closing a connection that already broke
                log.warning("closing a message backend failed", exc_info=True)


def messages_deliver(
    *, batch_size: int = BATCH_SIZE, time_budget: float | None = None
) -> DeliveryStats:
    """Send the due messages of the outbox, batch by batch, until none is left or
    `time_budget` seconds have passed. Safe to run in any number of workers at once."""
    stats = DeliveryStats(recovered=messages_recover())
    deadline = time.monotonic() + time_budget if time_budget else None
    run = _Run()
    try:
        # Errors are kept on the messages in the program's language.
        with _outcomes_committed_async(), translation.override(settings.LANGUAGE_CODE):
            while deadline is None or time.monotonic() < deadline:
                claim_id, messages = _claim(batch_size)
                if not messages:
                    break
                try:
                    for message in messages:
                        _deliver_guarded(
                            message, claim_id=claim_id, run=run, stats=stats, batch=messages
                        )
                finally:
                    _claim_lock_release(claim_id)
    finally:
        run.close()
    return stats


def messages_due() -> bool:
    return Message.objects.filter(
        status=Message.Status.PENDING, send_after__lte=timezone.now()
    ).exists()


# --- Claims ----------------------------------------------------------------------------


def _claim(batch_size: int) -> tuple[int, list[Message]]:
    """Take up to `batch_size` due rows for this run: (claim id, rows in id order)."""
    claim_id = _claim_lock_new()
    now = timezone.now()
    try:
        with transaction.atomic():
            ids = list(
                Message.objects.filter(status=Message.Status.PENDING, send_after__lte=now)
                .order_by("send_after", "id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:batch_size]
            )
            if ids:
                Message.objects.filter(pk__in=ids).update(
                    status=Message.Status.SENDING, claim=claim_id, claimed_at=now
                )
        messages = (
            list(
                Message.objects.filter(pk__in=ids)
                .select_related("member__tier")
                .defer("member__phone")  # read as text with the consent: _Run.member_now
                .order_by("id")
            )
            if ids
            else []
        )
    except BaseException:
        # Rows claimed before the error stay `sending` under a claim nobody holds: the
        # next run's recovery gives them back.
        _claim_lock_release(claim_id)
        raise
    if not messages:
        _claim_lock_release(claim_id)
    return claim_id, messages


def _claim_lock_new() -> int:
    """A fresh claim id, with its advisory lock taken on PostgreSQL."""
    while True:
        claim_id = secrets.randbelow(2**31 - 2) + 1
        if connection.vendor != "postgresql":
            return claim_id
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE, claim_id])
            if cursor.fetchone()[0]:
                return claim_id


def _claim_lock_release(claim_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, claim_id])


@contextlib.contextmanager
def _dead_claim(claim_id: int, claimed_at: dt.datetime):
    """Yields whether the run that holds `claim_id` is gone; on PostgreSQL holds its lock
    meanwhile, so two recoveries never take the same claim."""
    if connection.vendor != "postgresql":
        timeout = dt.timedelta(seconds=settings.MESSAGES_CLAIM_TIMEOUT)
        yield claimed_at < timezone.now() - timeout
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE, claim_id])
        dead = cursor.fetchone()[0]
    try:
        yield dead
    finally:
        if dead:
            _claim_lock_release(claim_id)


def messages_recover() -> int:
    """Put the rows of delivery runs that died back in the queue; returns how many.

    The lowest-id row of a dead claim may have reached the provider before the run
    died: it is marked so and sent again with the same idempotency key. The others
    were never tried."""
    claims = (
        Message.objects.filter(status=Message.Status.SENDING)
        .values_list("claim", "claimed_at")
        .distinct()
    )
    recovered = 0
    for claim_id, claimed_at in list(claims):
        with _dead_claim(claim_id, claimed_at) as dead:
            if not dead:
                continue
            rows = Message.objects.filter(status=Message.Status.SENDING, claim=claim_id)
            first = rows.order_by("id").values_list("id", flat=True).first()
            if first is None:
                continue
            back = {"status": Message.Status.PENDING, "claim": None, "claimed_at": None}
            # A row that keeps killing its worker is failed once the retries are used up,
            # instead of being sent again at the head of the queue for ever.
            attempts_max = len(settings.MESSAGES_RETRY_DELAYS) + 1
            with transaction.atomic():
                recovered += rows.filter(pk=first, attempts__gte=attempts_max).update(
                    **back | {"status": Message.Status.FAILED},
                    attempts=F("attempts") + 1,
                    error=in_doubt_note(),
                )
                recovered += rows.filter(pk=first, attempts__lt=attempts_max).update(
                    **back, attempts=F("attempts") + 1, error=in_doubt_note()
                )
                recovered += rows.exclude(pk=first).update(**back)
            log.warning("recovered delivery claim %s: message %s was in doubt", claim_id, first)
    return recovered


@contextlib.contextmanager
def _outcomes_committed_async():
    """With MESSAGES_ASYNC_OUTCOMES (see the settings and the module's docstring)."""
    if connection.vendor != "postgresql" or not settings.MESSAGES_ASYNC_OUTCOMES:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


# --- One message ------------------------------------------------------------------------


def _deliver_guarded(
    message: Message, *, claim_id: int, run: _Run, stats: DeliveryStats, batch: list[Message]
):
    """One row whatever goes wrong: a bug or a database error on one message fails that
    message and the run goes on, rather than dying and leaving the row to be recovered
    (and perhaps sent) again at the head of the queue, run after run."""
    try:
        _deliver_one(message, claim_id=claim_id, run=run, stats=stats, batch=batch)
    except Exception as exc:
        log.exception("message %s: delivery raised", message.pk)
        _failed(message, claim_id, f"{type(exc).__name__}: {exc}"[:2000], "", stats)


def _deliver_one(
    message: Message, *, claim_id: int, run: _Run, stats: DeliveryStats, batch: list[Message]
) -> None:
    # Consent and addresses are read again at most a second before sending, not only
    # when the batch was claimed: a withdrawal stops the next message (38-FZ).
    now_member = run.member_now(message, batch)
    if now_member is None:  # the member was deleted, and this row with them
        return
    if message.is_marketing and not now_member[CONSENT_FIELDS[message.channel]]:
        _suppressed(message, claim_id, Message.Suppression.NO_CONSENT, stats)
        return
    address = _address(message, now_member)
    if not address:
        _suppressed(message, claim_id, Message.Suppression.NO_ADDRESS, stats)
        return
    template = run.template(message)
    if template is None:
        error = _("There is no template for %(kind)s by %(channel)s.") % {
            "kind": message.get_kind_display(),
            "channel": message.get_channel_display(),
        }
        _failed(message, claim_id, error, "", stats)
        return
    if not template.is_active:
        _suppressed(message, claim_id, Message.Suppression.TEMPLATE_INACTIVE, stats)
        return
    unsubscribe = (
        unsubscribe_url(member_id=message.member_id, channel=message.channel)
        if message.is_marketing
        else ""
    )
    try:
        rendered = render(
            template,
            language=message.member.language,
            context=member_context(message.member) | message.context,
            channel=message.channel,
            unsubscribe_url=unsubscribe,
        )
    except TemplateInvalid as exc:
        _failed(message, claim_id, str(exc), "", stats)
        return
    except Exception as exc:  # a bug must fail one message, not stall the outbox behind it
        log.exception("message %s: rendering raised", message.pk)
        _failed(message, claim_id, f"{type(exc).__name__}: {exc}", "", stats)
        return
    outgoing = rendered.outgoing(
        idempotency_key=message.idempotency_key, channel=message.channel, to=address
    )
    try:
        accepted = run.backend(message.channel).send(outgoing)
    except DeliveryError as exc:
        if exc.is_transient:
            _retry_or_fail(message, claim_id, str(exc), exc.response, stats)
        else:
            _failed(message, claim_id, str(exc), exc.response, stats)
        return
    except Exception as exc:  # a provider library's own error: retried, then failed
        log.exception("message %s: the %s backend raised", message.pk, message.channel)
        _retry_or_fail(message, claim_id, f"{type(exc).__name__}: {exc}", "", stats)
        return
    _record_sent(
        message,
        claim_id,
        recipient=address,
        subject=rendered.subject[:200],
        body=rendered.body,
        provider_id=accepted.provider_id[:255],
        provider_response=accepted.response,
        # A row sent again after a lost worker keeps saying so: it may have arrived twice.
        error=message.error if message.error and message.error == in_doubt_note() else "",
    )
    stats.sent += 1


def _address(message: Message, member_values: dict) -> str:
    if message.channel == Channel.EMAIL:
        return member_values["email"]
    if message.channel == Channel.SMS:
        return member_values["phone_text"] or ""
    token = (
        PushDevice.objects.filter(member_id=message.member_id, is_active=True)
        .order_by("-created_at", "-id")
        .values_list("token", flat=True)
        .first()
    )
    return token or ""


def _record(message: Message, claim_id: int, **values) -> None:
    """Write the outcome, only while the row is still this run's claim."""
    Message.objects.filter(pk=message.pk, claim=claim_id).update(
        claim=None, claimed_at=None, updated_at=timezone.now(), **values
    )


_SENT_SQL = f"""
    UPDATE {Message._meta.db_table} SET status = %s, claim = NULL, claimed_at = NULL,
        attempts = attempts + 1, sent_at = %s, updated_at = %s, recipient = %s,
        subject = %s, body = %s, provider_id = %s, provider_response = %s, error = %s
    WHERE id = %s AND claim = %s"""


def _record_sent(message: Message, claim_id: int, **values) -> None:
    """_record of the common outcome in SQL written once: building the ORM update for
    every message cost as much CPU as the rest of sending it."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _SENT_SQL,
            [
                Message.Status.SENT.value,
                now,
                now,
                values["recipient"],
                values["subject"],
                values["body"],
                values["provider_id"],
                values["provider_response"],
                values["error"],
                message.pk,
                claim_id,
            ],
        )


def _suppressed(message, claim_id, reason, stats) -> None:
    _record(message, claim_id, status=Message.Status.SUPPRESSED, suppressed_reason=reason)
    stats.suppressed += 1


def _failed(message, claim_id, error, response, stats) -> None:
    _record(
        message,
        claim_id,
        status=Message.Status.FAILED,
        attempts=F("attempts") + 1,
        error=error,
        provider_response=response,
    )
    stats.failed += 1


def _retry_or_fail(message, claim_id, error, response, stats) -> None:
    """Back to the queue after the next delay of MESSAGES_RETRY_DELAYS; failed for good
    once they are used up."""
    delays = settings.MESSAGES_RETRY_DELAYS
    if message.attempts >= len(delays):
        _failed(message, claim_id, error, response, stats)
        return
    _record(
        message,
        claim_id,
        status=Message.Status.PENDING,
        attempts=F("attempts") + 1,
        send_after=timezone.now() + dt.timedelta(seconds=delays[message.attempts]),
        error=error,
        provider_response=response,
    )
    stats.retried += 1


@transaction.atomic
def message_resend(*, message: Message, actor) -> Message:
    """Queue a failed message again, now, with its attempts counted afresh.
    Raises MessageNotFailed (nothing changes) for a message in any other state."""
    if not messages_resend(messages=Message.objects.filter(pk=message.pk), actor=actor):
        raise MessageNotFailed()
    message.refresh_from_db()
    return message


@transaction.atomic
def messages_resend(*, messages, actor) -> int:
    """Queue the failed ones among `messages` (a queryset) again, in one UPDATE; the
    others are left as they are. Returns how many were queued."""
    now = timezone.now()
    queued = messages.filter(status=Message.Status.FAILED).update(
        status=Message.Status.PENDING,
        attempts=0,
        send_after=now,
        resent_by=actor.label[:100],
        updated_at=now,
    )
    if queued:
        delivery_kick_on_commit()
    return queued
