"""The OpenAPI schema documents the promo code endpoints, the checkout's `code`, and
every refusal code with its status."""

import pytest
import yaml

from loyalty.models import Partner
from promocodes.errors import REFUSALS

REFUSAL_STATUSES = {
    400: {"bad_check_char", "code_required", "not_yet_valid", "expired", "min_receipt", "inactive"},
    403: {"not_yours"},
    404: {"not_found"},
    409: {"used_up"},
    429: {"too_many_attempts"},
}
OPERATIONS = {
    ("/api/v1/promocodes/validate/", "post"): {
        400: {"invalid", "bad_card_number", "store_not_found", "invalid_amount"},
        404: {"member_not_found"},
        429: {"throttled", "too_many_attempts"},
    },
    ("/api/v1/members/{card_number}/promocodes/", "get"): {
        400: {"bad_card_number", "invalid"},
        404: {"member_not_found"},
    },
    ("/api/v1/members/{card_number}/promocodes/", "post"): {
        400: {"invalid", "bad_card_number", "batch_not_personal", "inactive", "expired"},
        404: {"member_not_found", "batch_not_found"},
        409: {"request_id_conflict"},
    },
    ("/api/v1/checkout/evaluate/", "post"): {
        **REFUSAL_STATUSES,
        400: REFUSAL_STATUSES[400] | {"reward_not_available"},
    },
    ("/api/v1/checkout/commit/", "post"): {
        **REFUSAL_STATUSES,
        400: REFUSAL_STATUSES[400] | {"reward_not_available"},
        409: {"used_up", "receipt_conflict"},
    },
}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        from django.test import Client

        response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def documented_codes(operation: dict, status: int) -> set[str]:
    response = operation["responses"][str(status)]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    examples = response["content"]["application/json"]["examples"].values()
    codes = {example["value"]["code"] for example in examples}
    for code in codes:
        assert f"`{code}`" in response["description"]
    return codes


def test_every_refusal_code_is_covered_here():
    assert set(REFUSALS) == set().union(*REFUSAL_STATUSES.values()) - {"too_many_attempts"}


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_each_operation_documents_its_error_codes(schema, path, method):
    # given
    operation = schema["paths"][path][method]

    # then
    for status, codes in OPERATIONS[(path, method)].items():
        assert codes <= documented_codes(operation, status), (path, method, status)
    assert documented_codes(operation, 401) == {"not_authenticated", "authentication_failed"}
    assert documented_codes(operation, 403) >= {"permission_denied"}
    assert operation["summary"]
    assert operation["operationId"]
    assert operation["security"] == [{"ApiKeyAuth": []}]


def test_promo_code_operations_are_tagged_and_named(schema):
    names = {
        (path, method): op["operationId"]
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if op["tags"] == ["Promo codes"]
    }
    assert names == {
        ("/api/v1/promocodes/validate/", "post"): "promocode_validate",
        ("/api/v1/members/{card_number}/promocodes/", "get"): "member_promocode_list",
        ("/api/v1/members/{card_number}/promocodes/", "post"): "member_promocode_issue",
    }


def test_request_and_response_bodies_are_documented(schema):
    schemas = schema["components"]["schemas"]
    assert {"code", "choice"} <= set(schemas["CheckoutRequest"]["properties"])
    assert {"code", "choice"} <= set(schemas["CheckoutCommitRequest"]["properties"])
    assert set(schemas["PromoCodeValidateRequest"]["properties"]) == {
        "code",
        "card_number",
        "total",
        "store",
    }
    assert set(schemas["PromoCodeValidation"]["properties"]) == {
        "valid",
        "code",
        "detail",
        "discount",
        "points",
        "reward",
        "min_receipt",
    }
    assert set(schemas["PromoCodeIssueRequest"]["properties"]) == {"batch", "request_id"}
    assert set(schemas["MemberPromoCode"]["properties"]) == {
        "code",
        "reference",
        "batch",
        "batch_name",
        "reward",
        "valid_from",
        "valid_until",
        "max_uses",
        "uses_left",
        "status",
    }
    listed = schema["paths"]["/api/v1/members/{card_number}/promocodes/"]["get"]
    assert listed["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaginatedMemberPromoCodeList"
    }
    issued = schema["paths"]["/api/v1/members/{card_number}/promocodes/"]["post"]
    assert {"200", "201"} <= set(issued["responses"])


def test_checkout_documents_the_code_example(schema):
    evaluate = schema["paths"]["/api/v1/checkout/evaluate/"]["post"]
    examples = evaluate["responses"]["200"]["content"]["application/json"]["examples"]
    with_code = next(e["value"] for e in examples.values() if e["value"]["code_discount"] != "0.00")
    assert (with_code["code_discount"], with_code["paid"], with_code["points_earned"]) == (
        "285.00",
        "2065.00",
        41,
    )
    assert [s["rule"] for s in with_code["steps"]].count("code") == 1


def test_the_description_tells_partners_about_promo_codes_and_the_scope(schema):
    description = schema["info"]["description"]
    assert "## Promo codes" in description
    assert "`promocodes`" in description
    assert "too_many_attempts" in description
    assert Partner.Scope.PROMOCODES == "promocodes"
