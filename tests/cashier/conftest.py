import pytest
from django.conf import settings

from loyalty.actors import Actor
from members.services import points_grant
from tests import factories


@pytest.fixture
def desk(client, cashier):
    """A test client logged in as the cashier, with English chosen.

    The desk is Russian by default (tests/cashier/test_access.py checks that); the
    English source strings keep these assertions independent of the translations.
    """
    client.force_login(cashier)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def silver_member(tiers):
    """PRODUCT.md's worked example: a Silver member (5%, earns 2%) with 500 points."""
    member = factories.MemberFactory(
        tier=tiers["Silver"], first_name="Анна", last_name="Смирнова", phone="+79123456789"
    )
    points_grant(member=member, amount=500, reason="test", actor=Actor.for_task("test"))
    member.refresh_from_db()
    return member
