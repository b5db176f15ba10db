"""Set-based bench data: members with points lots and the EARN ledger entries that
opened them, so `balance == sum(ledger) == sum(lot.remaining)` holds from the start.

Lot ids follow the time the points were earned, and each member's lots are spread
over that time (lot k of every member, then lot k + 1 …), as they are in production
where a member earns a lot per purchase. A batch of lots therefore touches about as
many members as it has lots, which is the realistic (and the expensive) case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from loyalty.models import Tier
from members.models import LedgerEntry, Member, PointsLot

MEMBER_TABLES = ["members_member", "members_pointslot", "members_ledgerentry"]


@dataclass(frozen=True)
class Generated:
    members: int
    expired_lots: int
    expired_points: int
    live_lots: int
    live_points: int


def members_reset() -> None:
    """Empty every member table (TRUNCATE: the ledger refuses row deletes, not this)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Member._meta.db_table} RESTART IDENTITY CASCADE")


def _without_fk_checks(cursor) -> None:
    # Bulk loading consistent-by-construction rows, like pg_restore --disable-triggers:
    # skips the per-row foreign key checks of the load (never of a measurement). Needs
    # superuser; without it the load is only slower. The savepoint keeps a refusal
    # from breaking the load's transaction.
    try:
        with transaction.atomic():
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        pass


def _secondary_indexes_drop(cursor, tables: list[str]) -> list[str]:
    """Drop the indexes that back no constraint; returns the statements recreating them.

    A bulk load then builds each index once, sorted, instead of row by row; the tables
    end up with exactly the indexes the migrations made.
    """
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[])
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return [definition for _name, definition in indexes]


def members_insert(
    cursor,
    *,
    count: int,
    at: dt.datetime,
    email: str = "''",
    first_name: str = "'Участник'",
    last_name: str = "'Нагрузочный ' || i",
    balance: str = "0",
    consents: tuple[bool, bool, bool] = (False, False, False),
    params: dict | None = None,
) -> None:
    """Members 1..`count` (member i has id i) on the lowest tier, in one INSERT … SELECT:
    a card number with its EAN-13 check digit computed in SQL (weights 1, 3, 1, 3 … over
    the first 12 digits) and phone +7900<i>. `email`, the names and `balance` are SQL
    expressions of i; `consents` are (e-mail, SMS, push)."""
    prefix = settings.LOYALTY_CARD_PREFIX
    values = {
        "count": count,
        "prefix": prefix,
        "body": 12 - len(prefix),
        "tier": Tier.objects.order_by("threshold").values_list("id", flat=True).first(),
        "language": settings.LANGUAGE_CODE,
        "consent_email": consents[0],
        "consent_sms": consents[1],
        "consent_push": consents[2],
        "at": at,
        **(params or {}),
    }
    cursor.execute(
        f"""
        INSERT INTO {Member._meta.db_table} (
            id, card_number, phone, email, first_name, last_name, points_balance,
            beneficiary_proof, beneficiary_document_kind, language, consent_email,
            consent_sms, consent_push, created_at, updated_at, tier_id)
        SELECT i, body || ((10 - (
                SELECT SUM(substr(body, d, 1)::int * CASE WHEN d %% 2 = 0 THEN 3 ELSE 1 END)
                FROM generate_series(1, 12) d) %% 10) %% 10)::text,
            '+7900' || lpad(i::text, 7, '0'), {email}, {first_name}, {last_name}, {balance},
            '', '', %(language)s, %(consent_email)s, %(consent_sms)s, %(consent_push)s,
            %(at)s, %(at)s, %(tier)s
        FROM (
            SELECT i, %(prefix)s || lpad(i::text, %(body)s, '0') AS body
            FROM generate_series(1, %(count)s) i
        ) numbered
        ORDER BY i
        """,
        values,
    )
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('{Member._meta.db_table}', 'id'), %s)",
        [max(count, 1)],
    )


@transaction.atomic
def members_generate(
    *, members: int, expired_per_member: int, live_per_member: int, at: dt.datetime
) -> Generated:
    """Create `members` members, each with expired and live lots, in a few statements."""
    members_reset()
    lots_per_member = expired_per_member + live_per_member
    # Points of lot k of member i; the same expression fills balances, lots and ledger.
    points = "(1 + (i * 31 + k * 17) %% 100)"
    params = {
        "members": members,
        "expired": expired_per_member,
        "lots": lots_per_member,
        "at": at,
    }
    with connection.cursor() as cursor:
        _without_fk_checks(cursor)
        recreate = _secondary_indexes_drop(cursor, MEMBER_TABLES)
        members_insert(
            cursor,
            count=members,
            at=at,
            last_name="'Нагрузочный ' || i",
            balance=f"(SELECT SUM({points}) FROM generate_series(1, %(lots)s) k)",
            params={"lots": lots_per_member},
        )
        # Member i has id i. Expired lot k of member i was earned
        # 395 days + a little before `at` (2 s apart, in the order k, i); live lots 10 days.
        cursor.execute(
            f"""
            INSERT INTO {PointsLot._meta.db_table}
                (member_id, amount, remaining, earned_at, expires_at)
            SELECT i, {points}, {points}, earned_at, earned_at + interval '365 days'
            FROM (
                SELECT i, k, CASE WHEN k <= %(expired)s
                    THEN %(at)s - interval '400 days'
                        + ((k - 1) * %(members)s + i) * interval '2 seconds'
                    ELSE %(at)s - interval '10 days' END AS earned_at
                FROM generate_series(1, %(lots)s) k, generate_series(1, %(members)s) i
            ) lots
            ORDER BY earned_at, i
            """,
            params,
        )
        cursor.execute(
            f"""
            INSERT INTO {LedgerEntry._meta.db_table}
                (member_id, lot_id, kind, amount, reason, actor, created_at)
            SELECT member_id, id, %s, amount, '', 'bench', earned_at
            FROM {PointsLot._meta.db_table} ORDER BY id
            """,
            [LedgerEntry.Kind.EARN.value],
        )
        for statement in recreate:
            cursor.execute(statement)
        cursor.execute(
            f"""
            SELECT COUNT(*) FILTER (WHERE expires_at <= %(at)s),
                COALESCE(SUM(remaining) FILTER (WHERE expires_at <= %(at)s), 0),
                COUNT(*) FILTER (WHERE expires_at > %(at)s),
                COALESCE(SUM(remaining) FILTER (WHERE expires_at > %(at)s), 0)
            FROM {PointsLot._meta.db_table}
            """,
            params,
        )
        expired_lots, expired_points, live_lots, live_points = cursor.fetchone()
    return Generated(members, expired_lots, int(expired_points), live_lots, int(live_points))
