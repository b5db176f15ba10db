"""Members with a history (purchases, NPS answers, join day) at exact moments, to put
them just inside or just outside a segment rule's bounds."""

import datetime as dt
import itertools
import zoneinfo
from decimal import Decimal

from members.models import Channel, Member, Purchase
from messaging.models import Survey
from tests import factories

MSK = zoneinfo.ZoneInfo("Europe/Moscow")
# "Now" of the rule tests: Sunday 15 June 2025, noon in Moscow.
AT = dt.datetime(2025, 6, 15, 12, 0, tzinfo=MSK)

LONG_AGO = dt.datetime(2024, 1, 10, 10, 0, tzinfo=MSK)

_receipts = itertools.count(1)


def msk(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=MSK)


def member_make(*, joined: dt.datetime = LONG_AGO, **fields) -> Member:
    """A member who joined at `joined` (long before AT unless told), without consent."""
    member = factories.MemberFactory(**fields)
    # created_at is auto_now_add: only an UPDATE can move it into the past.
    Member.objects.filter(pk=member.pk).update(created_at=joined)
    member.created_at = joined
    return member


def purchase_make(
    member: Member,
    *,
    at: dt.datetime,
    spend: str = "1000.00",
    refunded: str = "0",
    is_fully_refunded: bool = False,
    store=None,
) -> Purchase:
    """A committed purchase without discounts: paid and tier spend are `spend`."""
    amount, back = Decimal(spend), Decimal(refunded)
    return Purchase.objects.create(
        member=member,
        store=store or factories.StoreFactory(code="SEG-00"),
        receipt_number=f"S-{next(_receipts)}",
        total=amount,
        base_rate=Decimal(0),
        base_discount=Decimal(0),
        code_discount=Decimal(0),
        points_max=0,
        points_spent=0,
        paid=amount,
        tier=member.tier,
        earn_percent=Decimal(0),
        points_earned=0,
        tier_spend=amount,
        refunded_paid=back,
        tier_spend_refunded=back,
        is_fully_refunded=is_fully_refunded,
        channel=Channel.CASHIER,
        created_at=at,
    )


def answer_make(member: Member, *, score: int | None, at: dt.datetime) -> Survey:
    """An NPS survey sent at `at`, answered then with `score` (None: never answered)."""
    return Survey.objects.create(
        member=member,
        channel="email",
        created_at=at,
        score=score,
        answered_at=at if score is not None else None,
    )
