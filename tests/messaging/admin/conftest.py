"""Message admin: clients per persona (English UI for text assertions), messages."""

import pytest
from django.conf import settings
from django.test import Client

from tests import factories


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    # Russian is the default; assertions on our own messages read the English source.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def marketer_client(marketer) -> Client:
    return client_for(marketer)


@pytest.fixture
def superuser_client() -> Client:
    user = factories.UserFactory(username="root", is_staff=True)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return client_for(user)


@pytest.fixture
def failed_message(member):
    return factories.MessageFactory(
        member=member, status="failed", attempts=4, error="SMS provider: 503"
    )


@pytest.fixture
def sent_message(member):
    return factories.MessageFactory(member=member, status="sent", attempts=1)
