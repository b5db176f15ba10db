"""The SMS provider's inbound webhook: a signed "STOP" withdraws SMS consent at once
(38-FZ); anything unsigned, or signed with the wrong key, changes nothing."""

import hashlib
import hmac
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from members.models import ConsentRecord
from tests import factories
from tests.messaging.conftest import consent
from tests.messaging.conftest import consent_state as state

SECRET = "webhook-secret-from-the-provider"
PHONE = "+79123456789"
URL = reverse("messaging:sms_inbound")


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MESSAGES_SMS_WEBHOOK_SECRET = SECRET


@pytest.fixture
def provider():
    """The provider's server: no cookies, no CSRF token, CSRF checked as in production."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def texter(tiers):
    """A member who agreed to SMS and e-mail offers."""
    member = factories.MemberFactory(tier=tiers["Base"], phone=PHONE)
    consent(member, "sms")
    consent(member, "email")
    return member


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def inbound(client: Client, payload, *, signature: str | None = "valid", raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = {}
    if signature == "valid":
        headers["X-Signature"] = sign(body)
    elif signature is not None:
        headers["X-Signature"] = signature
    return client.post(URL, data=body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("text", ["STOP", "стоп!", " Stop. ", "СТОП", "Отписаться"])
def test_a_stop_word_withdraws_sms_consent(provider, texter, text):
    # given
    records_before = ConsentRecord.objects.count()

    # when
    response = inbound(provider, {"from": PHONE, "text": text})

    # then SMS consent is withdrawn, e-mail consent kept
    assert response.status_code == 200
    assert response.json() == {"consent_withdrawn": True}
    texter.refresh_from_db()
    assert (texter.consent_sms, texter.consent_email) == (False, True)
    # and the history says it was the member, by SMS
    assert ConsentRecord.objects.count() == records_before + 1
    record = ConsentRecord.objects.latest("id")
    assert record.member == texter
    assert record.channel == "sms"
    assert record.is_granted is False
    with translation.override("ru"):
        assert record.source == gettext("SMS reply STOP")
    assert record.actor == f"member:{texter.card_number}"


@pytest.mark.parametrize(
    "phone", ["8 912 345-67-89", "+7 (912) 345-67-89", "+79123456789", "79123456789", 79123456789]
)
def test_the_phone_is_found_however_the_provider_writes_it(provider, texter, phone):
    # when
    response = inbound(provider, {"from": phone, "text": "STOP"})

    # then
    assert response.json() == {"consent_withdrawn": True}
    texter.refresh_from_db()
    assert texter.consent_sms is False


@pytest.mark.parametrize("text", ["Спасибо!", "stop please", "", "STOP STOP"])
def test_other_text_changes_nothing(provider, texter, text):
    # given
    before = state(texter)

    # when
    response = inbound(provider, {"from": PHONE, "text": text})

    # then
    assert response.status_code == 200
    assert response.json() == {"consent_withdrawn": False}
    assert state(texter) == before


@pytest.mark.parametrize("phone", ["+79990000000", "not a phone", ""])
def test_an_unknown_phone_changes_nothing(provider, texter, phone):
    # given
    before = state(texter)

    # when
    response = inbound(provider, {"from": phone, "text": "STOP"})

    # then
    assert response.status_code == 200
    assert response.json() == {"consent_withdrawn": False}
    assert state(texter) == before


def test_a_second_stop_records_nothing_new(provider, texter):
    # given
    inbound(provider, {"from": PHONE, "text": "STOP"})
    before = state(texter)

    # when
    response = inbound(provider, {"from": PHONE, "text": "СТОП"})

    # then
    assert response.json() == {"consent_withdrawn": False}
    assert state(texter) == before


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("sha256=" + "0" * 64, id="wrong"),
        pytest.param(sign(b"{}"), id="of another body"),
        pytest.param(sign(b"", "another secret"), id="another key"),
        pytest.param("sha256=ключ", id="not ascii"),
    ],
)
def test_a_bad_signature_is_refused_and_changes_nothing(provider, texter, signature):
    # given
    before = state(texter)

    # when
    response = inbound(provider, {"from": PHONE, "text": "STOP"}, signature=signature)

    # then
    assert response.status_code == 403
    assert response.json()["code"] == "bad_signature"
    assert state(texter) == before


def test_without_a_configured_secret_nothing_is_accepted(provider, texter, settings):
    # given no secret, and a request signed with that empty key
    settings.MESSAGES_SMS_WEBHOOK_SECRET = ""
    body = json.dumps({"from": PHONE, "text": "STOP"}).encode()
    before = state(texter)

    # when
    response = inbound(provider, None, raw=body, signature=sign(body, ""))

    # then
    assert response.status_code == 403
    assert state(texter) == before


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(b"\xff\xfe", id="not utf-8"),
        pytest.param(b"[]", id="a list"),
        pytest.param(b'{"from": "+79123456789"}', id="no text"),
        pytest.param(b'{"text": "STOP"}', id="no phone"),
        pytest.param(b'{"from": ["+79123456789"], "text": "STOP"}', id="phone a list"),
        pytest.param(b'{"from": "+79123456789", "text": null}', id="text null"),
    ],
)
def test_a_body_that_is_not_an_inbound_sms_is_refused(provider, texter, raw):
    # given a correctly signed request with a broken body
    before = state(texter)

    # when
    response = inbound(provider, None, raw=raw, signature=sign(raw))

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert state(texter) == before


def test_get_is_not_allowed(provider, texter):
    # given
    before = state(texter)

    # when
    response = provider.get(URL)

    # then
    assert response.status_code == 405
    assert state(texter) == before
