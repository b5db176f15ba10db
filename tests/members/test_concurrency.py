"""Concurrent writers on PostgreSQL: real threads, each with its own connection and its own
transactions, released together by a barrier so they really race."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from members.errors import MemberExists, PointsOverLimit, ReceiptConflict, RefundNotAllowed
from members.models import LedgerEntry, Member, Purchase, Refund
from members.services import checkout_commit, member_enroll, purchase_refund
from tests import factories
from tests.members.conftest import assert_ledger_holds
from tests.threads import race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent writers need PostgreSQL row locks; SQLite serialises the whole "
        "database (CI runs this module on PostgreSQL)",
    ),
]

D = Decimal


def oks(results):
    return [value for status, value in results if status == "ok"]


def errors(results):
    return [value for status, value in results if status == "error"]


@pytest.fixture
def silver_500(silver, grant):
    grant(silver, 500)
    return silver


def test_same_receipt_from_twenty_threads_records_one_purchase(silver_500, store, cashier_actor):
    # when 20 cashier retries commit the same receipt at once
    results = race(
        20,
        lambda i: checkout_commit(
            member=silver_500,
            store=store,
            receipt_number="R-1",
            total="3000.00",
            points_to_spend=None,
            actor=cashier_actor,
        ),
    )

    # then one purchase, one set of ledger rows, and all 20 calls return it
    assert errors(results) == []
    done = oks(results)
    assert len({r.purchase.pk for r in done}) == 1
    assert sorted(r.replayed for r in done) == [False] + [True] * 19
    assert {(r.breakdown.points_spent, r.breakdown.paid) for r in done} == {(500, D("2350.00"))}
    assert Purchase.objects.count() == 1
    assert sorted(LedgerEntry.objects.values_list("kind", "amount")) == [
        ("earn", 47),
        ("grant", 500),
        ("spend", -500),
    ]
    assert assert_ledger_holds(silver_500) == 47


def test_same_receipt_with_two_different_totals(silver_500, store, cashier_actor):
    # when 10 threads send 3,000 ₽ and 10 send 2,000 ₽ for the same receipt
    results = race(
        20,
        lambda i: checkout_commit(
            member=silver_500,
            store=store,
            receipt_number="R-1",
            total="3000.00" if i % 2 else "2000.00",
            actor=cashier_actor,
        ),
    )

    # then one of them is recorded; the same data is replayed, the other is a conflict
    purchase = Purchase.objects.get()
    winners = oks(results)
    assert {r.purchase.pk for r in winners} == {purchase.pk}
    assert len(winners) == 10
    assert {r.breakdown.total for r in winners} == {purchase.total}
    assert len(errors(results)) == 10
    assert all(isinstance(e, ReceiptConflict) for e in errors(results))
    assert assert_ledger_holds(silver_500) == 500 + purchase.points_earned


def test_same_receipt_for_ten_members_at_once(store, tiers, cashier_actor):
    # given ten members (their row locks do not serialise each other)
    people = [factories.MemberFactory(tier=tiers["Base"]) for _ in range(10)]

    # when each commits the same receipt number
    results = race(
        10,
        lambda i: checkout_commit(
            member=people[i],
            store=store,
            receipt_number="R-1",
            total="1000.00",
            actor=cashier_actor,
        ),
    )

    # then the unique receipt wins once; the others are conflicts, and nothing else is written
    assert len(oks(results)) == 1
    assert [type(e) for e in errors(results)] == [ReceiptConflict] * 9
    purchase = Purchase.objects.get()
    assert LedgerEntry.objects.get().member_id == purchase.member_id
    for person in people:
        assert_ledger_holds(person)


def test_twenty_threads_spending_one_members_points(member, store, grant, cashier_actor):
    # given a Base member with 1,000 points
    grant(member, 1000)

    # when 20 receipts of 1,000 ₽ each try to spend 100 points at once
    results = race(
        20,
        lambda i: checkout_commit(
            member=member,
            store=store,
            receipt_number=f"R-{i}",
            total="1000.00",
            points_to_spend=100,
            actor=cashier_actor,
        ),
    )

    # then they run one after another on the member's lock: the first two are Base
    # (-100 +9 each, and 2,000 ₽ makes the member Silver), then Silver (-100 +17 each)
    # until fewer than 100 points are left: 11 succeed, 818 - 9 × 83 = 71 remain
    assert len(oks(results)) == 11
    assert [type(e) for e in errors(results)] == [PointsOverLimit] * 9
    spent = LedgerEntry.objects.filter(kind="spend").aggregate(s=Sum("amount"))["s"]
    assert spent == -1100
    assert Purchase.objects.aggregate(s=Sum("points_spent"))["s"] == 1100
    assert assert_ledger_holds(member) == 71


def test_concurrent_partial_refunds_never_exceed_the_money_paid(silver_500, buy, cashier_actor):
    # given the worked example's purchase (paid 2,350)
    purchase = buy(silver_500, "3000.00", points=None).purchase

    # when 10 refunds of 300 race (3,000 in all)
    results = race(
        10, lambda i: purchase_refund(purchase=purchase, amount="300.00", actor=cashier_actor)
    )

    # then 7 fit (2,100), 3 are refused
    assert len(oks(results)) == 7
    refused = errors(results)
    assert [(type(e), e.code) for e in refused] == [(RefundNotAllowed, "refund_exceeds_paid")] * 3
    purchase.refresh_from_db()
    assert purchase.refunded_paid == D("2100.00")
    assert Refund.objects.aggregate(s=Sum("amount"))["s"] == D("2100.00")
    # cumulative shares of 2,100 / 2,350: 42 of 47 taken back, 446 of 500 returned
    assert (purchase.points_taken_back, purchase.points_returned) == (42, 446)
    assert assert_ledger_holds(silver_500) == 47 - 42 + 446


def test_concurrent_full_refunds_refund_once(silver_500, buy, cashier_actor):
    purchase = buy(silver_500, "3000.00", points=None).purchase

    results = race(10, lambda i: purchase_refund(purchase=purchase, actor=cashier_actor))

    assert len(oks(results)) == 1
    assert [e.code for e in errors(results)] == ["already_refunded"] * 9
    assert Refund.objects.get().amount == D("2350.00")
    assert assert_ledger_holds(silver_500) == 500


def test_refunds_and_spends_of_one_member_interleave_safely(silver_500, buy, cashier_actor, store):
    # given two purchases to refund and the rest of the points to spend
    purchases = [buy(silver_500, "1000.00", points=None).purchase for _ in range(2)]
    silver_500.refresh_from_db()

    # when 4 threads refund halves while 6 spend 50 points each
    def work(i):
        if i < 4:
            return purchase_refund(
                purchase=purchases[i % 2], amount=purchases[i % 2].paid / 2, actor=cashier_actor
            )
        return checkout_commit(
            member=silver_500,
            store=store,
            receipt_number=f"S-{i}",
            total="500.00",
            points_to_spend=50,
            actor=cashier_actor,
        )

    results = race(10, work)

    # then every write either happened whole or not at all, and the sums hold
    assert all(isinstance(e, PointsOverLimit) for e in errors(results))
    assert Refund.objects.count() == 4
    assert Purchase.objects.count() == 2 + len(oks(results)) - 4
    for purchase in purchases:
        purchase.refresh_from_db()
        assert purchase.is_fully_refunded
    assert assert_ledger_holds(silver_500) >= 0


def test_same_phone_enrolled_by_ten_threads_at_once(cashier_actor):
    results = race(
        10,
        lambda i: member_enroll(
            phone="8 912 345-67-89",
            first_name="Анна",
            email=f"anna{i}@example.ru",
            consents={"sms": True},
            actor=cashier_actor,
        ),
    )

    assert len(oks(results)) == 1
    assert [type(e) for e in errors(results)] == [MemberExists] * 9
    member = Member.objects.get()
    assert member.consents.count() == 1
