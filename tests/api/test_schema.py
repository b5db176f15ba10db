"""The OpenAPI schema is valid, documents every error code, and the docs work offline."""

import re

import jsonschema
import pytest
import yaml
from django.core.management import call_command

from loyalty.api.errors import ERROR_CODES

OPERATIONS = {
    ("/api/v1/members/", "post"): {400: {"invalid", "store_not_found"}, 409: {"member_exists"}},
    ("/api/v1/members/", "get"): {400: {"invalid"}},
    ("/api/v1/members/{card_number}/", "get"): {
        400: {"bad_card_number"},
        404: {"member_not_found"},
    },
    ("/api/v1/checkout/evaluate/", "post"): {
        400: {"invalid", "points_over_limit", "store_not_found", "bad_card_number"},
        404: {"member_not_found", "sale_not_found"},
    },
    ("/api/v1/checkout/commit/", "post"): {
        400: {"invalid", "points_over_limit", "idempotency_key_invalid"},
        404: {"member_not_found"},
        409: {"receipt_conflict"},
        422: {"idempotency_key_reused"},
    },
    ("/api/v1/purchases/", "get"): {400: {"invalid"}},
    ("/api/v1/purchases/{purchase_id}/", "get"): {404: {"purchase_not_found"}},
    ("/api/v1/purchases/{purchase_id}/refund/", "post"): {
        404: {"purchase_not_found"},
        409: {"already_refunded", "refund_exceeds_paid", "refund_stale"},
        422: {"idempotency_key_reused"},
    },
    ("/api/v1/promocodes/validate/", "post"): {
        404: {"member_not_found"},
        429: {"too_many_attempts"},
    },
    ("/api/v1/members/{card_number}/promocodes/", "get"): {404: {"member_not_found"}},
    ("/api/v1/members/{card_number}/promocodes/", "post"): {
        403: {"not_recipient"},
        404: {"batch_not_found"},
        409: {"request_id_conflict", "batch_full"},
    },
    ("/api/v1/members/{card_number}/offers/", "get"): {
        400: {"bad_card_number"},
        404: {"member_not_found"},
    },
    ("/api/v1/members/{card_number}/push-devices/", "post"): {
        400: {"invalid", "bad_card_number"},
        404: {"member_not_found"},
    },
    ("/api/v1/members/{card_number}/push-devices/remove/", "post"): {
        400: {"invalid", "bad_card_number"},
        404: {"member_not_found"},
    },
}
IDEMPOTENT = {
    ("/api/v1/checkout/commit/", "post"),
    ("/api/v1/purchases/{purchase_id}/refund/", "post"),
}


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        from django.test import Client

        response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_spectacular_validates_without_warnings(tmp_path):
    # when / then: --fail-on-warn raises on any warning or error
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    assert "/api/v1/checkout/commit/" in (tmp_path / "schema.yml").read_text()


def test_schema_lists_exactly_the_partner_endpoints(schema):
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert operations == set(OPERATIONS)


def test_api_key_scheme_is_declared_and_required_everywhere(schema):
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`Api-Key <key>`, as printed by `manage.py create_partner_key`.",
    }
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"ApiKeyAuth": []}], (path, method)


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_each_endpoint_documents_its_error_codes(schema, path, method):
    operation = schema["paths"][path][method]
    responses = operation["responses"]
    expected = {401: {"not_authenticated", "authentication_failed"}, 403: {"permission_denied"}}
    expected |= {429: {"throttled"}}
    for status, codes in {**expected, **OPERATIONS[(path, method)]}.items():
        response = responses[str(status)]
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        examples = response["content"]["application/json"]["examples"].values()
        documented = {example["value"]["code"] for example in examples}
        assert codes <= documented, (path, method, status)
        for code in documented:
            assert f"`{code}`" in response["description"]
    assert operation["summary"]
    assert operation["operationId"]


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_idempotency_key_header_is_documented_on_writes_that_take_it(schema, path, method):
    parameters = schema["paths"][path][method].get("parameters", [])
    headers = {p["name"] for p in parameters if p["in"] == "header"}
    assert headers == ({"Idempotency-Key"} if (path, method) in IDEMPOTENT else set())


def test_error_codes_enum_is_the_catalogue(schema):
    assert schema["components"]["schemas"]["ErrorCodeEnum"]["enum"] == list(ERROR_CODES)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]


def test_request_and_response_bodies_are_documented(schema):
    schemas = schema["components"]["schemas"]
    commit = schema["paths"]["/api/v1/checkout/commit/"]["post"]
    assert commit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CheckoutCommitRequest"
    }
    assert set(schemas["CommittedCheckout"]["properties"]) >= {
        "total",
        "base_discount",
        "code_discount",
        "points_max",
        "points_spent",
        "paid",
        "points_earned",
        "tier_spend",
        "steps",
        "member",
        "purchase_id",
        "replayed",
    }
    assert set(schemas["MemberDetail"]["properties"]) >= {
        "card_number",
        "tier",
        "points_balance",
        "next_tier",
        "expiring_points",
        "consents",
    }
    assert set(schemas["Refund"]["properties"]) >= {
        "refund_id",
        "amount",
        "money_refunded",
        "money_withheld",
        "points_taken_back",
        "points_returned",
    }


@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/", "/api/v1/redoc/"])
def test_schema_and_docs_answer_without_a_key(client, path):
    # when
    response = client.get(path)

    # then
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_only_local_assets(client, path):
    # when
    response = client.get(path)
    html = response.content.decode()

    # then the browser may fetch nothing elsewhere, the page names no other host, and
    # every script and stylesheet is served here
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert re.findall(r"(?:https?:)?//[\w.-]+\.\w+", html) == []
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset
        asset_response = client.get(asset)
        assert asset_response.status_code == 200, asset
        asset_response.close()


def json_schema(node):
    """OpenAPI 3.0 `nullable` as JSON Schema understands it."""
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {k: json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def test_documented_examples_match_their_schemas(schema):
    # given every example of the schema, with the schema it illustrates
    components = json_schema(schema["components"])
    checked = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += [(status, r) for status, r in operation["responses"].items()]
            for where, body in bodies:
                media = body.get("content", {}).get("application/json", {})
                for name, example in media.get("examples", {}).items():
                    # when / then
                    validator = jsonschema.Draft202012Validator(
                        {**json_schema(media["schema"]), "components": components}
                    )
                    errors = [e.message for e in validator.iter_errors(example["value"])]
                    assert errors == [], (path, method, where, name)
                    checked += 1
    assert checked > 40
