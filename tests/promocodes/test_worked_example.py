from decimal import Decimal

from loyalty.actors import Actor
from members.models import Channel
from members.services import checkout_commit
from members.services.points import ledger_sum
from promocodes.models import PromoCode, Redemption


def test_worked_example_with_the_10_percent_code_through_the_service(
    silver_member_with_500, ten_percent_code, store, cashier
):
    # given the worked example's member and a 10% code
    member = silver_member_with_500

    # when a 3,000 ₽ receipt with the code spends every point allowed
    result = checkout_commit(
        member=member,
        store=store,
        receipt_number="R-1",
        total="3000.00",
        points_to_spend=None,
        code=ten_percent_code.code.lower(),
        actor=Actor.for_user(cashier, Channel.CASHIER),
    )

    # then D1 150.00, D2 285.00, S 500, P 2,065.00, E 41, tier spend +2,565.00
    b = result.breakdown
    assert b.base_discount == Decimal("150.00")
    assert b.code_discount == Decimal("285.00")
    assert b.points_max == 500  # min(balance 500, cap floor(2,565 × 30%) = 769)
    assert b.points_spent == 500
    assert b.paid == Decimal("2065.00")
    assert b.points_earned == 41
    assert b.tier_spend == Decimal("2565.00")
    code = PromoCode.objects.get(pk=ten_percent_code.pk)
    assert code.uses == 1
    redemption = Redemption.objects.get(code=code)
    assert redemption.purchase == result.purchase
    assert redemption.discount == Decimal("285.00")
    member.refresh_from_db()
    assert member.points_balance == ledger_sum(member) == 41
