import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from loyalty.models import Partner, PartnerAPIKey
from tests.api.conftest import client_with_key


def create_partner_key(*args) -> list[str]:
    out = io.StringIO()
    call_command("create_partner_key", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()


def test_creates_the_partner_with_every_scope_and_prints_a_working_key_last(member):
    # when
    lines = create_partner_key("Интернет-магазин")

    # then
    partner = Partner.objects.get(name="Интернет-магазин")
    assert partner.scopes == list(Partner.Scope.values)
    key = lines[-1]
    api_key = PartnerAPIKey.objects.get(partner=partner)
    assert api_key.expiry_date is None
    assert PartnerAPIKey.objects.get_from_key(key) == api_key
    response = client_with_key(key).get(f"/api/v1/members/{member.card_number}/")
    assert response.status_code == 200


def test_existing_partner_gets_another_key_and_keeps_its_scopes():
    # given
    partner = Partner.objects.create(name="Сайт", scopes=["members:read"])

    # when
    first = create_partner_key("Сайт")[-1]
    second = create_partner_key("Сайт")[-1]

    # then
    assert first != second
    assert Partner.objects.count() == 1
    assert PartnerAPIKey.objects.filter(partner=partner).count() == 2
    partner.refresh_from_db()
    assert partner.scopes == ["members:read"]


def test_scopes_and_expiry(member):
    # when
    key = create_partner_key(
        "Сайт", "--scopes", "checkout", "members:read", "--expires-days", "30"
    )[-1]

    # then
    partner = Partner.objects.get(name="Сайт")
    assert partner.scopes == ["members:read", "checkout"]
    expiry = PartnerAPIKey.objects.get(partner=partner).expiry_date
    assert abs(expiry - (timezone.now() + dt.timedelta(days=30))) < dt.timedelta(minutes=1)
    client = client_with_key(key)
    assert client.get(f"/api/v1/members/{member.card_number}/").status_code == 200
    assert client.post("/api/v1/members/", {}, format="json").status_code == 403


@pytest.mark.parametrize(
    "args",
    [("",), ("Сайт", "--scopes", "everything"), ("Сайт", "--expires-days", "0")],
)
def test_bad_arguments_create_nothing(args):
    # when / then
    with pytest.raises((CommandError, SystemExit)):
        call_command("create_partner_key", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert Partner.objects.count() == 0
    assert PartnerAPIKey.objects.count() == 0
