"""Repeated unknown or mistyped codes from one key are refused for a while, and logged."""

import logging

import pytest
from django.test import override_settings

from members.models import Purchase
from tests import factories
from tests.promocodes.api.conftest import (
    COMMIT,
    EVALUATE,
    VALIDATE,
    client_for,
    mistyped,
    unknown_code,
)

LIMIT = 3
WINDOW = 120

pytestmark = pytest.mark.usefixtures("small_limit")


@pytest.fixture
def small_limit():
    with override_settings(PROMO_CODE_GUESS_LIMIT=LIMIT, PROMO_CODE_GUESS_WINDOW=WINDOW):
        yield


@pytest.fixture
def validate_body(silver_member_with_500) -> dict:
    return {"card_number": silver_member_with_500.card_number, "total": "3000.00"}


def test_validate_is_refused_after_the_limit_with_retry_after(
    api, partner_key, validate_body, ten_percent_code, caplog
):
    # given LIMIT unknown codes from the partner's key
    with caplog.at_level(logging.WARNING, logger="promocodes.guard"):
        guesses = [
            api.post(VALIDATE, {**validate_body, "code": unknown_code()}, format="json")
            for _ in range(LIMIT)
        ]

        # when the key then sends a real code
        response = api.post(
            VALIDATE, {**validate_body, "code": ten_percent_code.code}, format="json"
        )

    # then the guesses were answered, the next request is refused for the window, and
    # the guessing key is logged
    assert [(g.status_code, g.json()["code"]) for g in guesses] == [(200, "not_found")] * LIMIT
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert response.json()["detail"]
    assert response["Retry-After"] == str(WINDOW)
    logged = [r for r in caplog.records if r.name == "promocodes.guard"]
    assert [r.getMessage() for r in logged] == [
        "repeated unknown promo codes",
        "promo code guessing blocked",
    ]
    assert {r.guesser for r in logged} == {f"api-key:{partner_key.partition('.')[0]}"}


@pytest.mark.parametrize("url", [EVALUATE, COMMIT], ids=["evaluate", "commit"])
def test_checkout_failures_count_and_checkout_with_a_code_is_then_refused(
    api, body, ten_percent_code, url
):
    # given LIMIT mistyped codes sent to checkout
    for i in range(LIMIT):
        wrong = api.post(
            url,
            {**body, "receipt_number": f"R-{i}", "code": mistyped(ten_percent_code.code)},
            format="json",
        )
        assert wrong.json()["code"] == "bad_check_char"

    # when the right code follows
    response = api.post(url, {**body, "code": ten_percent_code.code}, format="json")

    # then refused, nothing recorded; a receipt without a code still goes through
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert response["Retry-After"] == str(WINDOW)
    assert Purchase.objects.count() == 0
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 0
    without_code = api.post(url, body, format="json")
    assert without_code.status_code in (200, 201)


def test_failures_in_checkout_and_validate_add_up(api, body, validate_body):
    # given guesses spread over both endpoints
    api.post(EVALUATE, {**body, "code": unknown_code()}, format="json")
    api.post(VALIDATE, {**validate_body, "code": unknown_code()}, format="json")
    api.post(COMMIT, {**body, "code": unknown_code()}, format="json")

    # when
    response = api.post(VALIDATE, {**validate_body, "code": unknown_code()}, format="json")

    # then
    assert response.status_code == 429


def test_refusals_of_real_codes_do_not_count(api, validate_body):
    # given a used code, tried many times (the guesser learns nothing it did not know)
    used = factories.PromoCodeFactory(uses=1)

    # when
    answers = [
        api.post(VALIDATE, {**validate_body, "code": used.code}, format="json")
        for _ in range(LIMIT + 2)
    ]

    # then every answer is the refusal, none is 429
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(200, "used_up")] * (LIMIT + 2)


def test_another_key_is_not_slowed_by_a_guesser(api, validate_body, ten_percent_code):
    # given the partner's key blocked
    for _ in range(LIMIT):
        api.post(VALIDATE, {**validate_body, "code": unknown_code()}, format="json")

    # when another partner validates
    response = client_for("checkout").post(
        VALIDATE, {**validate_body, "code": ten_percent_code.code}, format="json"
    )

    # then
    assert response.status_code == 200
    assert response.json()["valid"] is True
