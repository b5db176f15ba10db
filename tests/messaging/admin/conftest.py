"""Message admin: messages in the states the admin acts on."""

import pytest

from tests import factories


@pytest.fixture
def failed_message(member):
    return factories.MessageFactory(
        member=member, status="failed", attempts=4, error="SMS provider: 503"
    )


@pytest.fixture
def sent_message(member):
    return factories.MessageFactory(member=member, status="sent", attempts=1)
