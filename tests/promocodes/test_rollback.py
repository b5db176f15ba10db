"""Rollback on refund: a full refund gives the code back once, if it is still valid; a
partial one does not; bonus points the code granted are taken back as far as unspent."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from loyalty.actors import Actor
from members.errors import RefundNotAllowed
from members.models import Channel, LedgerEntry, PointsLot
from members.services import purchase_refund
from promocodes.models import PromoCode, Redemption
from promocodes.services import promo_code_rollback
from tests import factories
from tests.members.conftest import assert_ledger_holds
from tests.promocodes.checkout import commit


@pytest.fixture
def actor(cashier) -> Actor:
    return Actor.for_user(cashier, Channel.CASHIER)


def code_state(code: PromoCode) -> tuple[int, str]:
    code.refresh_from_db()
    return code.uses, code.status


def redemption_state() -> list[tuple]:
    return list(
        Redemption.objects.order_by("pk").values_list(
            "pk", "purchase_id", "rolled_back_at", "is_code_returned"
        )
    )


@pytest.fixture
def redeemed(member, store, actor):
    """A single-use 10 % code used on a 1,000 ₽ receipt (Base member: D2 = 100.00)."""
    code = factories.PromoCodeFactory()
    result = commit(member, "1000.00", store=store, actor=actor, code=code.code)
    assert result.breakdown.code_discount == Decimal("100.00")
    assert code_state(code) == (1, "active")
    return code, result.purchase


def test_a_full_refund_gives_the_code_back(redeemed, member, store, actor):
    # given a receipt that used a code
    code, purchase = redeemed

    # when the whole receipt is refunded
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1), tick=False):
        purchase_refund(purchase=purchase, actor=actor)
        refunded_at = timezone.now()

    # then the code has its use back and the redemption records the rollback
    assert code_state(code) == (0, "active")
    redemption = Redemption.objects.get()
    assert redemption.rolled_back_at == refunded_at
    assert redemption.is_code_returned is True

    # and the code can be used again, on another receipt
    again = commit(member, "1000.00", store=store, actor=actor, receipt="R-2", code=code.code)
    assert again.breakdown.code_discount == Decimal("100.00")
    assert code_state(code) == (1, "active")
    assert Redemption.objects.count() == 2


def test_a_second_rollback_changes_nothing(redeemed, actor):
    # given a fully refunded receipt whose code was given back
    code, purchase = redeemed
    purchase_refund(purchase=purchase, actor=actor)
    before = (code_state(code), redemption_state())

    # when the rollback is called again (a retried task, a second refund event)
    returned = promo_code_rollback(purchase=purchase, actor=actor)

    # then it reports nothing given back and changes nothing
    assert returned is False
    assert (code_state(code), redemption_state()) == before
    assert code_state(code) == (0, "active")


def test_a_second_rollback_after_the_code_was_used_again_does_not_free_it(
    redeemed, member, store, actor
):
    # given a code given back by a refund and then used on another receipt
    code, purchase = redeemed
    purchase_refund(purchase=purchase, actor=actor)
    commit(member, "1000.00", store=store, actor=actor, receipt="R-2", code=code.code)
    before = redemption_state()

    # when the first receipt's rollback runs again
    returned = promo_code_rollback(purchase=purchase, actor=actor)

    # then the second use stands
    assert returned is False
    assert code_state(code) == (1, "active")
    assert redemption_state() == before


def test_a_second_full_refund_is_refused_and_the_code_stays_given_back_once(redeemed, actor):
    # given
    code, purchase = redeemed
    purchase_refund(purchase=purchase, actor=actor)
    before = (code_state(code), redemption_state())

    # when
    with pytest.raises(RefundNotAllowed) as caught:
        purchase_refund(purchase=purchase, actor=actor)

    # then
    assert caught.value.code == "already_refunded"
    assert (code_state(code), redemption_state()) == before


def test_a_partial_refund_does_not_give_the_code_back(redeemed, actor):
    # given a receipt of 900.00 paid that used a code
    code, purchase = redeemed
    assert purchase.paid == Decimal("900.00")

    # when 300.00 of it is refunded
    purchase_refund(purchase=purchase, amount="300.00", actor=actor)

    # then the code stays used and the redemption untouched
    assert code_state(code) == (1, "active")
    assert redemption_state() == [(Redemption.objects.get().pk, purchase.pk, None, False)]


def test_partial_refunds_that_add_up_to_the_whole_give_the_code_back_once(redeemed, actor):
    # given
    code, purchase = redeemed

    # when the receipt is refunded in two parts
    purchase_refund(purchase=purchase, amount="300.00", actor=actor)
    assert code_state(code) == (1, "active")
    purchase_refund(purchase=purchase, amount="600.00", actor=actor)

    # then the last part gave the code back
    assert code_state(code) == (0, "active")
    redemption = Redemption.objects.get()
    assert redemption.is_code_returned is True
    assert redemption.rolled_back_at is not None


def test_a_code_past_its_window_at_refund_time_is_not_given_back(member, store, actor):
    # given a code valid until tomorrow, used today
    now = timezone.now()
    batch = factories.CodeBatchFactory(valid_until=now + dt.timedelta(days=1))
    code = factories.PromoCodeFactory(batch=batch)
    purchase = commit(member, "1000.00", store=store, actor=actor, code=code.code).purchase

    # when the receipt is refunded the day after tomorrow
    later = now + dt.timedelta(days=2)
    with time_machine.travel(later, tick=False):
        purchase_refund(purchase=purchase, actor=actor)

    # then the rollback is recorded but the code stays used
    assert code_state(code) == (1, "active")
    redemption = Redemption.objects.get()
    assert redemption.rolled_back_at == later
    assert redemption.is_code_returned is False

    # and a second rollback changes nothing
    assert promo_code_rollback(purchase=purchase, actor=actor) is False
    assert Redemption.objects.get().rolled_back_at == later


@pytest.mark.parametrize("why", ["inactive", "expired"])
def test_a_switched_off_or_expired_code_is_not_given_back(why, redeemed, actor):
    # given a used code whose batch was switched off, or which the expiry task marked
    code, purchase = redeemed
    if why == "inactive":
        code.batch.is_active = False
        code.batch.save(update_fields=["is_active"])
    else:
        PromoCode.objects.filter(pk=code.pk).update(status=PromoCode.Status.EXPIRED)

    # when
    purchase_refund(purchase=purchase, actor=actor)

    # then
    assert code_state(code)[0] == 1
    redemption = Redemption.objects.get()
    assert redemption.rolled_back_at is not None
    assert redemption.is_code_returned is False


def test_a_refund_of_a_purchase_without_a_code_touches_no_code(member, store, actor):
    # given a code used on one receipt and another receipt without a code
    code = factories.PromoCodeFactory()
    commit(member, "1000.00", store=store, actor=actor, code=code.code)
    plain = commit(member, "500.00", store=store, actor=actor, receipt="R-2").purchase
    before = (code_state(code), redemption_state())

    # when the receipt without a code is refunded
    purchase_refund(purchase=plain, actor=actor)

    # then
    assert (code_state(code), redemption_state()) == before
    assert promo_code_rollback(purchase=plain, actor=actor) is False


def test_a_multi_use_code_gets_one_use_back(member, store, actor):
    # given a three-use code used on two receipts
    code = factories.PromoCodeFactory(batch=factories.CodeBatchFactory(uses_per_code=3))
    first = commit(member, "1000.00", store=store, actor=actor, code=code.code).purchase
    commit(member, "1000.00", store=store, actor=actor, receipt="R-2", code=code.code)

    # when the first is refunded
    purchase_refund(purchase=first, actor=actor)

    # then one use is back
    assert code_state(code) == (1, "active")
    returned = Redemption.objects.order_by("purchase_id").values_list("is_code_returned", flat=True)
    assert list(returned) == [True, False]


# --- Bonus points -----------------------------------------------------------------------


@pytest.fixture
def points_code():
    batch = factories.CodeBatchFactory(reward_kind="points", reward_value=Decimal("150"))
    return factories.PromoCodeFactory(batch=batch)


def test_a_refund_takes_the_bonus_points_back(points_code, member, store, actor):
    # given a Base member who got 150 bonus points and earned 10 on a 1,000 ₽ receipt
    purchase = commit(member, "1000.00", store=store, actor=actor, code=points_code.code).purchase
    assert assert_ledger_holds(member) == 160

    # when it is fully refunded
    purchase_refund(purchase=purchase, actor=actor)

    # then the earned 10 and the bonus 150 are taken back, from their own lots
    redemption = Redemption.objects.get()
    assert redemption.is_code_returned is True
    assert PointsLot.objects.get(pk=redemption.points_lot_id).remaining == 0
    taken = LedgerEntry.objects.get(lot_id=redemption.points_lot_id, amount__lt=0)
    assert (taken.kind, taken.amount, taken.purchase_id) == (
        LedgerEntry.Kind.REFUND,
        -150,
        purchase.pk,
    )
    assert assert_ledger_holds(member) == 0
    assert code_state(points_code) == (0, "active")


def test_bonus_points_already_spent_are_not_taken_from_other_points(
    points_code, member, store, actor
):
    # given a member who got 150 bonus points (and earned 10) on one receipt, then spent
    # 100 on a second receipt of 1,000 ₽ (10 from the earned lot, 90 of the bonus) and
    # earned 9 there
    first = commit(member, "1000.00", store=store, actor=actor, code=points_code.code).purchase
    second = commit(member, "1000.00", store=store, actor=actor, receipt="R-2", points=100)
    bonus_lot = Redemption.objects.get().points_lot
    second_lot = second.purchase.points_lots.get()
    assert PointsLot.objects.get(pk=bonus_lot.pk).remaining == 60
    assert second_lot.remaining == 9
    assert assert_ledger_holds(member) == 69

    # when the first receipt is fully refunded
    purchase_refund(purchase=first, actor=actor)

    # then its earned 10 points are taken back (its own lot is spent, so from the oldest
    # lot, the bonus one: 60 → 50), and of the bonus only the 50 still unspent; the 9
    # points the second receipt earned stay
    refund = first.refunds.get()
    assert (refund.points_taken_back, refund.money_withheld) == (10, Decimal("0.00"))
    assert list(
        LedgerEntry.objects.filter(purchase=first, kind=LedgerEntry.Kind.REFUND)
        .order_by("pk")
        .values_list("lot_id", "amount", "refund_id")
    ) == [(bonus_lot.pk, -10, refund.pk), (bonus_lot.pk, -50, None)]
    assert PointsLot.objects.get(pk=bonus_lot.pk).remaining == 0
    assert PointsLot.objects.get(pk=second_lot.pk).remaining == 9
    assert assert_ledger_holds(member) == 9
    assert Redemption.objects.get().is_code_returned is True


def test_bonus_points_all_spent_take_nothing_back(points_code, member, store, actor):
    # given a member who spent all 160 points (the bonus and the earned 10) on a second
    # receipt of 1,000 ₽, earning 8 there
    first = commit(member, "1000.00", store=store, actor=actor, code=points_code.code).purchase
    second = commit(member, "1000.00", store=store, actor=actor, receipt="R-2", points=160)
    assert second.breakdown.points_earned == 8
    assert assert_ledger_holds(member) == 8

    # when the first receipt is fully refunded
    purchase_refund(purchase=first, actor=actor)

    # then the earned 10 are taken back as far as the member has them (8, the rest
    # withheld as money), and nothing more for the spent bonus
    refund = first.refunds.get()
    assert refund.money_withheld == Decimal("2.00")
    assert not LedgerEntry.objects.filter(purchase=first, refund__isnull=True, amount__lt=0)
    assert assert_ledger_holds(member) == 0
