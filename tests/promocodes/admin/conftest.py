"""Promo code admin: batches and codes to act on."""

import datetime as dt

import pytest
from django.utils import timezone

from tests import factories


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
