"""Schemathesis generates requests from the OpenAPI schema (valid and invalid ones):
the API never answers 5xx, and answers only with documented statuses and bodies."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Loaded at import (schemathesis' pytest fixture loader breaks under pytest 9).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Schemathesis calls the WSGI app directly, whose request signals would close the
    test's database connection mid-transaction; Django's own test client unhooks them
    the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth(partner_key, silver_member, store) -> dict[str, str]:
    return {"Authorization": f"Api-Key {partner_key}"}


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    # Generation speed and filtering depend on the machine's load, not on the API.
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_documented_answers(case, auth):
    case.call_and_validate(
        headers=auth,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )


CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def call(auth, path, method, *, expected, **kwargs):
    response = (
        schema[path][method].Case(**kwargs).call_and_validate(headers=auth, checks=CONFORMANCE)
    )
    assert response.status_code == expected, response.text
    return response.json()


def test_the_documented_flow_answers_as_documented(auth, silver_member, tiers):
    # given a purchase history to refund
    card = {"card_number": silver_member.card_number}
    checkout = {**card, "store": "MSK-01", "receipt_number": "R-1", "total": "3000.00"}

    # when / then every answer of the main flow conforms to the schema
    enrolled = call(
        auth,
        "/api/v1/members/",
        "POST",
        expected=201,
        body={"phone": "+79990001122", "first_name": "Ия", "consents": {"sms": True}},
    )
    call(auth, "/api/v1/members/", "GET", expected=200, query={"phone": "+79990001122"})
    call(auth, "/api/v1/members/{card_number}/", "GET", expected=200, path_parameters=card)
    call(
        auth,
        "/api/v1/members/{card_number}/",
        "GET",
        expected=200,
        path_parameters={"card_number": enrolled["card_number"]},
    )
    call(auth, "/api/v1/checkout/evaluate/", "POST", expected=200, body=checkout)
    committed = call(
        auth,
        "/api/v1/checkout/commit/",
        "POST",
        expected=201,
        body={**checkout, "points_to_spend": 500},
        headers={"Idempotency-Key": "flow-1"},
    )
    call(
        auth,
        "/api/v1/checkout/commit/",
        "POST",
        expected=200,
        body={**checkout, "points_to_spend": 500},
    )
    over = call(
        auth,
        "/api/v1/checkout/evaluate/",
        "POST",
        expected=400,
        body={**checkout, "points_to_spend": 99},
    )
    assert (over["code"], over["allowed"]) == ("points_over_limit", 47)
    purchase = {"purchase_id": committed["purchase_id"]}
    call(auth, "/api/v1/purchases/", "GET", expected=200, query=card)
    call(auth, "/api/v1/purchases/{purchase_id}/", "GET", expected=200, path_parameters=purchase)
    call(
        auth,
        "/api/v1/purchases/{purchase_id}/refund/",
        "POST",
        expected=201,
        path_parameters=purchase,
        body={"amount": "100.00"},
    )
    conflict = call(
        auth,
        "/api/v1/checkout/commit/",
        "POST",
        expected=409,
        body={**checkout, "total": "1.00"},
    )
    assert conflict["code"] == "receipt_conflict"
