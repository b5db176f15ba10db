"""Test clients of staff personas."""

from django.conf import settings
from django.test import Client


def staff_client(user) -> Client:
    """A client logged in as `user`, with the English UI: Russian is the default, and
    assertions on our own messages read the English source."""
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client
