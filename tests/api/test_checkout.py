import json
from decimal import Decimal

import pytest

from members.api.checkout import WORKED_EXAMPLE_RESPONSE
from members.models import LedgerEntry, Purchase
from members.services.points import ledger_sum
from tests import factories

EVALUATE = "/api/v1/checkout/evaluate/"
COMMIT = "/api/v1/checkout/commit/"

WORKED_EXAMPLE_STEPS = [
    {"rule": "total", "amount": "3000.00", "unit": "money", "detail": ""},
    {"rule": "tier", "amount": "150.00", "unit": "money", "detail": "5.00%"},
    {"rule": "points_spent", "amount": "500", "unit": "points", "detail": ""},
    {"rule": "paid", "amount": "2350.00", "unit": "money", "detail": ""},
    {"rule": "points_earned", "amount": "47", "unit": "points", "detail": "2.00%"},
]


def without_labels(steps: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "label"} for s in steps]


def test_worked_example_commit(api, checkout_body, silver_member, tiers, partner):
    # given a Silver member (5%, earns 2%) with 500 points, a 3,000 ₽ receipt

    # when the partner commits it spending all 500 points
    response = api.post(COMMIT, checkout_body, format="json")

    # then
    assert response.status_code == 201
    body = response.json()
    purchase = Purchase.objects.get()
    assert {k: v for k, v in body.items() if k not in ("steps", "member")} == {
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
        "purchase_id": purchase.pk,
        "replayed": False,
    }
    assert without_labels(body["steps"]) == WORKED_EXAMPLE_STEPS
    assert all(s["label"] for s in body["steps"])
    # the example of the API documentation is this very receipt
    documented = {k: v for k, v in WORKED_EXAMPLE_RESPONSE.items() if k not in ("steps", "member")}
    assert {k: body[k] for k in documented if k not in ("card_number", "receipt_number")} == {
        k: v for k, v in documented.items() if k not in ("card_number", "receipt_number")
    }
    assert without_labels(WORKED_EXAMPLE_RESPONSE["steps"]) == WORKED_EXAMPLE_STEPS
    assert body["member"] == {
        "card_number": silver_member.card_number,
        "points_balance": 47,
        "tier": {"name": tiers["Silver"].name, "discount_percent": "5.00", "earn_percent": "2.00"},
        "next_tier": {"name": tiers["Gold"].name, "basis": "spend", "remaining": "17150.00"},
        "progress": {"counters": []},
    }
    assert purchase.partner == partner
    assert purchase.channel == "partner"
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47
    assert ledger_sum(silver_member) == 47


def test_evaluate_gives_the_breakdown_and_changes_nothing(api, checkout_body, silver_member, tiers):
    # given
    ledger_before = LedgerEntry.objects.count()

    # when
    response = api.post(EVALUATE, checkout_body, format="json")

    # then the breakdown and the projected member, and nothing recorded
    assert response.status_code == 200
    body = response.json()
    assert body["paid"] == "2350.00"
    assert body["points_earned"] == 47
    assert body["tier_spend"] == "2850.00"
    assert "purchase_id" not in body
    assert without_labels(body["steps"]) == WORKED_EXAMPLE_STEPS
    assert body["member"]["points_balance"] == 47
    assert body["member"]["next_tier"] == {
        "name": tiers["Gold"].name,
        "basis": "spend",
        "remaining": "17150.00",
    }
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 500
    assert Purchase.objects.count() == 0
    assert LedgerEntry.objects.count() == ledger_before


def test_evaluate_without_receipt_number_and_points(api, checkout_body):
    # given
    body = {
        k: v for k, v in checkout_body.items() if k not in ("receipt_number", "points_to_spend")
    }

    # when
    response = api.post(EVALUATE, body, format="json")

    # then points default to 0
    assert response.status_code == 200
    assert response.json()["receipt_number"] == ""
    assert response.json()["points_spent"] == 0
    assert response.json()["paid"] == "2850.00"
    assert response.json()["points_earned"] == 57


def test_evaluate_projects_the_tier_upgrade(api, store, tiers):
    # given a Base member without purchases (Silver starts at 2,000 ₽)
    member = factories.MemberFactory(tier=tiers["Base"])

    # when a 2,000 ₽ receipt is evaluated
    response = api.post(
        EVALUATE,
        {"card_number": member.card_number, "store": store.code, "total": 2000},
        format="json",
    )

    # then the member would be Silver afterwards, and the receipt still earns at Base
    assert response.status_code == 200
    body = response.json()
    assert body["points_earned"] == 20
    assert body["member"]["tier"]["name"] == tiers["Silver"].name
    assert body["member"]["next_tier"]["remaining"] == "18000.00"
    member.refresh_from_db()
    assert member.tier == tiers["Base"]


def test_commit_replay_of_the_same_receipt_is_200_and_changes_nothing(
    api, checkout_body, silver_member, purchase
):
    # given the worked example committed once (fixture `purchase`)

    # when the partner sends it again
    response = api.post(COMMIT, checkout_body, format="json")

    # then the same purchase comes back, flagged as replayed
    assert response.status_code == 200
    assert response.json()["purchase_id"] == purchase.pk
    assert response.json()["replayed"] is True
    assert response.json()["paid"] == "2350.00"
    assert Purchase.objects.count() == 1
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47


def test_commit_same_receipt_with_other_data_is_409(api, checkout_body, silver_member, purchase):
    # when
    response = api.post(COMMIT, {**checkout_body, "total": "3100.00"}, format="json")

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "receipt_conflict"
    assert Purchase.objects.count() == 1
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47


def test_commit_of_a_receipt_recorded_by_another_partner_is_409(checkout_body, purchase):
    # given another partner with the same receipt data
    from tests.api.conftest import client_with_key

    other = client_with_key(factories.partner_key(factories.PartnerFactory()))

    # when
    response = other.post(COMMIT, checkout_body, format="json")

    # then the purchase is not revealed to them
    assert response.status_code == 409
    assert response.json()["code"] == "receipt_conflict"
    assert "purchase_id" not in response.json()


@pytest.mark.parametrize("url", [EVALUATE, COMMIT])
def test_points_over_the_limit_is_400_with_allowed(api, checkout_body, silver_member, url):
    # when 501 points are asked for (the member has 500, the cap allows 855)
    response = api.post(url, {**checkout_body, "points_to_spend": 501}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "points_over_limit"
    assert response.json()["allowed"] == 500
    assert Purchase.objects.count() == 0
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 500


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"card_number": "2700000000001"}, 400, "bad_card_number"),
        ({"card_number": "2700000000007"}, 404, "member_not_found"),
        ({"store": "NOPE-01"}, 400, "store_not_found"),
    ],
)
@pytest.mark.parametrize("url", [EVALUATE, COMMIT])
def test_unknown_card_or_store(api, checkout_body, url, change, status, code):
    # when
    response = api.post(url, {**checkout_body, **change}, format="json")

    # then
    assert response.status_code == status
    assert response.json()["code"] == code
    assert Purchase.objects.count() == 0


def test_card_number_as_printed_with_spaces(api, checkout_body):
    # given
    card = checkout_body["card_number"]
    spaced = f" {card[0]} {card[1:7]}-{card[7:]} "

    # when
    response = api.post(EVALUATE, {**checkout_body, "card_number": spaced}, format="json")

    # then
    assert response.status_code == 200
    assert response.json()["card_number"] == card


def test_commit_needs_a_receipt_number(api, checkout_body):
    # when
    response = api.post(COMMIT, {**checkout_body, "receipt_number": "  "}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["receipt_number"]
    assert Purchase.objects.count() == 0


@pytest.mark.parametrize(
    "raw_total",
    [
        '"NaN"',
        "NaN",
        '"Infinity"',
        "Infinity",
        "-Infinity",
        "1e309",
        '"1e3"',
        '"1,5"',
        '"1.005"',
        "1.005",
        "true",
        "false",
        "null",
        '""',
        '"   "',
        '"١٢٣"',
        '"１２３"',
        json.dumps("1" * 10_000),
        json.dumps("9" * 11),
        "99999999999",
        '"-1.00"',
        "-1",
        '"\\u0000"',
        '"12\\u00003"',
        "[]",
        "{}",
        '"0x10"',
    ],
)
@pytest.mark.parametrize("url", [EVALUATE, COMMIT])
def test_malformed_totals_are_400_field_errors(api, checkout_body, silver_member, url, raw_total):
    # given the body with `total` replaced by a raw JSON value
    body = json.dumps({**checkout_body, "total": "__TOTAL__"}).replace('"__TOTAL__"', raw_total)

    # when
    response = api.post(url, data=body, content_type="application/json")

    # then a field error on total, and nothing recorded
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["total"]
    assert Purchase.objects.count() == 0
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 500


@pytest.mark.parametrize(
    ("raw_total", "total"),
    [
        ("3000", "3000.00"),
        ("3000.5", "3000.50"),
        ('"3000.5"', "3000.50"),
        ('" 3000.00 "', "3000.00"),
        ("3000.10", "3000.10"),
        ('"3000.100"', "3000.10"),
        ("3e3", "3000.00"),
        ('"9999999999.99"', "9999999999.99"),
    ],
)
def test_well_formed_totals(api, checkout_body, raw_total, total):
    # given
    body = {**checkout_body, "points_to_spend": 0, "total": "__TOTAL__"}
    raw = json.dumps(body).replace('"__TOTAL__"', raw_total)

    # when
    response = api.post(EVALUATE, data=raw, content_type="application/json")

    # then
    assert response.status_code == 200, response.content
    assert response.json()["total"] == total


@pytest.mark.parametrize("raw_total", ['"0"', '"-0"', "0", '"0.00"'])
def test_zero_total_is_refused_and_records_nothing(api, checkout_body, raw_total):
    # An empty receipt would count as a purchase towards tiers and purchase counters.
    raw = json.dumps({**checkout_body, "total": "__TOTAL__"}).replace('"__TOTAL__"', raw_total)

    for url in (EVALUATE, COMMIT):
        response = api.post(url, data=raw, content_type="application/json")

        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid_amount"
    assert Purchase.objects.count() == 0


@pytest.mark.parametrize("points", ["-1", "1.5", "true", '"many"', "null", "10000000000"])
def test_malformed_points_to_spend(api, checkout_body, silver_member, points):
    # given
    raw = json.dumps({**checkout_body, "points_to_spend": "__P__"}).replace('"__P__"', points)

    # when
    response = api.post(COMMIT, data=raw, content_type="application/json")

    # then
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["points_to_spend"]
    assert Purchase.objects.count() == 0


def test_the_committed_total_is_exact(api, checkout_body):
    # given a total that a float would not hold exactly
    raw = json.dumps({**checkout_body, "points_to_spend": 0, "total": "__T__"}).replace(
        '"__T__"', "1234567.89"
    )

    # when
    response = api.post(COMMIT, data=raw, content_type="application/json")

    # then
    assert response.status_code == 201
    assert Purchase.objects.get().total == Decimal("1234567.89")
