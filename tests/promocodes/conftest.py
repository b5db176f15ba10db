import pytest

from loyalty.actors import Actor
from members.services import points_grant
from tests import factories


@pytest.fixture
def silver_member_with_500(tiers):
    """The worked example's member: Silver (5%, earns 2%) with 500 points."""
    member = factories.MemberFactory(tier=tiers["Silver"])
    points_grant(member=member, amount=500, reason="test", actor=Actor.for_task("test"))
    member.refresh_from_db()
    return member


@pytest.fixture
def ten_percent_code():
    """A single-use 10% code of a batch valid now."""
    return factories.PromoCodeFactory()
