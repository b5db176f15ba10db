import threading

import pytest
from django.db import connection

from loyalty.models import IdempotencyRecord
from members.models import LedgerEntry, Purchase, Refund
from members.services.points import ledger_sum
from tests import factories
from tests.api.conftest import client_with_key

# Django runs SQLite tests on an in-memory database in shared-cache mode, where a
# writer that meets another's table lock fails at once ("database table is locked")
# instead of waiting: it cannot hold concurrent writers. CI runs these on PostgreSQL.
needs_concurrent_writers = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite's in-memory test database cannot take concurrent writers",
)

COMMIT = "/api/v1/checkout/commit/"


def refund_url(purchase_id) -> str:
    return f"/api/v1/purchases/{purchase_id}/refund/"


def test_commit_replay_with_the_same_key_returns_the_stored_response(
    api, checkout_body, silver_member
):
    # given a first commit with a key
    first = api.post(COMMIT, checkout_body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == 201

    # when the partner retries it
    again = api.post(COMMIT, checkout_body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    # then exactly the first response (201, replayed false) comes back
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Purchase.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.endpoint, record.response_status) == (
        "key-1",
        "checkout.commit",
        201,
    )
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47


def test_same_key_with_another_body_is_422(api, checkout_body, silver_member):
    # given
    api.post(COMMIT, checkout_body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")

    # when the key is sent with another receipt
    response = api.post(
        COMMIT,
        {**checkout_body, "receipt_number": "R-2"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )

    # then
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Purchase.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_same_key_on_another_endpoint_is_422(api, purchase):
    # given a refund made with a key
    assert (
        api.post(refund_url(purchase.pk), {}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code
        == 201
    )
    # a second purchase
    other = api.post(
        COMMIT,
        {
            "card_number": purchase.member.card_number,
            "store": "MSK-01",
            "receipt_number": "R-9",
            "total": "10",
        },
        format="json",
    ).json()

    # when the same key and body are sent to refund the other purchase
    response = api.post(
        refund_url(other["purchase_id"]), {}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    # then
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Refund.objects.count() == 1


def test_keys_are_per_partner(api, checkout_body, silver_member, store):
    # given partner A used key "k"
    api.post(COMMIT, checkout_body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client_with_key(factories.partner_key(factories.PartnerFactory()))

    # when partner B uses "k" for its own receipt
    response = other.post(
        COMMIT,
        {**checkout_body, "receipt_number": "B-1", "points_to_spend": 0},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    # then it is B's own first request
    assert response.status_code == 201
    assert IdempotencyRecord.objects.count() == 2


def test_a_failed_request_stores_nothing_and_may_be_retried(api, checkout_body, silver_member):
    # given a request that fails (more points than allowed)
    failed = api.post(
        COMMIT, {**checkout_body, "points_to_spend": 501}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert failed.status_code == 400
    assert IdempotencyRecord.objects.count() == 0

    # when it is retried, corrected, with the same key
    retried = api.post(COMMIT, checkout_body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    # then
    assert retried.status_code == 201
    assert IdempotencyRecord.objects.get().response_status == 201


@pytest.mark.parametrize("body", ['{"total": ', "[1, 2", "\x00"])
def test_a_bad_body_with_a_key_stores_nothing(api, body):
    # when
    response = api.post(
        COMMIT, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert IdempotencyRecord.objects.count() == 0


def test_refund_replay_with_a_key_refunds_once(api, purchase, silver_member):
    # given
    body = {"amount": "1000.00"}
    first = api.post(refund_url(purchase.pk), body, format="json", HTTP_IDEMPOTENCY_KEY="r-1")

    # when
    again = api.post(refund_url(purchase.pk), body, format="json", HTTP_IDEMPOTENCY_KEY="r-1")

    # then
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Refund.objects.count() == 1
    purchase.refresh_from_db()
    assert str(purchase.refunded_paid) == "1000.00"


@pytest.mark.parametrize(
    "key", ["", " ", "x" * 256, "ключ", "a\x00b", "tab\there"], ids=lambda k: repr(k)[:20]
)
def test_malformed_keys_are_400(api, checkout_body, key):
    # when
    response = api.post(COMMIT, checkout_body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert Purchase.objects.count() == 0


def test_a_255_character_uuid_like_key_is_fine(api, checkout_body):
    # when
    response = api.post(COMMIT, checkout_body, format="json", HTTP_IDEMPOTENCY_KEY="k" * 255)

    # then
    assert response.status_code == 201


def run_in_threads(count: int, target) -> list:
    """Start `count` threads at once on `target(i)`; each closes its DB connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # reported through `results`
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@needs_concurrent_writers
@pytest.mark.django_db(transaction=True)
def test_concurrent_commits_with_one_key_have_one_effect(partner_key, checkout_body, silver_member):
    # given 8 clients retrying the same commit with the same key at the same moment
    body = {**checkout_body, "points_to_spend": 500}

    def commit(_i):
        response = client_with_key(partner_key).post(
            COMMIT, body, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
        )
        return response.status_code, response.json()

    # when
    results = run_in_threads(8, commit)

    # then one purchase, and every client got the first response
    assert [r for r in results if isinstance(r, Exception)] == []
    assert {status for status, _body in results} == {201}
    assert len({body["purchase_id"] for _status, body in results}) == 1
    assert {body["replayed"] for _status, body in results} == {False}
    assert Purchase.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.SPEND).count() == 1
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 47
    assert ledger_sum(silver_member) == 47


@needs_concurrent_writers
@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_refunds_with_one_key_refund_once(partner_key, purchase, silver_member):
    # given 8 clients sending the same partial refund with one key at the same moment
    def refund(_i):
        response = client_with_key(partner_key).post(
            refund_url(purchase.pk),
            {"amount": "100.00"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="refund-key",
        )
        return response.status_code, response.json()

    # when
    results = run_in_threads(8, refund)

    # then
    assert [r for r in results if isinstance(r, Exception)] == []
    assert {status for status, _body in results} == {201}
    assert len({body["refund_id"] for _status, body in results}) == 1
    assert Refund.objects.count() == 1
    purchase.refresh_from_db()
    assert str(purchase.refunded_paid) == "100.00"
    silver_member.refresh_from_db()
    assert silver_member.points_balance == ledger_sum(silver_member)
