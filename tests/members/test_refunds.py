"""Refunds, full and partial (PRODUCT.md mechanic 3): earned points taken back, spent points
returned to their lots, the value of earned points already spent withheld from the money."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db.models import Sum

from loyalty.actors import Actor
from members.errors import RefundNotAllowed
from members.models import LedgerEntry, PointsLot, Purchase, Refund
from members.services import points_adjust, points_expire, purchase_refund
from members.services.points import ledger_sum
from tests.members.conftest import T0, assert_ledger_holds

D = Decimal
DAY = dt.timedelta(days=1)


def refund_figures(refund: Refund):
    return (
        refund.amount,
        refund.money_withheld,
        refund.money_refunded,
        refund.points_taken_back,
        refund.points_returned,
        refund.tier_spend,
    )


def purchase_figures(purchase: Purchase):
    purchase.refresh_from_db()
    return (
        purchase.refunded_paid,
        purchase.points_taken_back,
        purchase.points_returned,
        purchase.tier_spend_refunded,
        purchase.is_fully_refunded,
    )


def state():
    return (
        list(
            Purchase.objects.order_by("pk").values_list("pk", "refunded_paid", "is_fully_refunded")
        ),
        Refund.objects.count(),
        list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount")),
        list(PointsLot.objects.order_by("pk").values_list("pk", "remaining")),
        list(
            PointsLot.objects.values("member_id")
            .annotate(s=Sum("remaining"))
            .order_by("member_id")
            .values_list("member_id", "s")
        ),
    )


@pytest.fixture
def worked_example(silver, grant, buy):
    """PRODUCT.md without a code: Silver, 500 points, 3,000 ₽, all allowed points spent."""
    grant(silver, 500)
    purchase = buy(silver, "3000.00", points=None).purchase
    assert (purchase.points_spent, purchase.paid, purchase.points_earned) == (500, D("2350.00"), 47)
    assert assert_ledger_holds(silver) == 47
    return purchase


def test_full_refund_reverses_the_purchase(worked_example, silver, cashier_actor, cashier):
    # when
    refund = purchase_refund(purchase=worked_example, actor=cashier_actor)

    # then
    assert refund_figures(refund) == (
        D("2350.00"),
        D("0.00"),
        D("2350.00"),
        47,
        500,
        D("2850.00"),
    )
    assert (refund.channel, refund.recorded_by) == ("cashier", cashier)
    assert purchase_figures(worked_example) == (D("2350.00"), 47, 500, D("2850.00"), True)
    assert sorted(
        LedgerEntry.objects.filter(refund=refund).values_list("kind", "amount", "lot__purchase")
    ) == [("refund", -47, worked_example.pk), ("refund", 500, None)]
    assert assert_ledger_holds(silver) == 500


def test_half_and_then_the_rest(worked_example, silver, cashier_actor):
    # when half the money comes back
    first = purchase_refund(purchase=worked_example, amount="1175.00", actor=cashier_actor)

    # then half the points move, earned points rounding down
    assert refund_figures(first) == (D("1175.00"), D("0.00"), D("1175.00"), 23, 250, D("1425.00"))
    assert purchase_figures(worked_example) == (D("1175.00"), 23, 250, D("1425.00"), False)
    assert assert_ledger_holds(silver) == 47 - 23 + 250

    # when the rest comes back
    rest = purchase_refund(purchase=worked_example, actor=cashier_actor)

    # then the two add up to the whole purchase
    assert refund_figures(rest) == (D("1175.00"), D("0.00"), D("1175.00"), 24, 250, D("1425.00"))
    assert purchase_figures(worked_example) == (D("2350.00"), 47, 500, D("2850.00"), True)
    assert assert_ledger_holds(silver) == 500


def test_uneven_partial_refunds_add_up_exactly(worked_example, silver, cashier_actor):
    # when 100.00, then 1,000.00, then the rest (1,250.00) come back
    first = purchase_refund(purchase=worked_example, amount="100", actor=cashier_actor)
    second = purchase_refund(purchase=worked_example, amount="1000.00", actor=cashier_actor)
    third = purchase_refund(purchase=worked_example, actor=cashier_actor)

    # then each takes its proportional share of the cumulative refund
    assert refund_figures(first) == (D("100.00"), D("0.00"), D("100.00"), 2, 21, D("121.28"))
    assert refund_figures(second) == (
        D("1000.00"),
        D("0.00"),
        D("1000.00"),
        20,
        213,
        D("1212.76"),
    )
    assert refund_figures(third) == (
        D("1250.00"),
        D("0.00"),
        D("1250.00"),
        25,
        266,
        D("1515.96"),
    )
    assert purchase_figures(worked_example) == (D("2350.00"), 47, 500, D("2850.00"), True)
    assert assert_ledger_holds(silver) == 500


def test_refund_after_the_earned_points_were_spent_withholds_their_value(
    member, buy, cashier_actor
):
    # given a Base member who earned 100 on 10,000 ₽ and lost them all in an adjustment
    purchase = buy(member, "10000").purchase
    assert purchase.points_earned == 100
    points_adjust(member=member, amount=-100, reason="Списание", actor=cashier_actor)
    assert assert_ledger_holds(member) == 0

    # when the purchase is refunded in full
    refund = purchase_refund(purchase=purchase, actor=cashier_actor)

    # then the 100 points' value stays with the shop and the balance stays at zero
    assert refund_figures(refund) == (
        D("10000.00"),
        D("100.00"),
        D("9900.00"),
        100,
        0,
        D("10000.00"),
    )
    assert LedgerEntry.objects.filter(refund=refund).count() == 0
    assert assert_ledger_holds(member) == 0


def test_refund_takes_what_is_left_then_withholds_the_rest(member, buy, cashier_actor):
    # given a Base member who earned 100 on 10,000 ₽ (Silver since), spent them on the next
    # receipt and earned 17 there (2% of 850)
    first = buy(member, "10000").purchase
    buy(member, "1000", points=100)
    assert assert_ledger_holds(member) == 17

    # when the first purchase is refunded in full
    refund = purchase_refund(purchase=first, actor=cashier_actor)

    # then 17 points are taken and 83 ₽ withheld
    assert (refund.money_withheld, refund.money_refunded) == (D("83.00"), D("9917.00"))
    assert refund.points_taken_back == 100
    assert LedgerEntry.objects.filter(refund=refund).aggregate(s=Sum("amount"))["s"] == -17
    assert assert_ledger_holds(member) == 0


def test_partial_refund_withholds_a_proportional_value(member, buy, cashier_actor):
    # given 100 earned on 10,000 ₽ and all of them gone
    purchase = buy(member, "10000").purchase
    points_adjust(member=member, amount=-100, reason="Списание", actor=cashier_actor)

    # when a quarter is refunded
    refund = purchase_refund(purchase=purchase, amount="2500.00", actor=cashier_actor)

    # then
    assert (refund.points_taken_back, refund.money_withheld, refund.money_refunded) == (
        25,
        D("25.00"),
        D("2475.00"),
    )
    assert assert_ledger_holds(member) == 0


def test_refund_gives_spent_points_back_to_their_lots(
    member, grant, buy, cashier_actor, time_machine
):
    # given lots A (100, older) and B (400); a 1,000 ₽ receipt spends 300 (A 100, B 200)
    # and earns 7 (1% of 700) on a new lot C
    time_machine.move_to(T0, tick=False)
    lot_a = grant(member, 100)
    time_machine.shift(DAY)
    lot_b = grant(member, 400)
    time_machine.shift(DAY)
    purchase = buy(member, "1000", points=300).purchase
    lot_c = PointsLot.objects.get(purchase=purchase)

    def remaining():
        return [PointsLot.objects.get(pk=lot.pk).remaining for lot in (lot_a, lot_b, lot_c)]

    assert remaining() == [0, 200, 7]

    # when half is refunded: 150 go back, to the lot that lives longest first (B)
    purchase_refund(purchase=purchase, amount="350.00", actor=cashier_actor)

    # then 3 earned points come off C
    assert remaining() == [0, 350, 4]
    assert assert_ledger_holds(member) == 354

    # when the rest is refunded
    purchase_refund(purchase=purchase, actor=cashier_actor)

    # then each lot holds what it held before the purchase
    assert remaining() == [100, 400, 0]
    assert assert_ledger_holds(member) == 500


def test_points_returned_to_a_burnt_lot_burn_at_the_next_expiry(
    member, grant, buy, cashier_actor, time_machine
):
    # given 100 points spent on day 300 from a lot that burns on day 365
    time_machine.move_to(T0, tick=False)
    lot = grant(member, 100)
    time_machine.shift(300 * DAY)
    purchase = buy(member, "1000", points=100).purchase  # earns 9 on a new lot
    time_machine.shift(70 * DAY)
    assert points_expire() == 0

    # when the purchase is refunded in full after the lot's life
    purchase_refund(purchase=purchase, actor=cashier_actor)

    # then the points go back to their lot and burn with it at the next expiry
    lot.refresh_from_db()
    assert lot.remaining == 100
    assert assert_ledger_holds(member) == 100
    assert points_expire() == 100
    assert assert_ledger_holds(member) == 0


# --- Refused refunds ------------------------------------------------------------------------


def test_second_full_refund_is_refused_and_changes_nothing(worked_example, cashier_actor):
    # given
    purchase_refund(purchase=worked_example, actor=cashier_actor)
    before = state()

    # when / then
    for amount in (None, "1.00"):
        with pytest.raises(RefundNotAllowed) as exc_info:
            purchase_refund(purchase=worked_example, amount=amount, actor=cashier_actor)
        assert exc_info.value.code == "already_refunded"
    assert state() == before


def test_refund_above_what_is_left_is_refused(worked_example, cashier_actor):
    # given 2,000 of 2,350 refunded
    purchase_refund(purchase=worked_example, amount="2000.00", actor=cashier_actor)
    before = state()

    # when / then
    with pytest.raises(RefundNotAllowed) as exc_info:
        purchase_refund(purchase=worked_example, amount="350.01", actor=cashier_actor)
    assert exc_info.value.code == "refund_exceeds_paid"
    assert state() == before

    # and exactly what is left is fine
    purchase_refund(purchase=worked_example, amount="350.00", actor=cashier_actor)
    assert purchase_figures(worked_example)[-1] is True


def test_refund_by_a_partner_uses_the_stale_purchase_safely(worked_example, partner):
    # given a purchase object read before another refund was recorded
    stale = Purchase.objects.get(pk=worked_example.pk)
    purchase_refund(purchase=worked_example, amount="2000.00", actor=Actor.for_partner(partner))

    # then the refund is checked against the stored running total, not the stale copy
    with pytest.raises(RefundNotAllowed):
        purchase_refund(purchase=stale, amount="2000.00", actor=Actor.for_partner(partner))
    refund = purchase_refund(purchase=stale, actor=Actor.for_partner(partner))
    assert (refund.amount, refund.channel, refund.partner) == (D("350.00"), "partner", partner)
    assert ledger_sum(worked_example.member) == 500


def test_withheld_kopecks_that_a_float_cannot_hold_add_up(member, buy, cashier_actor):
    # given 10 points earned on 1,024.08 ₽ and gone; 1,024.08 − 10 is 1,014.0799… as a float
    purchase = buy(member, "1024.08").purchase
    points_adjust(member=member, amount=-10, reason="Списание", actor=cashier_actor)

    # when
    refund = purchase_refund(purchase=purchase, actor=cashier_actor)

    # then
    refund.refresh_from_db()
    assert (refund.amount, refund.money_withheld, refund.money_refunded) == (
        D("1024.08"),
        D("10.00"),
        D("1014.08"),
    )


def test_refund_seen_stale_is_refused_and_changes_nothing(worked_example, cashier_actor):
    # given the page was opened before another cashier refunded 100.00
    seen = worked_example.refunded_paid
    purchase_refund(purchase=worked_example, amount="100.00", actor=cashier_actor)
    before = state()

    # when the first page submits what it saw
    with pytest.raises(RefundNotAllowed) as exc_info:
        purchase_refund(
            purchase=worked_example, amount="100.00", actor=cashier_actor, expected_refunded=seen
        )

    # then
    assert exc_info.value.code == "refund_stale"
    assert state() == before


def test_refund_takes_back_its_own_lot_even_past_its_life(member, buy, grant, cashier_actor):
    # given a 1,000.00 purchase earning 10 points (Base, 1%) whose lot is past its life but
    # not yet burnt, and 50 other points that burn later
    with time_machine.travel(T0, tick=False):
        purchase = buy(member, "1000.00").purchase
    with time_machine.travel(T0 + 300 * DAY, tick=False):
        grant(member, 50)
    own_lot = PointsLot.objects.get(purchase=purchase)

    # when the purchase is refunded after the own lot's burn date
    with time_machine.travel(own_lot.expires_at + DAY, tick=False):
        refund = purchase_refund(purchase=purchase, actor=cashier_actor)

    # then the 10 points come off the purchase's own lot, not the member's newer points
    own_lot.refresh_from_db()
    assert own_lot.remaining == 0
    assert refund.money_withheld == D("0.00")
    assert assert_ledger_holds(member) == 50
