from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.actors import Actor
from members.models import Channel, Purchase, Refund
from members.services import checkout_commit
from members.services.points import ledger_sum
from tests.cashier.html import amounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def purchase(silver_member, store, cashier) -> Purchase:
    """The worked example: paid 2,350.00, spent 500, earned 47; balance 47 after it."""
    return checkout_commit(
        member=silver_member,
        store=store,
        receipt_number="R-1",
        total="3000.00",
        points_to_spend=500,
        actor=Actor.for_user(cashier, Channel.CASHIER),
    ).purchase


def refund(client, purchase, amount=""):
    return client.post(
        reverse("cashier:refund", args=[purchase.pk]),
        {"amount": amount, "refunded_before": str(purchase.refunded_paid)},
    )


def test_full_refund(desk, purchase, silver_member, cashier):
    # when the cashier leaves the amount empty
    response = refund(desk, purchase)

    # then
    done = Refund.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cashier:refund_done", args=[done.pk])
    assert (done.amount, done.money_withheld, done.money_refunded) == (
        Decimal("2350.00"),
        Decimal("0.00"),
        Decimal("2350.00"),
    )
    assert (done.points_taken_back, done.points_returned) == (47, 500)
    assert done.recorded_by == cashier
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 500
    assert ledger_sum(silver_member) == 500

    page = desk.get(response["Location"]).content.decode()
    assert amounts(page) == {
        "amount": "2,350.00&nbsp;₽",
        "withheld": "0.00&nbsp;₽",
        "refunded": "2,350.00&nbsp;₽",
        "points-taken-back": "47",
        "points-returned": "500",
    }


def test_partial_refund(desk, purchase, silver_member):
    # when half of the money paid is refunded
    response = refund(desk, purchase, "1175,00")

    # then
    assert response.status_code == 302
    done = Refund.objects.get()
    assert (done.amount, done.money_withheld, done.money_refunded) == (
        Decimal("1175.00"),
        Decimal("0.00"),
        Decimal("1175.00"),
    )
    assert (done.points_taken_back, done.points_returned) == (23, 250)
    purchase.refresh_from_db()
    assert purchase.refunded_paid == Decimal("1175.00")
    assert not purchase.is_fully_refunded
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47 - 23 + 250


def test_refund_withholds_the_value_of_earned_points_already_spent(desk, member, store, cashier):
    # given a Base member earned 30 points on 3,000 ₽ (1%) and spent them on the next receipt
    actor = Actor.for_user(cashier, Channel.CASHIER)
    first = checkout_commit(
        member=member, store=store, receipt_number="W-1", total="3000.00", actor=actor
    ).purchase
    member.refresh_from_db()
    checkout_commit(
        member=member,
        store=store,
        receipt_number="W-2",
        total="1000.00",
        points_to_spend=30,
        actor=actor,
    )
    member.refresh_from_db()
    assert member.points_balance == 18  # Silver now: 2% of 920.00

    # when the first purchase is refunded in full
    response = refund(desk, first)

    # then 18 points are taken back and the 12 missing are withheld from the money
    done = Refund.objects.get()
    assert response["Location"] == reverse("cashier:refund_done", args=[done.pk])
    assert (done.points_taken_back, done.points_returned) == (30, 0)
    assert (done.amount, done.money_withheld, done.money_refunded) == (
        Decimal("3000.00"),
        Decimal("12.00"),
        Decimal("2988.00"),
    )
    member.refresh_from_db()
    assert member.points_balance == 0
    assert ledger_sum(member) == 0
    page = desk.get(response["Location"]).content.decode()
    assert amounts(page) == {
        "amount": "3,000.00&nbsp;₽",
        "withheld": "−12.00&nbsp;₽",
        "refunded": "2,988.00&nbsp;₽",
        "points-taken-back": "30",
        "points-returned": "0",
    }


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        ("3000", "At most 2350.00 can still be refunded for this purchase."),
        ("0", "The refund amount must be more than zero."),
        ("abc", "Enter the amount as a decimal number, e.g. 1500.00."),
    ],
)
def test_bad_refund_amount_is_a_form_error_and_changes_nothing(
    desk, purchase, silver_member, amount, error
):
    # when
    response = refund(desk, purchase, amount)

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"amount": [error]}
    assert Refund.objects.count() == 0
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47


def test_refund_of_a_fully_refunded_purchase_is_refused(desk, purchase, silver_member):
    # given
    refund(desk, purchase)
    purchase.refresh_from_db()

    # when
    response = refund(desk, purchase)

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "__all__": ["This purchase has already been fully refunded."]
    }
    assert Refund.objects.count() == 1


def test_second_click_on_refund_is_refused_as_stale(desk, purchase, silver_member):
    # given the form as it was opened before the first refund
    stale = {"amount": "100", "refunded_before": "0.00"}
    desk.post(reverse("cashier:refund", args=[purchase.pk]), stale)

    # when the same form is sent again
    response = desk.post(reverse("cashier:refund", args=[purchase.pk]), stale)

    # then the page opens again as the purchase is now, saying why, and nothing is refunded
    assert response.status_code == 302
    assert response["Location"] == reverse("cashier:refund", args=[purchase.pk])
    page = desk.get(response["Location"])
    assert [m.level_tag for m in page.context["messages"]] == ["warning"]
    assert page.context["form"]["refunded_before"].value() == purchase.refunds.get().amount
    assert Refund.objects.count() == 1
