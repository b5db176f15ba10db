"""Many receipts race for one promo code over the partner API, on PostgreSQL.

Each thread is one till: its own member, its own receipt number, its own API client
and database connection, all committing the same code through POST /checkout/commit/
(the whole Django and DRF stack, as a partner request). Threads start together at a
barrier. Each thread holds a database connection while its request runs, so the
number of requests in flight at once is the server's free connections
(max_connections minus the reserved ones and the client connections open now) less a
small margin, at most all of them. All 200 redemption attempts are made; when fewer
than IN_FLIGHT_MIN can be in flight at once the test fails instead of quietly racing
a handful. The module is marked `serial` so `make test` runs it with nothing else
using the server: with the default max_connections = 100 about 90 are in flight.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from members.models import Purchase
from promocodes.models import PromoCode, Redemption
from tests import factories

pytestmark = [
    pytest.mark.serial,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent redemptions need PostgreSQL row locks; SQLite serialises the "
        "whole database (CI runs this module on PostgreSQL)",
    ),
]

COMMIT = "/api/v1/checkout/commit/"
CONNECTIONS_MARGIN = 5  # left for connections opened meanwhile by other clients of the server
IN_FLIGHT_MIN = 50  # fewer requests at once than this is not the race the issue asks for


def connections() -> tuple[int, int]:
    """(max_connections, connections free for this test now) on the server."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
            " - coalesce(current_setting('reserved_connections', true), '0')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        )
        return cursor.fetchone()


def in_flight_allowed(count: int) -> int:
    """How many of `count` requests may run at once; fails when that is too few to race."""
    max_connections, free = connections()
    in_flight = min(count, free - CONNECTIONS_MARGIN)
    needed = min(count, IN_FLIGHT_MIN)
    if in_flight < needed:
        pytest.fail(
            f"only {in_flight} of {count} requests can be in flight at once "
            f"(max_connections = {max_connections}, {free} free, margin {CONNECTIONS_MARGIN}); "
            f"the race needs at least {needed}. Run this module with nothing else using the "
            "server (make test runs the `serial` tests alone) or raise max_connections.",
            pytrace=False,
        )
    return in_flight


def redeem_all(*, key: str, code: str, members, store) -> list[tuple[int, dict | None]]:
    """Commit one receipt per member with `code`, all at once; (status, body) each."""
    count = len(members)
    in_flight = in_flight_allowed(count)
    gate = threading.BoundedSemaphore(in_flight)
    barrier = threading.Barrier(count)
    results: list[tuple[int, dict | None] | None] = [None] * count

    def till(i: int) -> None:
        # A server error is answered as a 500, as a real server would, not raised here.
        client = APIClient(raise_request_exception=False)
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        body = {
            "card_number": members[i].card_number,
            "store": store.code,
            "receipt_number": f"R-{i}",
            "total": "1000.00",
            "code": code,
        }
        try:
            barrier.wait(timeout=60)
            with gate:
                try:
                    response = client.post(COMMIT, body, format="json")
                finally:
                    connection.close()
            try:
                payload = response.json()
            except ValueError:
                payload = None
            results[i] = (response.status_code, payload)
        except Exception as exc:  # a crash in the thread is a failed attempt, not a hang
            results[i] = (599, {"code": type(exc).__name__, "detail": str(exc)})

    threads = [threading.Thread(target=till, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return results


def outcome(results) -> dict[tuple[int, str], int]:
    counts: dict[tuple[int, str], int] = {}
    for status, body in results:
        key = (status, "" if status == 201 else (body or {}).get("code", ""))
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.fixture
def till_world(tiers, store, partner_key):
    def make(members: int):
        return [factories.MemberFactory(tier=tiers["Base"]) for _ in range(members)]

    return make


def test_200_receipts_racing_for_a_single_use_code_use_it_once(till_world, store, partner_key):
    # given a single-use 10% code and 200 members at 200 tills
    code = factories.PromoCodeFactory()
    members = till_world(200)

    # when every till commits its receipt with the code at once
    results = redeem_all(key=partner_key, code=code.code, members=members, store=store)

    # then exactly one receipt gets it; the other 199 are told it is used up; no 5xx
    assert outcome(results) == {(201, ""): 1, (409, "used_up"): 199}
    code.refresh_from_db()
    assert code.uses == 1
    redemption = Redemption.objects.get()
    assert Purchase.objects.get() == redemption.purchase
    assert redemption.discount == Decimal("100.00")
    winner = next(body for status, body in results if status == 201)
    assert winner["code_discount"] == "100.00"
    assert winner["card_number"] == redemption.member.card_number


def test_a_10_use_code_under_50_receipts_is_used_exactly_10_times(till_world, store, partner_key):
    # given a code of 10 uses and 50 members
    code = factories.PromoCodeFactory(batch=factories.CodeBatchFactory(uses_per_code=10))
    members = till_world(50)

    # when all 50 commit with it at once
    results = redeem_all(key=partner_key, code=code.code, members=members, store=store)

    # then 10 succeed, 40 are used up
    assert outcome(results) == {(201, ""): 10, (409, "used_up"): 40}
    code.refresh_from_db()
    assert code.uses == 10
    assert Redemption.objects.count() == 10
    assert Purchase.objects.count() == 10
    assert set(Redemption.objects.values_list("purchase__member", flat=True)) == {
        m.pk for m, (status, _body) in zip(members, results, strict=True) if status == 201
    }
    assert PromoCode.objects.filter(uses__gt=0).count() == 1
