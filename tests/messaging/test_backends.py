"""The delivery backends: what each sends, and how a provider's refusals are classed
(transient: retried later; permanent: the message fails)."""

from __future__ import annotations

import io
import json
import smtplib
import socket

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from messaging.backends import (
    Accepted,
    DeliveryError,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
    backend_for,
)
from messaging.backends.console import ConsoleBackend
from messaging.backends.http_json import HttpBackend
from messaging.backends.mail import EmailBackend
from messaging.backends.memory import MemoryBackend
from tests.messaging import provider
from tests.messaging.provider import SmsProvider

sms_provider = provider.sms_provider  # the fixture, for the tests of this module

TEXT_RU = "Анна, ваш промокод ЁЖИК-2025 действует до 24 марта. Отписка: СТОП"


def sms(key: str = "loyalty-1", *, to: str = "+79121234567", body: str = TEXT_RU) -> Outgoing:
    return Outgoing(idempotency_key=key, channel="sms", to=to, subject="", body=body)


def email(key: str = "loyalty-7", **changes) -> Outgoing:
    values = {
        "idempotency_key": key,
        "channel": "email",
        "to": "anna@example.ru",
        "subject": "Подарок для вас",
        "body": "Анна, ваш промокод ЁЖИК-2025.",
        "html": "<p>Анна, ваш промокод <b>ЁЖИК-2025</b>.</p>",
        "headers": {
            "List-Unsubscribe": "<https://loyalty.example/m/unsubscribe/t/>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    return Outgoing(**(values | changes))


def free_port() -> int:
    """A local port nothing listens on (taken and let go at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- HttpBackend --------------------------------------------------------------------------


def test_http_accepted_keeps_the_providers_id_and_answer(sms_provider):
    # given
    backend = HttpBackend(url=sms_provider.url, sender="Loyalty")

    # when
    accepted = backend.send(sms("loyalty-41"))

    # then
    assert accepted.provider_id == "prov-1"
    assert json.loads(accepted.response) == {"id": "prov-1"}
    (request,) = sms_provider.requests
    assert (request.key, request.to, request.sender) == ("loyalty-41", "+79121234567", "Loyalty")
    assert sms_provider.delivered["loyalty-41"]["id"] == "loyalty-41"


def test_http_sends_the_bearer_token_and_the_idempotency_key(sms_provider):
    # given a provider that wants a token
    sms_provider.token = "s3cret"
    backend = HttpBackend(url=sms_provider.url, token="s3cret")

    # when
    backend.send(sms("loyalty-42"))

    # then
    (request,) = sms_provider.requests
    assert request.authorization == "Bearer s3cret"
    assert request.key == "loyalty-42"
    assert request.status == 200


def test_http_without_the_token_is_refused_for_good(sms_provider):
    # given a provider that wants a token the backend does not have
    sms_provider.token = "s3cret"
    backend = HttpBackend(url=sms_provider.url)

    # when
    with pytest.raises(PermanentDeliveryError) as caught:
        backend.send(sms())

    # then
    assert str(caught.value) == "HTTP 401"
    assert sms_provider.requests[0].authorization == ""
    assert sms_provider.delivered == {}


def test_http_russian_text_arrives_intact(sms_provider):
    # given
    backend = HttpBackend(url=sms_provider.url)

    # when
    backend.send(sms("loyalty-43"))

    # then
    assert sms_provider.requests[0].text == TEXT_RU
    assert sms_provider.delivered["loyalty-43"]["text"] == TEXT_RU


def test_http_a_repeated_key_is_answered_alike_and_delivered_once(sms_provider):
    # given a message the provider took once
    backend = HttpBackend(url=sms_provider.url)
    first = backend.send(sms("loyalty-44"))

    # when it is sent again with the same key (a retry after a lost answer)
    again = backend.send(sms("loyalty-44"))

    # then the provider answers as the first time and delivers nothing new
    assert again == first
    assert [r.key for r in sms_provider.requests] == ["loyalty-44", "loyalty-44"]
    assert list(sms_provider.delivered) == ["loyalty-44"]


def test_http_400_is_permanent_and_keeps_the_providers_answer(sms_provider):
    # given a provider that refuses the text
    sms_provider.fail_next(400, answer={"error": "номер не обслуживается"})
    backend = HttpBackend(url=sms_provider.url)

    # when
    with pytest.raises(PermanentDeliveryError) as caught:
        backend.send(sms())

    # then
    assert not caught.value.is_transient
    assert str(caught.value) == "HTTP 400"
    assert json.loads(caught.value.response) == {"error": "номер не обслуживается"}
    assert sms_provider.delivered == {}


@pytest.mark.parametrize("status", [408, 425, 429, 500, 503])
def test_http_busy_or_broken_provider_is_transient(sms_provider, status):
    # given
    sms_provider.fail_next(status)
    backend = HttpBackend(url=sms_provider.url)

    # when
    with pytest.raises(TransientDeliveryError) as caught:
        backend.send(sms())

    # then
    assert caught.value.is_transient
    assert str(caught.value) == f"HTTP {status}"
    assert json.loads(caught.value.response) == {"error": f"status {status}"}
    assert sms_provider.delivered == {}


def test_http_a_retry_after_a_transient_error_is_delivered(sms_provider):
    # given a provider that was busy for the first attempt
    sms_provider.fail_next(503)
    backend = HttpBackend(url=sms_provider.url)
    with pytest.raises(TransientDeliveryError):
        backend.send(sms("loyalty-45"))

    # when the message is sent again with its key
    accepted = backend.send(sms("loyalty-45"))

    # then this attempt is the one delivered
    assert accepted.provider_id == "prov-1"
    assert [r.status for r in sms_provider.requests] == [503, 200]
    assert list(sms_provider.delivered) == ["loyalty-45"]


def test_http_connection_refused_is_transient():
    # given nobody listening at the provider's address
    backend = HttpBackend(url=f"http://127.0.0.1:{free_port()}/messages")

    # when / then
    with pytest.raises(TransientDeliveryError) as caught:
        backend.send(sms())
    assert "refused" in str(caught.value).lower()
    assert caught.value.response == ""


def test_http_a_slow_provider_times_out_as_transient(sms_provider):
    # given a provider slower than the backend's timeout
    sms_provider.delay = 1.0
    backend = HttpBackend(url=sms_provider.url, timeout=0.2)

    # when / then
    with pytest.raises(TransientDeliveryError) as caught:
        backend.send(sms("loyalty-46"))
    assert "timed out" in str(caught.value).lower()
    # It may have been delivered all the same: the retry carries the same key.
    assert list(sms_provider.delivered) == ["loyalty-46"]


def test_http_an_answer_without_json_is_accepted_without_an_id(monkeypatch):
    # given a provider answering 2xx with plain text
    class PlainAnswer(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr("urllib.request.urlopen", lambda request, timeout: PlainAnswer(b"queued"))

    # when
    accepted = HttpBackend(url="http://sms.example/api").send(sms())

    # then
    assert accepted == Accepted(provider_id="", response="queued")


# --- EmailBackend -------------------------------------------------------------------------


@pytest.fixture
def from_email(settings):
    settings.DEFAULT_FROM_EMAIL = "loyalty@shop.example"
    return settings.DEFAULT_FROM_EMAIL


def test_email_message_id_is_the_idempotency_key(from_email):
    # given
    backend = EmailBackend()

    # when
    accepted = backend.send(email("loyalty-7"))

    # then
    (sent,) = mail.outbox
    assert sent.extra_headers["Message-ID"] == "<loyalty-7@shop.example>"
    assert sent.message()["Message-ID"] == "<loyalty-7@shop.example>"
    assert accepted == Accepted(provider_id="", response="accepted")


def test_email_message_id_with_a_named_sender(settings):
    # given the usual "Name <address>" sender
    settings.DEFAULT_FROM_EMAIL = "Программа лояльности <loyalty@shop.example>"

    # when
    EmailBackend().send(email("loyalty-7"))

    # then the header ESP backends (anymail) pass on as it is is well formed
    (sent,) = mail.outbox
    assert sent.from_email == "Программа лояльности <loyalty@shop.example>"
    assert sent.extra_headers["Message-ID"] == "<loyalty-7@shop.example>"


def test_email_the_same_key_gives_the_same_message_id_on_every_attempt(from_email):
    # given
    backend = EmailBackend()

    # when
    backend.send(email("loyalty-8"))
    backend.send(email("loyalty-8"))

    # then
    ids = {sent.message()["Message-ID"] for sent in mail.outbox}
    assert ids == {"<loyalty-8@shop.example>"}


def test_email_headers_html_and_addresses(from_email):
    # given
    backend = EmailBackend()
    backend.open()

    # when
    backend.send(email())
    backend.close()

    # then
    (sent,) = mail.outbox
    assert sent.to == ["anna@example.ru"]
    assert sent.from_email == from_email
    assert sent.subject == "Подарок для вас"
    assert sent.body == "Анна, ваш промокод ЁЖИК-2025."
    assert sent.extra_headers["List-Unsubscribe"] == "<https://loyalty.example/m/unsubscribe/t/>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [(a.content, a.mimetype) for a in sent.alternatives] == [
        ("<p>Анна, ваш промокод <b>ЁЖИК-2025</b>.</p>", "text/html")
    ]
    assert backend.connection is None


def test_email_without_html_is_plain_text(from_email):
    # when
    EmailBackend().send(email(html=""))

    # then
    (sent,) = mail.outbox
    assert sent.alternatives == []
    assert sent.message().get_content_type() == "text/plain"


class FailingMailBackend(BaseEmailBackend):
    """An EMAIL_BACKEND whose server answers every message with `error`."""

    error: Exception | None = None
    opened = 0
    closed = 0

    def open(self):
        FailingMailBackend.opened += 1
        return True

    def close(self):
        FailingMailBackend.closed += 1

    def send_messages(self, email_messages):
        raise FailingMailBackend.error


@pytest.fixture
def failing_mail(settings, from_email):
    settings.EMAIL_BACKEND = f"{__name__}.FailingMailBackend"
    FailingMailBackend.opened = FailingMailBackend.closed = 0

    def fail_with(error: Exception) -> None:
        FailingMailBackend.error = error

    yield fail_with
    FailingMailBackend.error = None


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPRecipientsRefused({"anna@example.ru": (550, b"5.1.1 No such user")}),
        smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "loyalty@shop.example"),
        smtplib.SMTPDataError(554, b"5.7.1 Message rejected as spam"),
        smtplib.SMTPResponseException(550, b"5.1.1 Mailbox unavailable"),
    ],
    ids=["recipients-refused", "sender-refused", "data-554", "response-550"],
)
def test_email_refusals_are_permanent(failing_mail, error):
    # given
    failing_mail(error)

    # when
    with pytest.raises(PermanentDeliveryError) as caught:
        EmailBackend().send(email())

    # then
    assert not caught.value.is_transient
    assert caught.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPResponseException(421, b"4.7.0 Try again later"),
        smtplib.SMTPDataError(451, b"4.3.0 Local error in processing"),
    ],
    ids=["response-421", "data-451"],
)
def test_email_4xx_answers_are_transient(failing_mail, error):
    # given
    failing_mail(error)

    # when
    with pytest.raises(TransientDeliveryError) as caught:
        EmailBackend().send(email())

    # then
    assert caught.value.is_transient
    assert str(caught.value).startswith(f"SMTP {error.smtp_code}: ")


@pytest.mark.parametrize(
    "error",
    [
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError("timed out"),
        OSError(101, "Network is unreachable"),
    ],
    ids=["disconnected", "reset", "timeout", "os-error"],
)
def test_email_a_broken_connection_is_transient_and_reopened(failing_mail, error):
    # given a backend whose connection breaks on the first message
    failing_mail(error)
    backend = EmailBackend()
    backend.open()

    # when
    with pytest.raises(TransientDeliveryError) as caught:
        backend.send(email())

    # then the broken connection is dropped, and the next message opens a new one
    assert caught.value.is_transient
    assert backend.connection is None
    assert (FailingMailBackend.opened, FailingMailBackend.closed) == (1, 1)
    with pytest.raises(TransientDeliveryError):
        backend.send(email())
    assert FailingMailBackend.opened == 2


def test_email_anymail_refusal_is_permanent_and_api_error_transient(failing_mail):
    from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

    # given / when / then
    failing_mail(AnymailRecipientsRefused("All message recipients were rejected."))
    with pytest.raises(PermanentDeliveryError):
        EmailBackend().send(email())
    failing_mail(AnymailAPIError("ESP API response 503"))
    with pytest.raises(TransientDeliveryError):
        EmailBackend().send(email())


# --- ConsoleBackend, MemoryBackend, backend_for --------------------------------------------


def test_console_writes_to_the_given_stream():
    # given
    stream = io.StringIO()
    backend = ConsoleBackend(stream=stream)

    # when
    accepted = backend.send(sms("loyalty-9"))
    backend.send(
        Outgoing(idempotency_key="loyalty-10", channel="push", to="tok", subject="Т", body="Б")
    )

    # then
    assert stream.getvalue() == (f"SMS → +79121234567: {TEXT_RU}\nPUSH → tok [Т]: Б\n")
    assert accepted == Accepted(provider_id="loyalty-9", response="console")


def test_memory_keeps_what_it_sent(memory_outbox):
    # when
    accepted = MemoryBackend().send(sms("loyalty-11"))

    # then
    assert memory_outbox == [sms("loyalty-11")]
    assert accepted == Accepted(provider_id="loyalty-11", response="memory")


def test_backend_for_builds_the_configured_class_with_its_options(settings):
    # given
    settings.MESSAGES_SMS_BACKEND = "messaging.backends.http_json.HttpBackend"
    settings.MESSAGES_SMS_OPTIONS = {
        "url": "https://sms.example/send",
        "token": "t",
        "sender": "Shop",
        "timeout": 3,
    }
    settings.MESSAGES_PUSH_BACKEND = "messaging.backends.console.ConsoleBackend"
    settings.MESSAGES_PUSH_OPTIONS = {}

    # when
    sms_backend = backend_for("sms")
    push_backend = backend_for("push")
    email_backend = backend_for("email")

    # then
    assert isinstance(sms_backend, HttpBackend)
    assert (sms_backend.url, sms_backend.token, sms_backend.sender, sms_backend.timeout) == (
        "https://sms.example/send",
        "t",
        "Shop",
        3,
    )
    assert type(push_backend) is ConsoleBackend
    assert type(email_backend) is EmailBackend
    assert backend_for("sms") is not sms_backend  # a new instance per delivery run


def test_backend_for_an_unknown_channel_is_an_error():
    with pytest.raises(KeyError):
        backend_for("fax")


def test_delivery_errors_are_transient_unless_permanent():
    assert DeliveryError("x").is_transient
    assert TransientDeliveryError("x").is_transient
    assert not PermanentDeliveryError("x", response="r").is_transient
    assert PermanentDeliveryError("x", response="r").response == "r"


def test_the_fake_provider_stops_cleanly():
    # given
    provider = SmsProvider().start()
    HttpBackend(url=provider.url).send(sms())

    # when
    provider.stop()

    # then
    with pytest.raises(TransientDeliveryError):
        HttpBackend(url=provider.url, timeout=1).send(sms())
