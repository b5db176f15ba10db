import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from loyalty.actors import Actor
from members.models import Channel, Purchase, Refund
from members.services import checkout_commit, points_adjust
from members.services.points import ledger_sum
from tests import factories
from tests.api.conftest import client_with_key

PURCHASES = "/api/v1/purchases/"


def refund_url(purchase_id) -> str:
    return f"{PURCHASES}{purchase_id}/refund/"


def test_read_a_purchase(api, purchase, silver_member):
    # when
    response = api.get(f"{PURCHASES}{purchase.pk}/")

    # then
    assert response.status_code == 200
    body = response.json()
    assert {k: v for k, v in body.items() if k not in ("steps", "created_at")} == {
        "purchase_id": purchase.pk,
        "card_number": silver_member.card_number,
        "store": "MSK-01",
        "receipt_number": "R-1",
        "total": "3000.00",
        "base_discount": "150.00",
        "code_discount": "0.00",
        "points_max": 500,
        "points_spent": 500,
        "paid": "2350.00",
        "points_earned": 47,
        "tier_spend": "2850.00",
        "refunded": "0.00",
        "refundable": "2350.00",
        "points_taken_back": 0,
        "points_returned": 0,
        "is_fully_refunded": False,
    }
    assert [s["rule"] for s in body["steps"]] == [
        "total",
        "tier",
        "points_spent",
        "paid",
        "points_earned",
    ]


def test_another_partners_purchase_is_404(purchase):
    # given a second partner with all scopes
    other = client_with_key(factories.partner_key(factories.PartnerFactory()))

    # when
    read = other.get(f"{PURCHASES}{purchase.pk}/")
    refund = other.post(refund_url(purchase.pk), {}, format="json")
    listed = other.get(PURCHASES)

    # then
    assert (read.status_code, read.json()["code"]) == (404, "purchase_not_found")
    assert (refund.status_code, refund.json()["code"]) == (404, "purchase_not_found")
    assert listed.json()["results"] == []
    assert Refund.objects.count() == 0


def test_cashier_purchases_are_not_listed(api, purchase, store, tiers, cashier):
    # given a purchase made at the cashier desk
    member = factories.MemberFactory(tier=tiers["Base"])
    desk = checkout_commit(
        member=member,
        store=store,
        receipt_number="DESK-1",
        total="100.00",
        actor=Actor.for_user(cashier, Channel.CASHIER),
    ).purchase

    # when
    listed = api.get(PURCHASES).json()["results"]
    read = api.get(f"{PURCHASES}{desk.pk}/")

    # then
    assert [p["purchase_id"] for p in listed] == [purchase.pk]
    assert read.status_code == 404


@pytest.mark.parametrize("path", ["abc/", "1.5/", "-1/", "99999999999999999999999/", "0/"])
def test_malformed_or_unknown_purchase_id_is_404(api, path):
    # when
    response = api.get(f"{PURCHASES}{path}")

    # then
    assert response.status_code == 404
    assert response.json()["code"] in {"not_found", "purchase_not_found"}


def test_list_purchases_filters(api, partner, tiers):
    # given two stores, two members, purchases in January and June
    msk = factories.StoreFactory(code="MSK-01")
    spb = factories.StoreFactory(code="SPB-01")
    anna = factories.MemberFactory(tier=tiers["Base"])
    ivan = factories.MemberFactory(tier=tiers["Base"])
    actor = Actor.for_partner(partner)
    made = {}
    for name, member, store, month in [
        ("anna-msk-jan", anna, msk, 1),
        ("ivan-spb-jan", ivan, spb, 1),
        ("anna-spb-jun", anna, spb, 6),
    ]:
        with time_machine.travel(dt.datetime(2026, month, 5, 12, tzinfo=dt.UTC), tick=False):
            made[name] = checkout_commit(
                member=member, store=store, receipt_number=name, total="100.00", actor=actor
            ).purchase.pk

    def names(params):
        response = api.get(PURCHASES, params)
        assert response.status_code == 200, response.json()
        by_id = {v: k for k, v in made.items()}
        return [by_id[p["purchase_id"]] for p in response.json()["results"]]

    # then newest first, filtered
    assert names({}) == ["anna-spb-jun", "ivan-spb-jan", "anna-msk-jan"]
    assert names({"card_number": anna.card_number}) == ["anna-spb-jun", "anna-msk-jan"]
    assert names({"store": "spb-01"}) == ["anna-spb-jun", "ivan-spb-jan"]
    assert names({"created_after": "2026-03-01"}) == ["anna-spb-jun"]
    assert names({"created_before": "2026-03-01T00:00:00+03:00", "store": "MSK-01"}) == [
        "anna-msk-jan"
    ]
    assert names({"receipt_number": "ivan-spb-jan"}) == ["ivan-spb-jan"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_purchases_costs_the_same_queries_for_3_and_30(
    api, partner, store, tiers, count, django_assert_num_queries
):
    # given
    actor = Actor.for_partner(partner)
    for n in range(count):
        member = factories.MemberFactory(tier=tiers["Base"])
        checkout_commit(
            member=member, store=store, receipt_number=f"R-{n}", total="10", actor=actor
        )

    # when / then: the key with its partner, the page with members and stores
    with django_assert_num_queries(2):
        response = api.get(PURCHASES)
    assert len(response.json()["results"]) == count


def test_full_refund(api, purchase, silver_member):
    # given the worked example: paid 2,350.00, spent 500, earned 47 (balance 47)

    # when
    response = api.post(refund_url(purchase.pk), {}, format="json")

    # then the spent points come back and the earned ones go
    assert response.status_code == 201
    refund = Refund.objects.get()
    body = response.json()
    assert {k: v for k, v in body.items() if k != "created_at"} == {
        "refund_id": refund.pk,
        "purchase_id": purchase.pk,
        "amount": "2350.00",
        "money_refunded": "2350.00",
        "money_withheld": "0.00",
        "points_taken_back": 47,
        "points_returned": 500,
        "purchase_refundable": "0.00",
        "is_fully_refunded": True,
    }
    assert refund.partner_id == purchase.partner_id
    assert refund.channel == "partner"
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 500
    assert ledger_sum(silver_member) == 500


def test_partial_refunds_then_the_rest(api, purchase, silver_member):
    # when 1,000.00 of the 2,350.00 paid is refunded, then the rest
    first = api.post(refund_url(purchase.pk), {"amount": "1000.00"}, format="json")
    rest = api.post(refund_url(purchase.pk), {}, format="json")

    # then the shares add up to the whole purchase
    assert first.status_code == 201
    assert (
        first.json()["amount"],
        first.json()["points_returned"],
        first.json()["points_taken_back"],
        first.json()["purchase_refundable"],
    ) == ("1000.00", 212, 20, "1350.00")
    assert rest.status_code == 201
    assert (
        rest.json()["amount"],
        rest.json()["points_returned"],
        rest.json()["points_taken_back"],
    ) == (
        "1350.00",
        288,
        27,
    )
    assert rest.json()["is_fully_refunded"] is True
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 500


def test_refund_withholds_the_value_of_earned_points_already_spent(
    api, checkout_body, silver_member
):
    # given a receipt paid in money only (earns 57) and a member who then spent every point
    committed = api.post(
        "/api/v1/checkout/commit/", {**checkout_body, "points_to_spend": 0}, format="json"
    ).json()
    assert committed["points_earned"] == 57
    points_adjust(member=silver_member, amount=-557, reason="test", actor=Actor.for_task("t"))

    # when
    response = api.post(refund_url(committed["purchase_id"]), {}, format="json")

    # then the 57 points cannot be taken back: their value is withheld
    assert response.status_code == 201
    assert response.json()["amount"] == "2850.00"
    assert response.json()["points_taken_back"] == 57
    assert response.json()["money_withheld"] == "57.00"
    assert response.json()["money_refunded"] == "2793.00"
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 0
    assert ledger_sum(silver_member) == 0


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        ("2350.01", 409, "refund_exceeds_paid"),
        ("0", 400, "invalid"),
        ("0.00", 400, "invalid"),
        ("-5", 400, "invalid"),
        ("1.005", 400, "invalid"),
        ("NaN", 400, "invalid"),
        (None, 400, "invalid"),
        (True, 400, "invalid"),
    ],
)
def test_refund_bad_amounts_change_nothing(api, purchase, silver_member, amount, status, code):
    # when
    response = api.post(refund_url(purchase.pk), {"amount": amount}, format="json")

    # then
    assert response.status_code == status
    assert response.json()["code"] == code
    assert Refund.objects.count() == 0
    purchase.refresh_from_db()
    assert purchase.refunded_paid == Decimal("0.00")
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47


def test_refund_of_a_fully_refunded_purchase_is_409(api, purchase):
    # given
    assert api.post(refund_url(purchase.pk), {}, format="json").status_code == 201

    # when
    response = api.post(refund_url(purchase.pk), {"amount": "1.00"}, format="json")

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "already_refunded"
    assert Refund.objects.count() == 1


def test_refund_with_a_stale_expectation_is_409(api, purchase, silver_member):
    # given a partial refund the caller has not seen
    api.post(refund_url(purchase.pk), {"amount": "100.00"}, format="json")

    # when the caller refunds expecting nothing refunded yet
    stale = api.post(
        refund_url(purchase.pk), {"amount": "50.00", "expected_refunded": "0.00"}, format="json"
    )
    fresh = api.post(
        refund_url(purchase.pk), {"amount": "50.00", "expected_refunded": "100.00"}, format="json"
    )

    # then
    assert (stale.status_code, stale.json()["code"]) == (409, "refund_stale")
    assert fresh.status_code == 201
    assert Refund.objects.count() == 2
    purchase.refresh_from_db()
    assert purchase.refunded_paid == Decimal("150.00")


def test_list_shows_refund_totals(api, purchase):
    # given
    api.post(refund_url(purchase.pk), {"amount": "350.00"}, format="json")

    # when
    row = api.get(PURCHASES).json()["results"][0]

    # then
    assert (row["refunded"], row["refundable"], row["is_fully_refunded"]) == (
        "350.00",
        "2000.00",
        False,
    )
    assert Purchase.objects.get().refunded_paid == Decimal("350.00")
