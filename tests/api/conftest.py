"""Partner API fixtures: a client that sends the partner's key, a Silver member with 500
points (PRODUCT.md's worked example), and a committed purchase."""

import pytest
from rest_framework.test import APIClient


def client_with_key(key: str | None) -> APIClient:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def api(partner_key) -> APIClient:
    return client_with_key(partner_key)


@pytest.fixture
def silver_member(silver_member_with_500):
    return silver_member_with_500


@pytest.fixture
def checkout_body(silver_member, store) -> dict:
    return {
        "card_number": silver_member.card_number,
        "store": store.code,
        "receipt_number": "R-1",
        "total": "3000.00",
        "points_to_spend": 500,
    }


@pytest.fixture
def purchase(api, checkout_body):
    """The worked example committed through the API by the `partner`."""
    from members.models import Purchase

    response = api.post("/api/v1/checkout/commit/", checkout_body, format="json")
    assert response.status_code == 201, response.json()
    return Purchase.objects.get(pk=response.json()["purchase_id"])
