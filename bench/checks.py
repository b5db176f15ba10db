"""Ledger invariants, checked in SQL over the whole bench database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from members.models import LedgerEntry


@dataclass(frozen=True)
class Invariants:
    balance_not_ledger: int  # members whose cached balance != sum of their ledger
    balance_not_lots: int  # members whose cached balance != sum of their lots' remaining
    lot_not_ledger: int  # lots whose remaining != sum of the ledger entries on them
    negative: int  # members or lots below zero
    expired_open: int  # lots past their life with points left (after expiry: 0)
    expire_entries: int
    expire_points: int  # points burnt according to the ledger (positive)

    @property
    def hold(self) -> bool:
        return not (
            self.balance_not_ledger or self.balance_not_lots or self.lot_not_ledger or self.negative
        )


def invariants(*, at: dt.datetime) -> Invariants:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH ledger AS (
                SELECT member_id, SUM(amount) AS points FROM members_ledgerentry GROUP BY member_id
            ), lots AS (
                SELECT member_id, SUM(remaining) AS points FROM members_pointslot GROUP BY member_id
            ), per_lot AS (
                SELECT lot_id, SUM(amount) AS points FROM members_ledgerentry GROUP BY lot_id
            )
            SELECT
                (SELECT COUNT(*) FROM members_member m LEFT JOIN ledger ON ledger.member_id = m.id
                 WHERE m.points_balance <> COALESCE(ledger.points, 0)),
                (SELECT COUNT(*) FROM members_member m LEFT JOIN lots ON lots.member_id = m.id
                 WHERE m.points_balance <> COALESCE(lots.points, 0)),
                (SELECT COUNT(*) FROM members_pointslot p LEFT JOIN per_lot ON per_lot.lot_id = p.id
                 WHERE p.remaining <> COALESCE(per_lot.points, 0)),
                (SELECT COUNT(*) FROM members_member WHERE points_balance < 0)
                    + (SELECT COUNT(*) FROM members_pointslot WHERE remaining < 0),
                (SELECT COUNT(*) FROM members_pointslot WHERE remaining > 0 AND expires_at <= %s),
                (SELECT COUNT(*) FROM members_ledgerentry WHERE kind = %s),
                (SELECT COALESCE(-SUM(amount), 0) FROM members_ledgerentry WHERE kind = %s)
            """,
            [at, LedgerEntry.Kind.EXPIRE.value, LedgerEntry.Kind.EXPIRE.value],
        )
        row = cursor.fetchone()
    return Invariants(*(int(v) for v in row))
