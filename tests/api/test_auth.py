"""Every route against every way a key can be wrong, and the per-key throttle."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from loyalty.api.permissions import HasPartnerKey
from loyalty.api.throttling import PartnerKeyThrottle
from loyalty.models import Partner, PartnerAPIKey
from members.models import Member, Purchase, Refund
from tests import factories
from tests.api.conftest import client_with_key

# (method, path template, scope, body)
ROUTES = [
    ("get", "/api/v1/members/", "members:read", None),
    ("post", "/api/v1/members/", "members:write", {"phone": "+79990001122", "first_name": "Ия"}),
    ("get", "/api/v1/members/{card}/", "members:read", None),
    ("post", "/api/v1/checkout/evaluate/", "checkout", "checkout"),
    ("post", "/api/v1/checkout/commit/", "checkout", "checkout"),
    ("get", "/api/v1/purchases/", "checkout", None),
    ("get", "/api/v1/purchases/{purchase}/", "checkout", None),
    ("post", "/api/v1/purchases/{purchase}/refund/", "refunds", {}),
]
ROUTE_IDS = [f"{method.upper()} {path}" for method, path, _scope, _body in ROUTES]
OK = {"get": 200, "post": 201}


@pytest.fixture
def world(checkout_body, purchase, silver_member):
    """A member, and the worked example committed by `partner` (so receipt R-2 is new)."""
    return {
        "card": silver_member.card_number,
        "purchase": purchase.pk,
        "checkout": {**checkout_body, "receipt_number": "R-2", "points_to_spend": 0},
    }


def call(client, route, world):
    method, path, _scope, body = route
    url = path.format(**world)
    if isinstance(body, str):
        body = world[body]
    if method == "get":
        return client.get(url)
    return client.post(url, body, format="json")


def counts() -> tuple[int, int, int]:
    return Member.objects.count(), Purchase.objects.count(), Refund.objects.count()


def assert_refused(response, status: int, code: str, before: tuple[int, int, int]):
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert counts() == before


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_the_partners_own_key_works(api, world, route):
    # when
    response = call(api, route, world)

    # then
    expected = 200 if route[1] == "/api/v1/checkout/evaluate/" else OK[route[0]]
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Api-Key",
        "Api-Key ",
        "Bearer {key}",
        "Token {key}",
        "{key}",
        "Basic dXNlcjpwYXNz",
    ],
    ids=["none", "empty", "scheme-only", "scheme-space", "bearer", "token", "bare-key", "basic"],
)
def test_missing_or_malformed_header_is_401_not_authenticated(partner_key, world, route, header):
    # given
    before = counts()
    client = client_with_key(None)
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header.format(key=partner_key))

    # when
    response = call(client, route, world)

    # then
    assert_refused(response, 401, "not_authenticated", before)
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize(
    "bad",
    ["unknown", "wrong-secret", "garbage", "nul", "huge", "revoked", "expired", "inactive"],
)
def test_invalid_keys_are_401_authentication_failed(partner, partner_key, world, route, bad):
    # given
    prefix = partner_key.partition(".")[0]
    if bad == "unknown":
        key = "AbCdEfGh.0123456789abcdefghijklmnopqrstuv"
    elif bad == "wrong-secret":
        key = f"{prefix}.{'x' * 32}"
    elif bad == "garbage":
        key = "пароль!"
    elif bad == "nul":
        key = f"{prefix}\x00.{'x' * 32}"
    elif bad == "huge":
        key = f"{prefix}.{'x' * 10_000}"
    elif bad == "revoked":
        key = factories.partner_key(partner, name="revoked")
        PartnerAPIKey.objects.filter(name="revoked").update(revoked=True)
    elif bad == "expired":
        key = factories.partner_key(
            partner, name="expired", expiry_date=timezone.now() - dt.timedelta(seconds=1)
        )
    else:
        key = partner_key
        Partner.objects.filter(pk=partner.pk).update(is_active=False)
    before = counts()

    # when
    response = call(client_with_key(key), route, world)

    # then
    assert_refused(response, 401, "authentication_failed", before)
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_key_expiring_later_works(partner, world):
    # given
    key = factories.partner_key(partner, expiry_date=timezone.now() + dt.timedelta(days=1))

    # when
    response = client_with_key(key).get(f"/api/v1/members/{world['card']}/")

    # then
    assert response.status_code == 200


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_missing_scope_is_403(partner, partner_key, world, route):
    # given the partner holds every scope but the route's
    scope = route[2]
    Partner.objects.filter(pk=partner.pk).update(
        scopes=[s for s in Partner.Scope.values if s != scope]
    )
    before = counts()

    # when
    response = call(client_with_key(partner_key), route, world)

    # then
    assert_refused(response, 403, "permission_denied", before)
    assert scope in response.json()["detail"]


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if "{purchase}" in r[1]], ids=lambda r: f"{r[0].upper()} {r[1]}"
)
def test_another_partners_purchase_is_404_on_every_purchase_route(world, route):
    # given another partner with every scope
    other = client_with_key(factories.partner_key(factories.PartnerFactory()))
    before = counts()

    # when
    response = call(other, route, world)

    # then
    assert_refused(response, 404, "purchase_not_found", before)


def test_throttle_per_partner_key(partner, partner_key, monkeypatch, world):
    # given a rate of 2 requests a minute, and a second key of the same partner
    cache.clear()
    monkeypatch.setattr(PartnerKeyThrottle, "THROTTLE_RATES", {"partner": "2/min"})
    first = client_with_key(partner_key)
    second = client_with_key(factories.partner_key(partner, name="second"))
    url = f"/api/v1/members/{world['card']}/"

    # when
    statuses = [first.get(url).status_code for _ in range(3)]
    throttled = first.get(url)
    other_key = second.get(url)

    # then
    assert statuses == [200, 200, 429]
    assert throttled.json()["code"] == "throttled"
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert other_key.status_code == 200
    cache.clear()


def test_schema_and_docs_need_no_key(client):
    # when / then
    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200
    assert client.get("/api/v1/redoc/").status_code == 200


class _View:
    pass


@pytest.mark.parametrize(
    ("declared", "scope"),
    [
        ({"required_scope": "checkout"}, "checkout"),
        ({"required_scope": None}, None),
        ({"required_scope": {"GET": "members:read", "*": "members:write"}}, "members:write"),
    ],
)
def test_views_declare_their_scope(rf, declared, scope):
    # given
    view = _View()
    vars(view).update(declared)

    # when / then
    assert HasPartnerKey.required_scope(rf.post("/"), view) == scope


@pytest.mark.parametrize("declared", [{}, {"required_scope": "everything"}])
def test_a_view_without_a_known_scope_fails_closed(rf, declared):
    # given
    view = _View()
    vars(view).update(declared)

    # when / then
    with pytest.raises(ImproperlyConfigured):
        HasPartnerKey.required_scope(rf.get("/"), view)
