from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, translation

from loyalty.actors import Actor
from members.models import Channel, LedgerEntry, Purchase
from members.services import checkout_commit
from members.services.points import ledger_sum
from tests import factories
from tests.cashier.desk import confirm, evaluate, receipt, rows_of
from tests.cashier.html import amounts

pytestmark = pytest.mark.django_db


def assert_nothing_recorded(member, balance=500):
    member.refresh_from_db()
    assert Purchase.objects.count() == 0
    assert member.points_balance == balance
    assert ledger_sum(member) == balance


def test_member_panel_shows_tier_balance_progress_and_burning_points(desk, silver_member, store):
    # when
    response = desk.get(reverse("cashier:member", args=[silver_member.card_number]))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    progress = response.context["progress"]
    assert progress.next_tier.name == "Золотой"
    assert progress.next_tier_remaining == Decimal("20000.00")
    assert progress.expiring.amount == 500
    assert "Анна Смирнова" in html
    assert silver_member.card_number in html
    assert "Серебряный" in html
    assert "5% discount" in html
    assert '<dd data-testid="points-balance">500</dd>' in html
    assert "20,000.00 ₽ to Золотой" in html
    with translation.override("en"):
        expiry = formats.date_format(progress.expiring.date, "SHORT_DATE_FORMAT")
    assert f"500 points on {expiry}" in html


def test_worked_example_through_the_desk(desk, silver_member, store, cashier):
    # given the cashier has typed the receipt and asked for the most points
    member = silver_member
    preview = evaluate(desk, member, {**receipt(store), "spend_max": "1"})

    # then the breakdown shows every step of PRODUCT.md's example
    assert preview.status_code == 200
    assert rows_of(preview) == {
        "total": Decimal("3000.00"),
        "base-tier": Decimal("150.00"),
        "points-max": 500,
        "points-spent": 500,
        "paid": Decimal("2350.00"),
        "points-earned": 47,
        "tier-spend": Decimal("2850.00"),
    }
    html = preview.content.decode()
    assert "Tier discount: Серебряный" in html
    assert "−150.00&nbsp;₽" in html
    assert "2,350.00&nbsp;₽" in html
    assert 'value="500"' in html  # the points field is filled with the maximum
    assert_nothing_recorded(member)

    # when the cashier confirms
    response = confirm(desk, member, receipt(store, points_to_spend="500"))

    # then one purchase with exactly those figures, and the printable summary
    purchase = Purchase.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cashier:purchase", args=[purchase.pk])
    assert (
        purchase.total,
        purchase.base_discount,
        purchase.points_max,
        purchase.points_spent,
        purchase.paid,
        purchase.points_earned,
        purchase.tier_spend,
    ) == (
        Decimal("3000.00"),
        Decimal("150.00"),
        500,
        500,
        Decimal("2350.00"),
        47,
        Decimal("2850.00"),
    )
    assert purchase.channel == Channel.CASHIER
    assert purchase.recorded_by == cashier
    member.refresh_from_db()
    assert member.points_balance == 47
    assert ledger_sum(member) == 47

    summary = desk.get(response["Location"])
    assert rows_of(summary) == rows_of(preview)
    html = summary.content.decode()
    assert amounts(html) == {
        "total": "3,000.00&nbsp;₽",
        "base-tier": "−150.00&nbsp;₽",
        "points-max": "500",
        "points-spent": "−500",
        "paid": "2,350.00&nbsp;₽",
        "points-earned": "+47",
        "tier-spend": "+2,850.00&nbsp;₽",
    }
    assert '<dd data-testid="points-balance">47</dd>' in html
    # 2,850 of spend after this receipt: 17,150 ₽ more to Gold
    assert "17,150.00 ₽ to Золотой" in html


def test_evaluate_records_nothing(desk, silver_member, store):
    # when
    response = evaluate(desk, silver_member, receipt(store, points_to_spend="100"))

    # then
    assert response.status_code == 200
    assert rows_of(response)["paid"] == Decimal("2750.00")
    assert '<span id="points-allowed" hx-swap-oob="true">500</span>' in response.content.decode()
    assert_nothing_recorded(silver_member)


def test_evaluate_without_a_total_says_nothing_yet(desk, silver_member, store):
    # when
    response = evaluate(desk, silver_member, {"store": store.pk, "total": ""})

    # then
    assert response.status_code == 200
    assert response.context["rows"] is None
    assert "Type the total to see the breakdown." in response.content.decode()


def test_evaluate_shows_points_over_limit_next_to_the_field(desk, silver_member, store):
    # when the cashier asks for more than 30% of 1,000 − 5%
    response = evaluate(desk, silver_member, receipt(store, total="1000", points_to_spend="400"))

    # then
    assert response.context["rows"] is None
    assert response.context["form"].errors == {
        "points_to_spend": ["At most 285 points can pay this receipt."]
    }
    assert "At most 285 points can pay this receipt." in response.content.decode()
    assert_nothing_recorded(silver_member)


def test_double_confirm_records_one_purchase(desk, silver_member, store):
    # given the same confirm sent twice (a double click)
    data = receipt(store, points_to_spend="500")

    # when
    first = confirm(desk, silver_member, data)
    second = confirm(desk, silver_member, data)

    # then
    purchase = Purchase.objects.get()
    assert (
        first["Location"] == second["Location"] == reverse("cashier:purchase", args=[purchase.pk])
    )
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47
    assert (
        LedgerEntry.objects.filter(member=silver_member, kind=LedgerEntry.Kind.SPEND).count() == 1
    )


def test_same_receipt_with_other_data_is_a_form_error(desk, silver_member, store):
    # given a recorded receipt R-1
    confirm(desk, silver_member, receipt(store, points_to_spend="500"))
    silver_member.refresh_from_db()
    before = (Purchase.objects.count(), silver_member.points_balance, ledger_sum(silver_member))

    # when the same number comes with another total
    response = confirm(desk, silver_member, receipt(store, total="2000.00", points_to_spend="0"))

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "receipt_number": [
            "This receipt number was already recorded in this store with other data."
        ]
    }
    silver_member.refresh_from_db()
    after = (Purchase.objects.count(), silver_member.points_balance, ledger_sum(silver_member))
    assert after == before == (1, 47, 47)
    assert Purchase.objects.get().total == Decimal("3000.00")


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"total": "abc"}, {"total": ["Enter the amount as a decimal number, e.g. 1500.00."]}),
        ({"total": "-5"}, {"total": ["The amount must be between 0 and 9999999999.99."]}),
        ({"total": "10.005"}, {"total": ["The amount can have at most two decimal places."]}),
        ({"total": "0"}, {"total": ["The receipt total must be more than zero."]}),
        ({"total": ""}, {"total": ["This field is required."]}),
        (
            {"points_to_spend": "-1"},
            {"points_to_spend": ["Ensure this value is greater than or equal to 0."]},
        ),
        ({"points_to_spend": "1.5"}, {"points_to_spend": ["Enter a whole number."]}),
        (
            {"points_to_spend": "501"},
            {"points_to_spend": ["At most 500 points can pay this receipt."]},
        ),
        ({"store": "999999"}, {"store": ["Unknown or inactive store."]}),
        ({"receipt_number": "  "}, {"receipt_number": ["This field is required."]}),
    ],
)
def test_bad_input_is_a_form_error_and_records_nothing(
    desk, silver_member, store, overrides, errors
):
    # when
    response = confirm(desk, silver_member, receipt(store, **overrides))

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == errors
    assert_nothing_recorded(silver_member)


def test_inactive_store_is_refused(desk, silver_member):
    # given
    closed = factories.StoreFactory(code="OLD-01", is_active=False)

    # when
    response = confirm(desk, silver_member, receipt(closed))

    # then
    assert response.context["form"].errors == {"store": ["Unknown or inactive store."]}
    assert_nothing_recorded(silver_member)


def test_amount_typed_with_spaces_and_a_comma(desk, silver_member, store):
    # when
    response = confirm(desk, silver_member, receipt(store, total="3 000,00", points_to_spend="0"))

    # then
    assert response.status_code == 302
    assert Purchase.objects.get().total == Decimal("3000.00")


def test_the_cashiers_last_store_is_remembered(desk, silver_member, store):
    # given
    other = factories.StoreFactory(code="SPB-01")
    confirm(desk, silver_member, receipt(other, points_to_spend="0"))

    # when
    response = desk.get(reverse("cashier:member", args=[silver_member.card_number]))

    # then
    assert response.context["form"]["store"].value() == other.pk


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_member_panel_costs_the_same_queries_for_few_and_many_purchases(
    desk, silver_member, store, cashier
):
    # given
    url = reverse("cashier:member", args=[silver_member.card_number])
    actor = Actor.for_user(cashier, Channel.CASHIER)
    checkout_commit(
        member=silver_member, store=store, receipt_number="Q-0", total="100.00", actor=actor
    )
    few = _queries(desk, url)
    for n in range(1, 15):
        checkout_commit(
            member=silver_member, store=store, receipt_number=f"Q-{n}", total="100.00", actor=actor
        )

    # when
    many = _queries(desk, url)

    # then
    assert many == few
    # 12 + the member's personal promo codes, campaign offers, N-th purchase counters,
    # closed-sale invitations, and the beneficiary categories of the "proof checked" form
    assert many <= 17


def test_evaluate_and_summary_cost_a_small_fixed_number_of_queries(desk, silver_member, store):
    # given
    confirm(desk, silver_member, receipt(store, points_to_spend="500"))
    purchase = Purchase.objects.get()

    # when
    summary = _queries(desk, reverse("cashier:purchase", args=[purchase.pk]))
    with CaptureQueriesContext(connection) as ctx:
        evaluate(desk, silver_member, receipt(store, receipt_number="R-2"))

    # then
    # 11 + the N-th purchase counters, and the coupons and campaign points it earned
    assert summary <= 14
    # 8 + the member's personal promo codes, campaign offers, due N-th purchase rewards
    # and open closed sales
    assert len(ctx.captured_queries) <= 12


def test_member_panel_shows_the_beneficiary_category(desk, silver_member):
    # given
    category = factories.BeneficiaryCategoryFactory(name="Пенсионеры", discount_percent="7")
    silver_member.beneficiary_category = category
    silver_member.save(update_fields=["beneficiary_category"])

    # when
    html = desk.get(reverse("cashier:member", args=[silver_member.card_number])).content.decode()

    # then
    assert "Пенсионеры · 7% discount" in html
    assert "proof not verified" in html


def test_evaluate_shows_an_unknown_store_next_to_the_field(desk, silver_member):
    # when
    response = evaluate(desk, silver_member, {"store": "999999", "total": "100"})

    # then
    assert response.context["rows"] is None
    assert (
        '<div class="field-errors" id="errors-store" role="alert" hx-swap-oob="true">'
        "<p>Unknown or inactive store.</p></div>"
    ) in response.content.decode()
    assert_nothing_recorded(silver_member)


def test_recent_purchases_link_to_the_receipt_and_the_refund(desk, silver_member, store):
    # given
    confirm(desk, silver_member, receipt(store, points_to_spend="0"))
    purchase = Purchase.objects.get()

    # when
    html = desk.get(reverse("cashier:member", args=[silver_member.card_number])).content.decode()

    # then
    assert f'href="{reverse("cashier:purchase", args=[purchase.pk])}"' in html
    assert f'href="{reverse("cashier:refund", args=[purchase.pk])}"' in html
