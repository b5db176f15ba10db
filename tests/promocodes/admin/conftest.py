"""Promo code admin: clients per persona (English UI for text assertions) and batches."""

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

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
def batch():
    """A generated 10% batch with three codes, one of them personal."""
    batch = factories.CodeBatchFactory(name="Весна 10%", count=3)
    factories.PromoCodeFactory.create_batch(2, batch=batch)
    factories.PromoCodeFactory(batch=batch, member=factories.MemberFactory())
    return batch


@pytest.fixture
def imported_batch():
    return factories.CodeBatchFactory(name="Партнёрские коды", source="imported", count=0)


def window(days: int = 30) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.now().replace(microsecond=0)
    return start, start + dt.timedelta(days=days)
