"""Admin test helpers: clients logged in per persona, English UI for text assertions."""

import pytest
from django.conf import settings
from django.test import Client

from tests import factories


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    # Russian is the default; assertions on our own messages read the English source.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def superuser():
    user = factories.UserFactory(username="root", is_staff=True)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


@pytest.fixture
def marketer_client(marketer) -> Client:
    return _client(marketer)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return _client(superuser)


@pytest.fixture
def client_for():
    return _client
