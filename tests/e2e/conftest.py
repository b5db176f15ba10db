"""Browser tests: Playwright drives Debian's Chromium against Django's live_server."""

import os

import pytest

from loyalty.actors import Actor
from members.services import points_grant
from tests import factories

# Playwright's sync API runs an event loop in the test thread; Django would refuse ORM
# calls from it (SynchronousOnlyOperation) although they are plain synchronous calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # `playwright install` cannot download here: use the system Chromium.
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # A Russian tablet in landscape.
    return {
        **browser_context_args,
        "locale": "ru-RU",
        "timezone_id": "Europe/Moscow",
        "viewport": {"width": 1024, "height": 768},
    }


@pytest.fixture
def demo_member(tiers):
    """Like a demo member: Russian name and phone, Silver, 500 points."""
    member = factories.MemberFactory(
        tier=tiers["Silver"], first_name="Ольга", last_name="Кузнецова", phone="+79123456789"
    )
    points_grant(member=member, amount=500, reason="demo", actor=Actor.for_task("test"))
    return member
