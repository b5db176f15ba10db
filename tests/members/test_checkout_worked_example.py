from decimal import Decimal

from loyalty.actors import Actor
from members.models import Channel, LedgerEntry
from members.services import checkout_commit, checkout_evaluate
from members.services.points import ledger_sum


def test_worked_example_without_code_through_the_service(silver_member_with_500, store, cashier):
    # given a Silver member (5%, earns 2%) with 500 points
    member = silver_member_with_500

    # when a 3,000 ₽ receipt spends every point allowed
    result = checkout_commit(
        member=member,
        store=store,
        receipt_number="R-1",
        total="3000.00",
        points_to_spend=None,
        actor=Actor.for_user(cashier, Channel.CASHIER),
    )

    # then
    b = result.breakdown
    assert b.base_discount == Decimal("150.00")
    assert b.code_discount == Decimal("0.00")
    assert b.points_max == 500
    assert b.points_spent == 500
    assert b.paid == Decimal("2350.00")
    assert b.points_earned == 47
    assert b.tier_spend == Decimal("2850.00")
    member.refresh_from_db()
    assert member.points_balance == 47
    assert ledger_sum(member) == 47
    assert result.purchase.tier_spend == Decimal("2850.00")
    assert LedgerEntry.objects.filter(member=member, kind=LedgerEntry.Kind.SPEND).count() == 1


def test_evaluate_changes_nothing(silver_member_with_500, store):
    member = silver_member_with_500

    result = checkout_evaluate(member=member, store=store, total="3000.00", points_to_spend=500)

    assert result.breakdown.paid == Decimal("2350.00")
    member.refresh_from_db()
    assert member.points_balance == 500
    assert member.purchases.count() == 0
