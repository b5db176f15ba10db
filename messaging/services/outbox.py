"""Queueing messages: a row in the outbox, written in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import json

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import InvalidInput
from messaging.models import Channel, Kind, Message, is_marketing

_KICK_KEY = "messaging:deliver-kick"
_KICK_DEBOUNCE = 2  # seconds: a burst of events starts one delivery run, not one each


def message_queue(
    *,
    member,
    kind: str,
    channel: str,
    event_key: str,
    context: dict | None = None,
    campaign=None,
    send_after: dt.datetime | None = None,
) -> Message | None:
    """Queue one message in the caller's transaction: it exists if and only if the
    caller commits. Returns None, changing nothing, when this message (kind, member,
    channel, event) is already queued or sent. Consent is checked when it is sent."""
    _kind_channel_check(kind, channel)
    now = timezone.now()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                kind=kind,
                channel=channel,
                member=member,
                campaign=campaign,
                event_key=event_key,
                context=_json_ready(context or {}),
                is_marketing=is_marketing(kind),
                send_after=send_after or now,
            )
    except IntegrityError:
        if Message.objects.filter(
            kind=kind, member=member, channel=channel, event_key=event_key
        ).exists():
            return None
        raise
    delivery_kick_on_commit()
    return message


def messages_queue_for(
    *,
    members: QuerySet,
    kind: str,
    channel: str,
    event_key: str,
    context: dict | None = None,
    campaign=None,
    send_after: dt.datetime | None = None,
) -> int:
    """Queue the same message to every member of a queryset in one INSERT … SELECT, in
    the caller's transaction; members who already have it are skipped. Returns how
    many were queued. This is how a campaign reaches a segment of a million members."""
    _kind_channel_check(kind, channel)
    now = timezone.now()
    try:
        select_sql, select_params = members.order_by().values("id").query.sql_with_params()
    except EmptyResultSet:  # .none() or pk__in=[]: a segment known to be empty, no query
        return 0
    table = Message._meta.db_table
    json_value = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    columns = (
        "kind, channel, member_id, campaign_id, event_key, context, is_marketing, status, "
        "suppressed_reason, attempts, send_after, recipient, subject, body, provider_id, "
        "provider_response, error, resent_by, created_at, updated_at"
    )
    # SQLite needs the WHERE to tell an upsert's ON CONFLICT from a join condition.
    sql = (
        f"INSERT INTO {table} ({columns}) "
        f"SELECT %s, %s, chosen.id, %s, %s, {json_value}, %s, %s, '', 0, %s, "
        f"'', '', '', '', '', '', '', %s, %s FROM ({select_sql}) AS chosen WHERE true "
        "ON CONFLICT DO NOTHING"
    )
    # The INSERT's own values come before the inner SELECT's in the SQL text.
    params = [
        kind,
        channel,
        campaign.pk if campaign is not None else None,
        event_key,
        json.dumps(_json_ready(context or {}), cls=DjangoJSONEncoder),
        is_marketing(kind),
        Message.Status.PENDING,
        send_after or now,
        now,
        now,
        *select_params,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        queued = cursor.rowcount
    if queued:
        delivery_kick_on_commit()
    return queued


def _kind_channel_check(kind: str, channel: str) -> None:
    """A programming error caught where it is made, not by the delivery run."""
    if kind not in Kind.values or channel not in Channel.values:
        raise InvalidInput(
            _("Unknown kind or channel of message: %(kind)s, %(channel)s")
            % {"kind": kind, "channel": channel}
        )


def _json_ready(context: dict) -> dict:
    """Dates, Decimals and the like as the strings JSON keeps them as."""
    return json.loads(json.dumps(context, cls=DjangoJSONEncoder))


def delivery_kick_on_commit() -> None:
    """Start a delivery run soon after the caller commits (the beat task every minute
    catches anything this misses, e.g. with the broker down)."""
    if settings.MESSAGES_DELIVER_ON_COMMIT:
        transaction.on_commit(_kick, robust=True)


def _kick() -> None:
    from messaging.tasks import messages_deliver_task

    if cache.add(_KICK_KEY, 1, timeout=_KICK_DEBOUNCE):
        # No retries: with the broker down, the request that queued the message must not
        # wait for it (the beat's run each minute sends it).
        messages_deliver_task.apply_async(retry=False)
