"""POST /api/v1/promocodes/validate/: a dry run of a typed code."""

from decimal import Decimal

import pytest
from django.utils.translation import gettext

from loyalty.api.throttling import MemberThrottle
from members.models import LedgerEntry, Purchase
from promocodes import codes
from promocodes.models import PromoCode, Redemption
from tests import factories
from tests.promocodes.api.conftest import REFUSALS, VALIDATE, client_for, refusal_case


@pytest.fixture
def validate_body(silver_member_with_500, ten_percent_code) -> dict:
    return {
        "code": codes.display(ten_percent_code.code).lower(),
        "card_number": silver_member_with_500.card_number,
        "total": "3000.00",
    }


def test_the_10_percent_code_on_the_worked_example(
    api, validate_body, ten_percent_code, silver_member_with_500
):
    # given
    ledger_before = LedgerEntry.objects.count()

    # when
    response = api.post(VALIDATE, validate_body, format="json")

    # then D2 of the worked example, and nothing changed
    assert response.status_code == 200, response.json()
    label = f"{codes.display(ten_percent_code.code)}: {ten_percent_code.batch.name}"
    assert response.json() == {
        "valid": True,
        "code": None,
        "detail": gettext("The code applies: %(reward)s.") % {"reward": label},
        "discount": "285.00",
        "points": 0,
        "reward": {
            "label": label,
            "kind": "percent",
            "value": "10.00",
            "cap": None,
            "gift": "",
            "min_receipt": "0.00",
        },
    }
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 0
    assert Redemption.objects.count() == 0
    assert Purchase.objects.count() == 0
    assert LedgerEntry.objects.count() == ledger_before


def test_a_store_code_is_accepted(api, validate_body, store):
    # when
    response = api.post(VALIDATE, {**validate_body, "store": "msk-01"}, format="json")

    # then
    assert response.status_code == 200
    assert response.json()["discount"] == "285.00"


def test_a_capped_points_and_gift_code_say_what_they_give(api, validate_body):
    # given a 10% code capped at 100 ₽, a 100-points code and a gift code
    capped = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(reward_cap=Decimal("100.00"))
    )
    points = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(reward_kind="points", reward_value=Decimal("100"))
    )
    gift = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(
            reward_kind="gift", reward_value=Decimal(0), gift_name="Кружка"
        )
    )

    # when
    answers = {
        name: api.post(VALIDATE, {**validate_body, "code": code.code}, format="json").json()
        for name, code in [("capped", capped), ("points", points), ("gift", gift)]
    }

    # then
    assert (answers["capped"]["discount"], answers["capped"]["reward"]["cap"]) == (
        "100.00",
        "100.00",
    )
    assert (answers["points"]["discount"], answers["points"]["points"]) == ("0.00", 100)
    assert answers["points"]["reward"]["kind"] == "points"
    assert (answers["gift"]["discount"], answers["gift"]["points"]) == ("0.00", 0)
    assert (answers["gift"]["reward"]["kind"], answers["gift"]["reward"]["gift"]) == (
        "gift",
        "Кружка",
    )
    assert answers["gift"]["reward"]["label"] == f"{codes.display(gift.code)}: Кружка"


@pytest.mark.parametrize(("kind", "status"), REFUSALS, ids=[k for k, _s in REFUSALS])
def test_each_refusal_is_valid_false_with_its_code(
    api, validate_body, silver_member_with_500, kind, status
):
    # given
    typed = refusal_case(kind, silver_member_with_500)
    uses_before = sorted(PromoCode.objects.values_list("code", "uses"))

    # when
    response = api.post(VALIDATE, {**validate_body, "code": typed}, format="json")

    # then 200 with the refusal, and nothing changed
    assert response.status_code == 200, response.json()
    answer = response.json()
    expected = {
        "valid": False,
        "code": kind,
        "detail": answer["detail"],
        "discount": "0.00",
        "points": 0,
        "reward": None,
    }
    if kind == "min_receipt":
        expected["min_receipt"] = "5000.00"
    assert answer == expected
    assert answer["detail"]
    assert sorted(PromoCode.objects.values_list("code", "uses")) == uses_before
    assert Redemption.objects.count() == 0


def test_the_members_own_personal_code_is_valid(api, validate_body, silver_member_with_500):
    # given
    batch = factories.CodeBatchFactory(is_personal=True)
    mine = factories.PromoCodeFactory(batch=batch, member=silver_member_with_500)

    # when
    response = api.post(VALIDATE, {**validate_body, "code": mine.code}, format="json")

    # then
    assert response.json()["valid"] is True
    assert response.json()["discount"] == "285.00"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"card_number": "2700000000001"}, 400, "bad_card_number"),
        ({"card_number": "2700000000007"}, 404, "member_not_found"),
        ({"store": "NOPE-01"}, 400, "store_not_found"),
        ({"total": "0"}, 400, "invalid_amount"),
        ({"total": "1.005"}, 400, "invalid"),
        ({"code": ""}, 400, "invalid"),
        ({"code": "A" * 65}, 400, "invalid"),
    ],
)
def test_bad_input(api, validate_body, change, status, code):
    # when
    response = api.post(VALIDATE, {**validate_body, **change}, format="json")

    # then
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code


def test_missing_fields_are_listed(api):
    # when
    response = api.post(VALIDATE, {}, format="json")

    # then
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["card_number", "code", "total"]


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        (["checkout"], 200),
        (["promocodes"], 403),
        (["members:read", "members:write", "refunds"], 403),
    ],
)
def test_validate_needs_the_checkout_scope(validate_body, scopes, status):
    # given
    client = client_for(*scopes)

    # when
    response = client.post(VALIDATE, validate_body, format="json")

    # then
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "permission_denied"


def test_validate_without_a_key_is_401(validate_body):
    from tests.api.conftest import client_with_key

    response = client_with_key(None).post(VALIDATE, validate_body, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_requests_about_one_card_are_throttled_whichever_key_asks(
    validate_body, monkeypatch, tiers
):
    # given a budget of 2 requests a minute per card, and two partners
    monkeypatch.setattr(MemberThrottle, "THROTTLE_RATES", {"member": "2/min"})
    first, second = client_for("checkout"), client_for("checkout")
    other_card = factories.MemberFactory(tier=tiers["Silver"]).card_number

    # when the two partners ask about the same card three times
    answers = [
        first.post(VALIDATE, validate_body, format="json"),
        second.post(VALIDATE, validate_body, format="json"),
        first.post(VALIDATE, validate_body, format="json"),
    ]
    elsewhere = second.post(VALIDATE, {**validate_body, "card_number": other_card}, format="json")

    # then the third is throttled, another card is not
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["code"] == "throttled"
    assert 0 < int(answers[2]["Retry-After"]) <= 60
    assert elsewhere.status_code == 200
