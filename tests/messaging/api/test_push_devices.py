"""Partner API: a member's app registers and removes the devices push messages go to."""

import pytest

from members.cards import card_number_generate
from messaging.models import PushDevice
from tests import factories
from tests.api.conftest import client_with_key

pytestmark = pytest.mark.django_db


def url(card_number: str) -> str:
    return f"/api/v1/members/{card_number}/push-devices/"


def remove_url(card_number: str) -> str:
    return f"/api/v1/members/{card_number}/push-devices/remove/"


def client_for(*scopes: str):
    return client_with_key(factories.partner_key(factories.PartnerFactory(scopes=list(scopes))))


@pytest.fixture
def writer():
    return client_for("members:write")


def test_registering_a_device_makes_it_the_members_push_address(writer, member):
    # when
    response = writer.post(
        url(member.card_number), {"token": "fcm:abc", "platform": "android"}, format="json"
    )

    # then
    assert response.status_code == 201, response.json()
    assert response.json()["token"] == "fcm:abc"
    device = PushDevice.objects.get()
    assert (device.member, device.platform, device.is_active) == (member, "android", True)


def test_registering_again_is_harmless_and_a_moved_token_follows_the_new_member(writer, member):
    # given
    writer.post(url(member.card_number), {"token": "fcm:abc", "platform": "android"}, format="json")
    other = factories.MemberFactory(tier=member.tier)

    # when the same token is registered again, then by another member on the same phone
    again = writer.post(
        url(member.card_number), {"token": "fcm:abc", "platform": "android"}, format="json"
    )
    moved = writer.post(
        url(other.card_number), {"token": "fcm:abc", "platform": "android"}, format="json"
    )

    # then
    assert (again.status_code, moved.status_code) == (200, 200)
    device = PushDevice.objects.get()
    assert device.member == other


def test_removing_a_device_stops_push_there_and_is_harmless_twice(writer, member):
    # given a web push endpoint: a long URL with slashes
    token = "https://fcm.googleapis.com/fcm/send/" + "x" * 400
    writer.post(url(member.card_number), {"token": token, "platform": "web"}, format="json")

    # when
    first = writer.post(remove_url(member.card_number), {"token": token}, format="json")
    second = writer.post(remove_url(member.card_number), {"token": token}, format="json")

    # then
    assert (first.status_code, second.status_code) == (204, 204)
    assert PushDevice.objects.get().is_active is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "", "platform": "android"}, "token"),
        ({"token": "x" * 513, "platform": "android"}, "token"),
        ({"token": "fcm:abc", "platform": "symbian"}, "platform"),
        ({"platform": "android"}, "token"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_is_saved(writer, member, body, field):
    # when
    response = writer.post(url(member.card_number), body, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert not PushDevice.objects.exists()


def test_unknown_or_mistyped_cards_are_refused(writer, member):
    # given a valid card that no member holds, and one with a wrong check digit
    unknown_card = card_number_generate()
    wrong_check = member.card_number[:-1] + str((int(member.card_number[-1]) + 1) % 10)

    # when
    unknown = writer.post(url(unknown_card), {"token": "t", "platform": "web"}, format="json")
    mistyped = writer.post(url(wrong_check), {"token": "t", "platform": "web"}, format="json")

    # then
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "member_not_found"
    assert mistyped.status_code == 400
    assert mistyped.json()["code"] == "bad_card_number"
    assert not PushDevice.objects.exists()


def test_a_key_without_members_write_cannot_register(member):
    # given
    reader = client_for("members:read")

    # when
    response = reader.post(
        url(member.card_number), {"token": "fcm:abc", "platform": "android"}, format="json"
    )

    # then
    assert response.status_code == 403
    assert not PushDevice.objects.exists()
