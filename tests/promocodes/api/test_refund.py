"""Rollback through the refund endpoint: a full refund gives the code back, once."""

from members.models import Purchase, Refund
from promocodes.models import Redemption
from tests.promocodes.api.conftest import COMMIT


def refund_url(purchase_id: int) -> str:
    return f"/api/v1/purchases/{purchase_id}/refund/"


def test_full_refund_gives_the_code_back_once(api, body, ten_percent_code):
    # given the worked example committed with the code
    committed = api.post(COMMIT, {**body, "code": ten_percent_code.code}, format="json")
    assert committed.status_code == 201
    purchase_id = committed.json()["purchase_id"]
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 1

    # when the purchase is refunded in full through the API
    refund = api.post(refund_url(purchase_id), {}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")

    # then the code has its use back and the redemption says so
    assert refund.status_code == 201, refund.json()
    assert refund.json()["is_fully_refunded"] is True
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 0
    redemption = Redemption.objects.get()
    assert redemption.rolled_back_at is not None
    assert redemption.is_code_returned is True
    rolled_back_at = redemption.rolled_back_at

    # when a second refund is attempted
    again = api.post(refund_url(purchase_id), {}, format="json", HTTP_IDEMPOTENCY_KEY="r-2")

    # then it is refused and the code is not given back twice
    assert again.status_code == 409
    assert again.json()["code"] == "already_refunded"
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 0
    redemption.refresh_from_db()
    assert (redemption.rolled_back_at, redemption.is_code_returned) == (rolled_back_at, True)
    assert Refund.objects.count() == 1


def test_the_returned_code_can_be_used_again(api, body, ten_percent_code):
    # given a receipt with the code, refunded in full
    purchase_id = api.post(COMMIT, {**body, "code": ten_percent_code.code}, format="json").json()[
        "purchase_id"
    ]
    api.post(refund_url(purchase_id), {}, format="json")

    # when the member uses it on a new receipt
    response = api.post(
        COMMIT,
        {**body, "receipt_number": "R-2", "points_to_spend": 0, "code": ten_percent_code.code},
        format="json",
    )

    # then
    assert response.status_code == 201, response.json()
    assert response.json()["code_discount"] == "285.00"
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 1


def test_a_partial_refund_keeps_the_code_used(api, body, ten_percent_code):
    # given
    purchase_id = api.post(COMMIT, {**body, "code": ten_percent_code.code}, format="json").json()[
        "purchase_id"
    ]

    # when half of the money paid is refunded
    response = api.post(refund_url(purchase_id), {"amount": "1000.00"}, format="json")

    # then
    assert response.status_code == 201
    assert Purchase.objects.get(pk=purchase_id).is_fully_refunded is False
    ten_percent_code.refresh_from_db()
    assert ten_percent_code.uses == 1
    assert Redemption.objects.get().rolled_back_at is None
