"""A fake HTTP SMS provider that honours `Idempotency-Key` the way real ones do.

It serves messaging.backends.http_json.HttpBackend's POSTs on 127.0.0.1 (a free port),
in a thread of the test process, so a Celery worker subprocess can reach it too. Every
request is recorded in `requests`. The first accepted request of a key is delivered
(`delivered[key]` keeps its payload) and its answer remembered: a request repeating the
key gets that same answer and reaches the member no second time. A message is taken
(and delivered) as soon as it arrives, before any `delay` or hold, so a sender that dies
while waiting for the answer leaves a message that was delivered without its knowing.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass(frozen=True)
class ProviderRequest:
    key: str
    to: str
    text: str
    sender: str
    authorization: str
    status: int
    answer: dict
    at: float  # time.monotonic() of its arrival


class SmsProvider:
    """The provider and what it saw; `url` is where HttpBackend posts."""

    def __init__(self, *, token: str = ""):
        self.token = token  # when set, requests without "Bearer <token>" get 401
        self.delay = 0.0  # seconds before each answer
        # Requests from this index on (0 is the first) are taken, then wait for release()
        # before they are answered: a sender can be stopped while its request is in flight.
        self.hold_from: int | None = None
        self.holding = threading.Event()  # set once a held request has arrived
        self._released = threading.Event()
        self.requests: list[ProviderRequest] = []
        self.delivered: dict[str, dict] = {}
        self._answers: dict[str, tuple[int, dict]] = {}  # key -> the first accepted answer
        self._failures: list[tuple[int, dict]] = []  # forced answers of the next requests
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/messages"

    def start(self) -> SmsProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def fail_next(self, status: int, *, count: int = 1, answer: dict | None = None) -> None:
        """Answer the next `count` requests with `status` (nothing is delivered)."""
        with self._lock:
            self._failures.extend([(status, answer or {"error": f"status {status}"})] * count)

    def release(self) -> None:
        """Answer the held requests and hold no more."""
        self.hold_from = None
        self._released.set()

    def released_wait(self) -> None:
        self._released.wait(timeout=120)

    def requests_by_key(self) -> dict[str, list[ProviderRequest]]:
        with self._lock:
            by_key: dict[str, list[ProviderRequest]] = {}
            for request in self.requests:
                by_key.setdefault(request.key, []).append(request)
            return by_key

    def answer(self, *, key: str, payload: dict, authorization: str) -> tuple[int, dict, bool]:
        """Record one request; its answer, and whether to hold it (for the handler)."""
        with self._lock:
            if self.token and authorization != f"Bearer {self.token}":
                status, body = 401, {"error": "unauthorized"}
            elif not key:
                status, body = 400, {"error": "Idempotency-Key is required"}
            elif self._failures:
                status, body = self._failures.pop(0)
            elif key in self._answers:
                status, body = self._answers[key]
            else:
                status, body = 200, {"id": f"prov-{next(self._ids)}"}
                self._answers[key] = (status, body)
                self.delivered[key] = payload
            self.requests.append(
                ProviderRequest(
                    key=key,
                    to=str(payload.get("to", "")),
                    text=str(payload.get("text", "")),
                    sender=str(payload.get("sender", "")),
                    authorization=authorization,
                    status=status,
                    answer=body,
                    at=time.monotonic(),
                )
            )
            held = self.hold_from is not None and len(self.requests) > self.hold_from
            return status, body, held


def _handler_for(provider: SmsProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                payload = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                payload = None
            if not isinstance(payload, dict):
                self._reply(400, {"error": "the body is not a JSON object"})
                return
            status, body, held = provider.answer(
                key=self.headers.get("Idempotency-Key", ""),
                payload=payload,
                authorization=self.headers.get("Authorization", ""),
            )
            if held:
                provider.holding.set()
                provider.released_wait()
            if provider.delay:
                time.sleep(provider.delay)
            self._reply(status, body)

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.close_connection = True
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the sender is gone (killed, or timed out): its answer is lost
                pass

        def log_message(self, format, *args) -> None:
            return None  # thousands of requests in the worker tests

    return Handler


@pytest.fixture
def sms_provider():
    """A started fake SMS provider, stopped after the test."""
    provider = SmsProvider().start()
    try:
        yield provider
    finally:
        provider.stop()
