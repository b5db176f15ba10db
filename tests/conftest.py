"""Thin fixtures: the program defaults, one persona per permission boundary."""

import os

import pytest
from django.contrib.auth.models import Group, Permission

from loyalty.actors import Actor
from loyalty.defaults import CASHIER, MARKETING, groups_ensure, program_defaults_ensure
from loyalty.models import BeneficiaryCategory, ProgramSettings, Tier
from members.services import points_grant
from messaging.defaults import message_templates_ensure
from messaging.models import MessageTemplate
from tests import factories
from tests.clients import staff_client


def pytest_sessionstart(session):
    """CI tests on PostgreSQL: a suite that quietly fell back to SQLite would prove less."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.exit(
                f"CI must run the test suite on PostgreSQL, not {connection.vendor}: "
                "set DATABASE_URL=postgres://...",
                returncode=3,
            )


@pytest.fixture(autouse=True)
def program(db):
    """Defaults of PRODUCT.md; re-created because transactional tests flush tables."""
    program_defaults_ensure(
        ProgramSettings=ProgramSettings, Tier=Tier, BeneficiaryCategory=BeneficiaryCategory
    )
    if not Group.objects.filter(name=CASHIER).exists():
        groups_ensure(Group=Group, Permission=Permission)
    message_templates_ensure(MessageTemplate=MessageTemplate)
    return ProgramSettings.load()


@pytest.fixture
def tiers(program) -> dict[str, Tier]:
    """The default tiers by their English name: Base, Silver, Gold, Platinum."""
    ordered = list(Tier.objects.order_by("threshold"))
    return dict(zip(["Base", "Silver", "Gold", "Platinum"], ordered, strict=True))


@pytest.fixture
def silver_member_with_500(tiers):
    """PRODUCT.md's worked example: a Silver member (5%, earns 2%) with 500 points."""
    member = factories.MemberFactory(tier=tiers["Silver"])
    points_grant(member=member, amount=500, reason="test", actor=Actor.for_task("test"))
    member.refresh_from_db()
    return member


@pytest.fixture
def store():
    return factories.StoreFactory(code="MSK-01", name="Москва, Тверская")


@pytest.fixture
def member(tiers):
    return factories.MemberFactory(tier=tiers["Base"])


@pytest.fixture
def marketer():
    return factories.UserFactory(username="marketer", is_staff=True, groups=[MARKETING])


@pytest.fixture
def cashier():
    return factories.UserFactory(username="cashier", groups=[CASHIER])


@pytest.fixture
def superuser():
    user = factories.UserFactory(username="root", is_staff=True)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


@pytest.fixture
def marketer_client(marketer):
    return staff_client(marketer)


@pytest.fixture
def superuser_client(superuser):
    return staff_client(superuser)


@pytest.fixture
def outsider():
    return factories.UserFactory(username="outsider")


@pytest.fixture
def partner():
    return factories.PartnerFactory()


@pytest.fixture
def partner_key(partner) -> str:
    return factories.partner_key(partner)
