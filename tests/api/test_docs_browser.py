"""Swagger UI and Redoc render the schema in a real browser and fetch nothing elsewhere."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/api/v1/docs/", "#operations-Checkout-checkout_commit"),
        ("/api/v1/redoc/", "[data-section-id='operation/checkout_commit'] h2"),
    ],
)
def test_docs_render_offline(live_server, monkeypatch, path, rendered):
    # Playwright's sync API runs an event loop in this thread; the ORM is not used here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    origin = urlsplit(live_server.url).netloc
    finished: list[str] = []
    failed: dict[str, str] = {}
    errors: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(locale="en-US")
            page.on("requestfinished", lambda request: finished.append(request.url))
            page.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
            page.on("pageerror", lambda error: errors.append(str(error)))

            # when
            page.goto(f"{live_server.url}{path}")
            page.wait_for_selector(rendered, timeout=60_000)  # a busy CI machine is slow
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()

    # then every request that went out went to this server (the Redoc bundle's CDN logo
    # is stopped by the page's Content-Security-Policy), and no script failed
    def elsewhere(url: str) -> bool:
        return urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != origin

    assert [url for url in finished if elsewhere(url)] == []
    assert {url: why for url, why in failed.items() if elsewhere(url) and why != "csp"} == {}
    assert f"{live_server.url}/api/v1/schema/" in finished
    assert errors == []
