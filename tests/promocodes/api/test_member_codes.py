"""POST and GET /api/v1/members/{card_number}/promocodes/: personal codes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.fields import DateTimeField

from promocodes import codes
from promocodes.models import PromoCode
from tests import factories
from tests.api.conftest import client_with_key
from tests.promocodes.api.conftest import COMMIT, client_for, member_codes_url

REQUEST_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def iso(value: dt.datetime) -> str:
    return DateTimeField().to_representation(value)


def item(code: PromoCode, *, status: str = "active", uses_left: int | None = None) -> dict:
    """A code as the API lists it."""
    batch = code.batch
    return {
        "code": codes.display(code.code),
        "reference": code.code,
        "batch": batch.pk,
        "batch_name": batch.name,
        "reward": {
            "label": f"{codes.display(code.code)}: {batch.name}",
            "kind": batch.reward_kind,
            "value": f"{batch.reward_value:.2f}",
            "cap": None if batch.reward_cap is None else f"{batch.reward_cap:.2f}",
            "gift": batch.gift_name,
            "min_receipt": f"{batch.min_receipt:.2f}",
        },
        "valid_from": iso(batch.valid_from),
        "valid_until": iso(batch.valid_until),
        "max_uses": code.max_uses,
        "uses_left": code.max_uses - code.uses if uses_left is None else uses_left,
        "status": status,
    }


@pytest.fixture
def personal_batch():
    return factories.CodeBatchFactory(name="День рождения −10%", is_personal=True)


# --- Issue -------------------------------------------------------------------------------


def test_issue_makes_the_members_code(api, member, personal_batch):
    # when
    response = api.post(
        member_codes_url(member.card_number),
        {"batch": personal_batch.pk, "request_id": REQUEST_ID},
        format="json",
    )

    # then 201 with the new code, which belongs to the member
    assert response.status_code == 201, response.json()
    code = PromoCode.objects.get()
    assert (code.batch, code.member, code.request_id, code.uses) == (
        personal_batch,
        member,
        REQUEST_ID,
        0,
    )
    assert codes.has_valid_check(code.code)
    assert response.json() == item(code)


@pytest.mark.parametrize("request_id", [REQUEST_ID, ""], ids=["same-request-id", "none"])
def test_issuing_again_returns_the_same_code_with_200(api, member, personal_batch, request_id):
    # given the code issued once
    url = member_codes_url(member.card_number)
    first = api.post(url, {"batch": personal_batch.pk, "request_id": REQUEST_ID}, format="json")

    # when the partner asks again
    again = api.post(url, {"batch": personal_batch.pk, "request_id": request_id}, format="json")

    # then the same code, nothing new
    assert again.status_code == 200
    assert again.json() == first.json()
    assert PromoCode.objects.count() == 1


def test_issue_with_card_number_as_printed(api, member, personal_batch):
    # given
    card = member.card_number
    spaced = f"{card[0]} {card[1:7]}-{card[7:]}"

    # when
    response = api.post(member_codes_url(spaced), {"batch": personal_batch.pk}, format="json")

    # then
    assert response.status_code == 201
    assert PromoCode.objects.get().member == member


def test_a_request_id_used_for_another_member_is_409(api, member, tiers, personal_batch):
    # given the request id used for another member
    other = factories.MemberFactory(tier=tiers["Base"])
    api.post(
        member_codes_url(other.card_number),
        {"batch": personal_batch.pk, "request_id": REQUEST_ID},
        format="json",
    )

    # when
    response = api.post(
        member_codes_url(member.card_number),
        {"batch": personal_batch.pk, "request_id": REQUEST_ID},
        format="json",
    )

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "request_id_conflict"
    assert list(PromoCode.objects.values_list("member", flat=True)) == [other.pk]


def batch_for(kind: str):
    now = timezone.now()
    return {
        "not_personal": lambda: factories.CodeBatchFactory(is_personal=False),
        "inactive": lambda: factories.CodeBatchFactory(is_personal=True, is_active=False),
        "expired": lambda: factories.CodeBatchFactory(
            is_personal=True,
            valid_from=now - dt.timedelta(days=9),
            valid_until=now - dt.timedelta(seconds=1),
        ),
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("not_personal", 400, "batch_not_personal"),
        ("inactive", 400, "inactive"),
        ("expired", 400, "expired"),
    ],
)
def test_a_batch_that_cannot_issue_is_refused(api, member, kind, status, code):
    # given
    batch = batch_for(kind)

    # when
    response = api.post(member_codes_url(member.card_number), {"batch": batch.pk}, format="json")

    # then
    assert response.status_code == status
    assert response.json()["code"] == code
    assert PromoCode.objects.count() == 0


@pytest.mark.parametrize(
    ("card", "body", "status", "code"),
    [
        ("{card}", {"batch": 999_999}, 404, "batch_not_found"),
        ("2700000000007", {"batch": "{batch}"}, 404, "member_not_found"),
        ("2700000000001", {"batch": "{batch}"}, 400, "bad_card_number"),
        ("{card}", {"batch": "abc"}, 400, "invalid"),
        ("{card}", {"batch": 0}, 400, "invalid"),
        ("{card}", {}, 400, "invalid"),
        ("{card}", {"batch": "{batch}", "request_id": "x" * 65}, 400, "invalid"),
    ],
)
def test_issue_bad_input(api, member, personal_batch, card, body, status, code):
    # given
    url = member_codes_url(card.format(card=member.card_number))
    body = {
        k: v.format(batch=personal_batch.pk) if isinstance(v, str) else v for k, v in body.items()
    }

    # when
    response = api.post(url, body, format="json")

    # then
    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert PromoCode.objects.count() == 0


def test_the_issued_code_applies_at_checkout_by_itself(api, silver_member_with_500, store):
    # given a personal 10% code issued to the worked example's member
    batch = factories.CodeBatchFactory(is_personal=True)
    issued = api.post(
        member_codes_url(silver_member_with_500.card_number), {"batch": batch.pk}, format="json"
    ).json()

    # when the receipt is committed without typing a code
    response = api.post(
        COMMIT,
        {
            "card_number": silver_member_with_500.card_number,
            "store": store.code,
            "receipt_number": "R-1",
            "total": "3000.00",
            "points_to_spend": 500,
        },
        format="json",
    )

    # then the code is used: the worked example with D2 285.00
    assert response.status_code == 201
    assert response.json()["code_discount"] == "285.00"
    assert response.json()["paid"] == "2065.00"
    assert response.json()["steps"][2]["detail"] == issued["reference"]
    listed = api.get(member_codes_url(silver_member_with_500.card_number)).json()["results"]
    assert [(c["uses_left"], c["status"]) for c in listed] == [(0, "used_up")]


# --- List --------------------------------------------------------------------------------


def test_list_shows_each_code_with_its_status_newest_first(api, member, tiers):
    # given codes of the member in every state, and another member's code
    now = timezone.now()
    active = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(
            is_personal=True, uses_per_code=3, reward_cap=Decimal("500.00")
        ),
        member=member,
        uses=1,
    )
    used = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(is_personal=True), member=member, uses=1
    )
    expired = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(
            is_personal=True,
            valid_from=now - dt.timedelta(days=9),
            valid_until=now - dt.timedelta(days=1),
        ),
        member=member,
    )
    upcoming = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(
            is_personal=True,
            valid_from=now + dt.timedelta(days=1),
            valid_until=now + dt.timedelta(days=9),
        ),
        member=member,
    )
    switched_off = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(is_personal=True, is_active=False), member=member
    )
    gift = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(
            is_personal=True, reward_kind="gift", reward_value=Decimal(0), gift_name="Кружка"
        ),
        member=member,
    )
    factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(is_personal=True),
        member=factories.MemberFactory(tier=tiers["Base"]),
    )

    # when
    response = api.get(member_codes_url(member.card_number))

    # then
    assert response.status_code == 200
    gift_item = item(gift)
    gift_item["reward"]["label"] = f"{codes.display(gift.code)}: Кружка"
    assert response.json()["results"] == [
        gift_item,
        item(switched_off, status="inactive"),
        item(upcoming, status="not_yet_valid"),
        item(expired, status="expired"),
        item(used, status="used_up"),
        item(active, uses_left=2),
    ]
    assert response.json()["next"] is None


def test_list_is_paginated(api, member):
    # given five codes
    batch_codes = [
        factories.PromoCodeFactory(
            batch=factories.CodeBatchFactory(is_personal=True), member=member
        )
        for _ in range(5)
    ]

    # when pages of two are followed
    seen = []
    url = member_codes_url(member.card_number) + "?page_size=2"
    pages = 0
    while url:
        page = api.get(url).json()
        seen += [c["reference"] for c in page["results"]]
        url = page["next"]
        pages += 1

    # then every code once, newest first
    assert pages == 3
    assert seen == [c.code for c in reversed(batch_codes)]


def test_a_member_without_codes_has_an_empty_list(api, member):
    response = api.get(member_codes_url(member.card_number))

    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [("2700000000007", 404, "member_not_found"), ("2700000000001", 400, "bad_card_number")],
)
def test_list_of_an_unknown_or_mistyped_card(api, card, status, code):
    response = api.get(member_codes_url(card))

    assert response.status_code == status
    assert response.json()["code"] == code


def test_a_bad_cursor_is_a_field_error(api, member):
    response = api.get(member_codes_url(member.card_number) + "?cursor=garbage")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["cursor"]


@pytest.mark.parametrize("count", [1, 30])
def test_the_list_costs_the_same_queries_for_1_or_30_codes(
    api, member, count, django_assert_num_queries
):
    # given
    for _ in range(count):
        factories.PromoCodeFactory(
            batch=factories.CodeBatchFactory(is_personal=True), member=member
        )

    # when / then: the key, the member, the page of codes with their batches
    with django_assert_num_queries(3):
        response = api.get(member_codes_url(member.card_number))
    assert len(response.json()["results"]) == count


# --- Permissions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        (["promocodes"], None),
        (["checkout", "members:read", "members:write", "refunds"], 403),
    ],
    ids=["promocodes", "all-but-promocodes"],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_member_codes_need_the_promocodes_scope(member, personal_batch, scopes, status, method):
    # given
    client = client_for(*scopes)
    url = member_codes_url(member.card_number)

    # when
    if method == "get":
        response = client.get(url)
    else:
        response = client.post(url, {"batch": personal_batch.pk}, format="json")

    # then
    expected = status or {"get": 200, "post": 201}[method]
    assert response.status_code == expected
    if status == 403:
        assert response.json()["code"] == "permission_denied"
        assert PromoCode.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_member_codes_without_a_key_are_401(member, personal_batch, method):
    client = client_with_key(None)
    url = member_codes_url(member.card_number)

    response = getattr(client, method)(url, {"batch": personal_batch.pk}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert PromoCode.objects.count() == 0
