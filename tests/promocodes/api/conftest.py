"""Partner API fixtures and helpers for promo codes: the partner's client, the worked example's
member and receipt, a 10% code, and a clean cache (throttle and guessing counters)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from promocodes import codes
from tests import factories
from tests.api.conftest import client_with_key

EVALUATE = "/api/v1/checkout/evaluate/"
COMMIT = "/api/v1/checkout/commit/"
VALIDATE = "/api/v1/promocodes/validate/"


def member_codes_url(card_number: str) -> str:
    return f"/api/v1/members/{card_number}/promocodes/"


def unknown_code() -> str:
    """A well-formed code (its check character matches) that no batch holds."""
    return "ABCDEFGHJK" + codes.check_char("ABCDEFGHJK")


def mistyped(code: str) -> str:
    """`code` with its last character changed: the check character catches it."""
    wrong = next(c for c in codes.CODE_CHARS if c != code[-1])
    return code[:-1] + wrong


def client_for(*scopes: str):
    return client_with_key(factories.partner_key(factories.PartnerFactory(scopes=list(scopes))))


def refusal_case(kind: str, member) -> str:
    """What to type to be refused with `kind` (the codes it needs are made here)."""
    now = timezone.now()
    if kind == "not_found":
        return unknown_code()
    if kind == "bad_check_char":
        return mistyped(factories.PromoCodeFactory().code)
    if kind == "code_required":
        return " - - "
    if kind == "used_up":
        return factories.PromoCodeFactory(uses=1).code
    if kind == "not_yours":
        batch = factories.CodeBatchFactory(is_personal=True)
        other = factories.MemberFactory(tier=member.tier)
        return factories.PromoCodeFactory(batch=batch, member=other).code
    batch = {
        "not_yet_valid": lambda: factories.CodeBatchFactory(
            valid_from=now + dt.timedelta(days=1), valid_until=now + dt.timedelta(days=9)
        ),
        "expired": lambda: factories.CodeBatchFactory(
            valid_from=now - dt.timedelta(days=9), valid_until=now - dt.timedelta(seconds=1)
        ),
        "inactive": lambda: factories.CodeBatchFactory(is_active=False),
        "min_receipt": lambda: factories.CodeBatchFactory(min_receipt=Decimal("5000.00")),
    }[kind]()
    return factories.PromoCodeFactory(batch=batch).code


REFUSALS = [
    ("not_found", 404),
    ("bad_check_char", 400),
    ("code_required", 400),
    ("not_yet_valid", 400),
    ("expired", 400),
    ("inactive", 400),
    ("min_receipt", 400),
    ("not_yours", 403),
    ("used_up", 409),
]


@pytest.fixture(autouse=True)
def clean_cache():
    """Throttle and guessing counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(partner_key):
    return client_with_key(partner_key)


@pytest.fixture
def body(silver_member_with_500, store) -> dict:
    """The worked example's receipt: 3,000 ₽, all 500 points."""
    return {
        "card_number": silver_member_with_500.card_number,
        "store": store.code,
        "receipt_number": "R-1",
        "total": "3000.00",
        "points_to_spend": 500,
    }
