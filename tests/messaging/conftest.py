"""Fixtures for the message tests: an empty in-memory outbox, consent and a fixed time."""

import datetime as dt

import pytest

from loyalty.actors import Actor
from members.models import ConsentRecord
from members.services import member_consent_set
from messaging.backends import memory

# A fixed, ordinary moment for tests that travel in time (Moscow afternoon).
T0 = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def memory_outbox():
    """What the SMS and push backends sent during the test (django.core.mail.outbox is
    emptied by pytest-django)."""
    memory.clear()
    yield memory.outbox
    memory.clear()


def consent(member, channel: str, *, is_granted: bool = True) -> None:
    """Give (or withdraw) the member's consent through the service, as the desk does."""
    member_consent_set(
        member=member,
        channel=channel,
        is_granted=is_granted,
        source="test",
        actor=Actor.for_task("test"),
    )
    member.refresh_from_db()


def consent_state(member) -> tuple:
    """The member's consent flags and the number of consent records: what a refused
    withdrawal must leave as it was."""
    member.refresh_from_db()
    return (
        member.consent_email,
        member.consent_sms,
        member.consent_push,
        ConsentRecord.objects.count(),
    )
