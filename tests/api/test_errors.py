"""Every error is `{"code", "detail"}` JSON with a 4xx, whatever the input."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework.test import APIClient

from loyalty.api.errors import ERROR_CODES
from loyalty.api.fields import MoneyField
from loyalty.errors import DomainError
from members.models import Member, Purchase

COMMIT = "/api/v1/checkout/commit/"
MEMBERS = "/api/v1/members/"


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def test_every_domain_error_code_is_in_the_catalogue():
    # given every DomainError the code base defines (imported with the API's modules)
    import members.api.urls  # noqa: F401

    # then
    codes = {cls.code for cls in [DomainError, *all_subclasses(DomainError)]}
    assert codes - set(ERROR_CODES) == set()


def test_every_code_raised_by_a_service_is_in_the_catalogue():
    # given the codes passed as `code="..."` where services and selectors raise errors
    root = Path(__file__).resolve().parents[2]
    sources = [
        path
        for app in ("loyalty", "members", "campaigns", "promocodes")
        for pattern in ("services.py", "services/*.py", "selectors.py", "errors.py")
        for path in (root / app).glob(pattern)
    ]
    raised = {
        code
        for path in sources
        for code in re.findall(r'code="([a-z][a-z_]*)"', path.read_text(encoding="utf-8"))
    }

    # then
    assert "receipt_number_required" in raised
    assert raised - set(ERROR_CODES) == set()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ('{"total": ', "application/json", 400, "parse_error"),
        ("{'single': 'quotes'}", "application/json", 400, "parse_error"),
        ("\x00", "application/json", 400, "parse_error"),
        (b"\xff\xfe\xfa", "application/json", 400, "parse_error"),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400, "parse_error"),
        ('{"a": 1' + "1" * 5000 + "}", "application/json", 400, "parse_error"),
        ("{}", "application/json; charset=bogus", 400, "invalid"),
        (
            "phone=1&first_name=x",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        ("<member/>", "application/xml", 415, "unsupported_media_type"),
        ("{}", "text/plain", 415, "unsupported_media_type"),
        ("[]", "application/json", 400, "invalid"),
        ('"text"', "application/json", 400, "invalid"),
        ("null", "application/json", 400, "invalid"),
    ],
)
@pytest.mark.parametrize("url", [COMMIT, MEMBERS])
def test_malformed_bodies_are_4xx_json(api, url, body, content_type, status, code):
    # when
    response = api.post(url, data=body, content_type=content_type)

    # then
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert isinstance(response.json()["detail"], str)
    assert Purchase.objects.count() == 0
    assert Member.objects.count() == 0


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_limit_is_413(api):
    # when
    response = api.post(
        MEMBERS, data='{"first_name": "' + "x" * 2000 + '"}', content_type="application/json"
    )

    # then
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


@pytest.mark.parametrize(
    "field", ["card_number", "store", "receipt_number"], ids=lambda f: f"huge-{f}"
)
def test_huge_and_nul_strings_are_field_errors(api, checkout_body, field):
    # when
    huge = api.post(COMMIT, {**checkout_body, field: "7" * 10_000}, format="json")
    nul = api.post(COMMIT, {**checkout_body, field: "R\x00-1"}, format="json")

    # then
    for response in (huge, nul):
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert list(response.json()["errors"]) == [field]
    assert Purchase.objects.count() == 0


def test_missing_fields_are_listed(api):
    # when
    response = api.post(COMMIT, {}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert sorted(response.json()["errors"]) == ["card_number", "receipt_number", "store", "total"]
    with translation.override(settings.LANGUAGE_CODE):
        required = str(MoneyField().error_messages["required"])
    assert response.json()["errors"]["total"] == [required]


def test_validation_error_body_shape(api, checkout_body):
    # when
    response = api.post(COMMIT, {**checkout_body, "total": "1.005"}, format="json")

    # then (in the program's language: the API speaks it by default)
    with translation.override(settings.LANGUAGE_CODE):
        expected = {
            "code": "invalid",
            "detail": _("Invalid input in: %(fields)s.") % {"fields": "total"},
            "errors": {"total": [str(MoneyField().error_messages["max_decimal_places"])]},
        }
    assert response.json() == expected


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope/",
        "/api/v1/members",
        "/api/v1/checkout/commit",
        "/api/v1/members/2700000000007/extra/",
        "/api/v1/purchases/%00/",
    ],
)
def test_unknown_paths_are_json_404(partner_key, path):
    # given a client that enforces CSRF like a real one (API keys need no CSRF token)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {partner_key}")

    # when
    response = client.post(path, {}, format="json")

    # then
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "url"),
    [("put", MEMBERS), ("delete", MEMBERS), ("get", COMMIT), ("patch", "/api/v1/purchases/")],
)
def test_wrong_method_is_405(api, method, url):
    # when
    response = getattr(api, method)(url)

    # then
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_asking_for_html_is_406(api):
    # when
    response = api.get(MEMBERS, HTTP_ACCEPT="text/html")

    # then
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"
