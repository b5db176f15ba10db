"""Checkout evaluate and commit with a typed promo code or a chosen personal code."""

from decimal import Decimal

import pytest

from members.api.checkout import CODE_EXAMPLE, CODE_EXAMPLE_RESPONSE
from members.models import LedgerEntry, Purchase
from members.services.points import ledger_sum
from promocodes import codes
from promocodes.models import PromoCode, Redemption
from tests import factories
from tests.promocodes.api.conftest import COMMIT, EVALUATE, REFUSALS, refusal_case

CODE_STEPS = [
    {"rule": "total", "amount": "3000.00", "unit": "money", "detail": ""},
    {"rule": "tier", "amount": "150.00", "unit": "money", "detail": "5.00%"},
    {"rule": "code", "amount": "285.00", "unit": "money"},  # + "detail": the code
    {"rule": "points_spent", "amount": "500", "unit": "points", "detail": ""},
    {"rule": "paid", "amount": "2065.00", "unit": "money", "detail": ""},
    {"rule": "points_earned", "amount": "41", "unit": "points", "detail": "2.00%"},
]


def expected_steps(code: str) -> list[dict]:
    return [{**s, "detail": code} if s["rule"] == "code" else s for s in CODE_STEPS]


def without_labels(steps: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "label"} for s in steps]


def money_fields(body: dict) -> dict:
    keys = ["total", "base_discount", "code_discount", "points_max", "points_spent", "paid"]
    return {k: body[k] for k in [*keys, "points_earned", "tier_spend"]}


WORKED_EXAMPLE_WITH_CODE = {
    "total": "3000.00",
    "base_discount": "150.00",
    "code_discount": "285.00",
    "points_max": 500,
    "points_spent": 500,
    "paid": "2065.00",
    "points_earned": 41,
    "tier_spend": "2565.00",
}


def test_worked_example_with_the_10_percent_code_through_the_api(
    api, body, silver_member_with_500, ten_percent_code, partner
):
    # given the worked example's member and a 10% code, typed in lower case with dashes
    member = silver_member_with_500
    typed = codes.display(ten_percent_code.code).lower()

    # when the partner commits the 3,000 ₽ receipt with the code and all 500 points
    response = api.post(COMMIT, {**body, "code": typed}, format="json")

    # then D1 150.00, D2 285.00, S 500, P 2,065.00, E 41
    assert response.status_code == 201, response.json()
    result = response.json()
    assert money_fields(result) == WORKED_EXAMPLE_WITH_CODE
    assert without_labels(result["steps"]) == expected_steps(ten_percent_code.code)
    code_step = result["steps"][2]
    assert code_step["label"] == (
        f"{codes.display(ten_percent_code.code)}: {ten_percent_code.batch.name}"
    )
    assert result["member"]["points_balance"] == 41
    purchase = Purchase.objects.get(pk=result["purchase_id"])
    assert purchase.partner == partner
    assert purchase.code_discount == Decimal("285.00")
    assert purchase.reward_source == "code"
    assert purchase.reward_reference == ten_percent_code.code
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 1
    redemption = Redemption.objects.get()
    assert (redemption.code, redemption.purchase, redemption.member) == (
        ten_percent_code,
        purchase,
        member,
    )
    assert redemption.discount == Decimal("285.00")
    member.refresh_from_db()
    assert member.points_balance == ledger_sum(member) == 41


def test_evaluate_with_the_code_shows_the_breakdown_and_changes_nothing(
    api, body, silver_member_with_500, ten_percent_code, tiers
):
    # given
    ledger_before = LedgerEntry.objects.count()

    # when
    response = api.post(EVALUATE, {**body, "code": ten_percent_code.code}, format="json")

    # then the same figures as the commit, the member as they would be, nothing used
    assert response.status_code == 200, response.json()
    result = response.json()
    assert money_fields(result) == WORKED_EXAMPLE_WITH_CODE
    assert without_labels(result["steps"]) == expected_steps(ten_percent_code.code)
    assert result["member"]["points_balance"] == 41
    assert result["member"]["next_tier"] == {
        "name": tiers["Gold"].name,
        "basis": "spend",
        "remaining": "17435.00",
    }
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 0
    assert Redemption.objects.count() == 0
    assert Purchase.objects.count() == 0
    assert LedgerEntry.objects.count() == ledger_before


def test_the_documented_code_example_is_the_worked_example(
    api, body, silver_member_with_500, tiers
):
    # given the code of the API documentation's example, in a batch named like it
    batch = factories.CodeBatchFactory(name="Весна −10%")
    factories.PromoCodeFactory(batch=batch, code=CODE_EXAMPLE)

    # when the documented request is evaluated
    response = api.post(EVALUATE, {**body, "code": "k7qm-4xr2-ptd"}, format="json")

    # then the documented answer, but for the member's own card and the receipt number
    assert response.status_code == 200, response.json()
    result = response.json()
    assert codes.has_valid_check(CODE_EXAMPLE)
    assert money_fields(result) == money_fields(CODE_EXAMPLE_RESPONSE)
    assert without_labels(result["steps"]) == without_labels(CODE_EXAMPLE_RESPONSE["steps"])
    assert result["steps"][2]["label"] == CODE_EXAMPLE_RESPONSE["steps"][2]["label"]
    assert result["member"]["points_balance"] == CODE_EXAMPLE_RESPONSE["member"]["points_balance"]
    assert result["member"]["next_tier"] == {
        **CODE_EXAMPLE_RESPONSE["member"]["next_tier"],
        "name": tiers["Gold"].name,
    }


def test_cyrillic_layout_and_spaces_redeem_the_latin_code(api, body, silver_member_with_500):
    # given a code with letters that have Cyrillic look-alikes
    code = factories.PromoCodeFactory(code="K7QM4XR2PTD")

    # when it is typed with the Russian layout (к м х р т are Cyrillic), spaced and dashed
    response = api.post(COMMIT, {**body, "code": " к7qм 4хr2-ртd "}, format="json")

    # then the Latin code is used
    assert response.status_code == 201, response.json()
    assert response.json()["code_discount"] == "285.00"
    assert response.json()["steps"][2]["detail"] == "K7QM4XR2PTD"
    code.refresh_from_db()
    assert code.uses == 1


def test_commit_with_the_code_again_is_a_replay_and_uses_nothing(
    api, body, silver_member_with_500, ten_percent_code
):
    # given the receipt committed with the code
    first = api.post(COMMIT, {**body, "code": ten_percent_code.code}, format="json")
    assert first.status_code == 201

    # when the partner retries it
    again = api.post(COMMIT, {**body, "code": ten_percent_code.code}, format="json")

    # then the same purchase, its code step, and the code used once
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["purchase_id"] == first.json()["purchase_id"]
    assert again.json()["code_discount"] == "285.00"
    assert again.json()["steps"] == first.json()["steps"]
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 1
    assert Redemption.objects.count() == 1


@pytest.mark.parametrize(("kind", "status"), REFUSALS, ids=[k for k, _s in REFUSALS])
@pytest.mark.parametrize("url", [EVALUATE, COMMIT], ids=["evaluate", "commit"])
def test_each_refusal_is_its_error_code_and_changes_nothing(
    api, body, silver_member_with_500, url, kind, status
):
    # given
    typed = refusal_case(kind, silver_member_with_500)
    uses_before = sorted(PromoCode.objects.values_list("code", "uses"))
    ledger_before = LedgerEntry.objects.count()

    # when
    response = api.post(url, {**body, "code": typed}, format="json")

    # then the stable code and status; no purchase, no use, no points moved
    assert response.status_code == status, response.json()
    assert response.json()["code"] == kind
    assert response.json()["detail"]
    if kind == "min_receipt":
        assert response.json()["min_receipt"] == "5000.00"
    assert Purchase.objects.count() == 0
    assert Redemption.objects.count() == 0
    assert sorted(PromoCode.objects.values_list("code", "uses")) == uses_before
    assert LedgerEntry.objects.count() == ledger_before
    silver_member_with_500.refresh_from_db()
    assert silver_member_with_500.points_balance == 500


def personal_code(member, *, name: str, percent: str) -> PromoCode:
    batch = factories.CodeBatchFactory(name=name, is_personal=True, reward_value=Decimal(percent))
    return factories.PromoCodeFactory(batch=batch, member=member)


def test_without_a_code_the_members_best_personal_code_applies(api, body, silver_member_with_500):
    # given two personal codes of the member, 5% and 10%
    personal_code(silver_member_with_500, name="5%", percent="5")
    best = personal_code(silver_member_with_500, name="10%", percent="10")

    # when the receipt is committed without a code
    response = api.post(COMMIT, body, format="json")

    # then the 10% code is used
    assert response.status_code == 201, response.json()
    assert response.json()["code_discount"] == "285.00"
    assert response.json()["steps"][2]["detail"] == best.code
    assert list(PromoCode.objects.filter(uses=1)) == [best]


def test_choice_applies_the_personal_code_picked(api, body, silver_member_with_500):
    # given two personal codes of the member, 5% and 10%
    picked = personal_code(silver_member_with_500, name="5%", percent="5")
    personal_code(silver_member_with_500, name="10%", percent="10")

    # when the 5% one is chosen by its reference
    response = api.post(COMMIT, {**body, "choice": picked.code}, format="json")

    # then it is used: 5% of 2,850.00
    assert response.status_code == 201, response.json()
    assert response.json()["code_discount"] == "142.50"
    assert response.json()["steps"][2]["detail"] == picked.code
    assert list(PromoCode.objects.filter(uses=1)) == [picked]


def test_a_choice_the_member_cannot_use_is_400(api, body, silver_member_with_500):
    # given a code of another member
    other = factories.MemberFactory(tier=silver_member_with_500.tier)
    theirs = personal_code(other, name="10%", percent="10")

    # when
    response = api.post(COMMIT, {**body, "choice": theirs.code}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "reward_not_available"
    assert Purchase.objects.count() == 0
    theirs.refresh_from_db()
    assert theirs.uses == 0


def test_code_and_choice_together_are_refused(api, body, ten_percent_code):
    # when
    response = api.post(
        EVALUATE, {**body, "code": ten_percent_code.code, "choice": "X"}, format="json"
    )

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["choice"]


def test_a_code_longer_than_any_is_a_field_error(api, body):
    # when
    response = api.post(EVALUATE, {**body, "code": "A" * 65}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["code"]


def test_a_points_code_gives_its_points_and_no_discount(api, body, silver_member_with_500):
    # given a code worth 100 bonus points
    batch = factories.CodeBatchFactory(reward_kind="points", reward_value=Decimal("100"))
    code = factories.PromoCodeFactory(batch=batch)

    # when
    response = api.post(COMMIT, {**body, "code": code.code}, format="json")

    # then no D2, a code step of 100 points, and the points granted
    assert response.status_code == 201, response.json()
    result = response.json()
    assert result["code_discount"] == "0.00"
    assert result["paid"] == "2350.00"
    step = result["steps"][2]
    assert (step["rule"], step["amount"], step["unit"], step["detail"]) == (
        "code",
        "100",
        "points",
        code.code,
    )
    silver_member_with_500.refresh_from_db()
    assert silver_member_with_500.points_balance == 47 + 100
