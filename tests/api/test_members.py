import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from loyalty.actors import Actor
from members.models import ConsentRecord, Member
from members.services import checkout_commit, points_grant
from tests import factories

MEMBERS = "/api/v1/members/"


def enrol_body(**overrides) -> dict:
    return {
        "phone": "8 (912) 345-67-89",
        "first_name": "  Анна ",
        "last_name": "Смирнова",
        "email": "Anna@Example.ru",
        "birth_date": "1990-05-17",
        "consents": {"email": True, "sms": False},
        **overrides,
    }


def test_enrol_returns_201_with_the_card_number_and_the_member_view(api, partner, tiers, store):
    # when
    response = api.post(MEMBERS, enrol_body(store="msk-01"), format="json")

    # then
    assert response.status_code == 201
    member = Member.objects.get()
    body = response.json()
    assert response["Location"] == f"/api/v1/members/{member.card_number}/"
    assert body == {
        "card_number": member.card_number,
        "first_name": "Анна",
        "last_name": "Смирнова",
        "tier": {"name": tiers["Base"].name, "discount_percent": "0.00", "earn_percent": "1.00"},
        "points_balance": 0,
        "consents": {"email": True, "sms": False, "push": False},
        "joined_at": body["joined_at"],
        "next_tier": {"name": tiers["Silver"].name, "basis": "spend", "remaining": "2000.00"},
        "expiring_points": None,
        "progress": {"counters": []},
        "referral_code": member.referral_code,
    }
    assert str(member.phone) == "+79123456789"
    assert member.email == "Anna@Example.ru"
    assert member.birth_date == dt.date(1990, 5, 17)
    assert member.joined_store == store
    records = ConsentRecord.objects.filter(member=member).order_by("channel")
    assert [(r.channel, r.is_granted, r.source, r.actor) for r in records] == [
        ("email", True, "partner", f"partner:{partner.pk}"),
        ("push", False, "partner", f"partner:{partner.pk}"),
        ("sms", False, "partner", f"partner:{partner.pk}"),
    ]


def test_enrol_minimal(api, tiers):
    # when
    response = api.post(MEMBERS, {"phone": "+7 912 000 00 01", "first_name": "Иван"}, format="json")

    # then
    assert response.status_code == 201
    member = Member.objects.get()
    assert (member.last_name, member.email, member.birth_date) == ("", "", None)
    assert response.json()["consents"] == {"email": False, "sms": False, "push": False}
    assert ConsentRecord.objects.count() == 0


@pytest.mark.parametrize(
    "duplicate",
    [
        {"phone": "+79123456789", "email": "other@example.ru"},
        {"phone": "89123456789", "email": ""},
        {"phone": "+7 999 000-00-00", "email": "ANNA@example.RU"},
    ],
)
def test_enrol_duplicate_phone_or_email_is_409(api, tiers, duplicate):
    # given
    assert api.post(MEMBERS, enrol_body(), format="json").status_code == 201

    # when
    response = api.post(MEMBERS, enrol_body(**duplicate), format="json")

    # then
    assert response.status_code == 409
    assert response.json()["code"] == "member_exists"
    assert Member.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+7 912 345-67-89\u0000"}, "phone"),
        ({"phone": "9" * 10_000}, "phone"),
        ({"first_name": ""}, "first_name"),
        ({"first_name": "   "}, "first_name"),
        ({"first_name": "А" * 101}, "first_name"),
        ({"first_name": "Ан\u0000на"}, "first_name"),
        ({"email": "not-an-email"}, "email"),
        ({"birth_date": "1990-02-30"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"birth_date": "1800-01-01"}, "birth_date"),
        ({"consents": {"email": "maybe"}}, "consents"),
        ({"consents": ["email"]}, "consents"),
    ],
)
def test_enrol_invalid_fields_are_400(api, tiers, change, field):
    # when
    response = api.post(MEMBERS, enrol_body(**change), format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == [field]
    assert Member.objects.count() == 0


def test_enrol_with_unknown_store_is_400(api, tiers):
    # when
    response = api.post(MEMBERS, enrol_body(store="NOPE"), format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "store_not_found"
    assert Member.objects.count() == 0


def test_read_member_with_next_tier_and_expiring_points(api, tiers, store, cashier):
    # given a member who earned points on two days and spent 2,500 ₽ in total
    member = factories.MemberFactory(tier=tiers["Base"])
    actor = Actor.for_task("test")
    with time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC), tick=False):
        points_grant(member=member, amount=30, reason="welcome", actor=actor)
        checkout_commit(
            member=member, store=store, receipt_number="A-1", total="1000.00", actor=actor
        )
    with time_machine.travel(dt.datetime(2026, 2, 10, 12, tzinfo=dt.UTC), tick=False):
        checkout_commit(
            member=member, store=store, receipt_number="A-2", total="1500.00", actor=actor
        )

    # when read on 1 March 2026
    with time_machine.travel(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), tick=False):
        response = api.get(f"{MEMBERS}{member.card_number}/")

    # then Silver since the second receipt; the next burn is the 30 + 10 points of 10 Jan
    assert response.status_code == 200
    body = response.json()
    assert body["card_number"] == member.card_number
    assert body["first_name"] == member.first_name
    assert body["tier"] == {
        "name": tiers["Silver"].name,
        "discount_percent": "5.00",
        "earn_percent": "2.00",
    }
    assert body["points_balance"] == 55
    assert body["next_tier"] == {
        "name": tiers["Gold"].name,
        "basis": "spend",
        "remaining": "17500.00",
    }
    assert body["expiring_points"] == {"amount": 40, "date": "2027-01-10"}
    assert body["consents"] == {"email": False, "sms": False, "push": False}


def test_read_member_at_the_top_tier_has_no_next_tier(api, tiers):
    # given
    member = factories.MemberFactory(tier=tiers["Platinum"])

    # when
    response = api.get(f"{MEMBERS}{member.card_number}/")

    # then
    assert response.status_code == 200
    assert response.json()["next_tier"] is None
    assert response.json()["expiring_points"] is None


def test_read_member_with_purchase_count_basis(api, tiers, program):
    # given a program whose tiers count purchases
    program.tier_basis = "purchases"
    program.save()
    tiers["Silver"].threshold = 5
    tiers["Silver"].save()
    member = factories.MemberFactory(tier=tiers["Base"])

    # when
    response = api.get(f"{MEMBERS}{member.card_number}/")

    # then
    assert response.json()["next_tier"] == {
        "name": tiers["Silver"].name,
        "basis": "purchases",
        "remaining": "5",
    }


@pytest.mark.parametrize(
    ("card", "status", "code"),
    [
        ("2700000000007", 404, "member_not_found"),
        ("2700000000001", 400, "bad_card_number"),
        ("27000000000", 400, "bad_card_number"),
        ("abc", 400, "bad_card_number"),
        ("٢٧٠٠٠٠٠٠٠٠٠٠٧", 400, "bad_card_number"),
        ("2" * 5000, 400, "bad_card_number"),
    ],
)
def test_read_unknown_or_mistyped_card(api, card, status, code):
    # when
    response = api.get(f"{MEMBERS}{card}/")

    # then
    assert response.status_code == status
    assert response.json()["code"] == code


def test_list_members_newest_first_with_cursor_pages(api, tiers):
    # given three members joined on three days
    members = []
    for day in (1, 2, 3):
        with time_machine.travel(dt.datetime(2026, 1, day, 12, tzinfo=dt.UTC), tick=False):
            members.append(factories.MemberFactory(tier=tiers["Base"]))

    # when read two a page
    first = api.get(MEMBERS, {"page_size": 2}).json()
    second = api.get(first["next"]).json()

    # then
    assert [m["card_number"] for m in first["results"]] == [
        members[2].card_number,
        members[1].card_number,
    ]
    assert [m["card_number"] for m in second["results"]] == [members[0].card_number]
    assert second["next"] is None
    assert set(first["results"][0]) == {
        "card_number",
        "first_name",
        "last_name",
        "tier",
        "points_balance",
        "consents",
        "joined_at",
    }


def test_list_members_filters(api, tiers):
    # given
    with time_machine.travel(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), tick=False):
        old = factories.MemberFactory(tier=tiers["Base"], phone="+79120000001", email="Old@x.ru")
    with time_machine.travel(dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC), tick=False):
        new = factories.MemberFactory(tier=tiers["Silver"], phone="+79120000002")

    def cards(params):
        response = api.get(MEMBERS, params)
        assert response.status_code == 200, response.json()
        return [m["card_number"] for m in response.json()["results"]]

    # then
    assert cards({"phone": "8 912 000-00-01"}) == [old.card_number]
    assert cards({"email": "old@X.RU"}) == [old.card_number]
    assert cards({"tier": tiers["Silver"].name.upper()}) == [new.card_number]
    assert cards({"created_after": "2026-03-01T00:00:00Z"}) == [new.card_number]
    assert cards({"created_before": "2026-03-01"}) == [old.card_number]
    # an offset PostgreSQL would refuse is turned into UTC first
    assert cards({"created_after": "2026-03-01T10:00:00-21:14"}) == [new.card_number]
    assert cards({"tier": "no such tier"}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"phone": "\u0000"}, "phone"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": "0753-04-20T03:57:20-21:14"}, "created_after"),
        ({"created_before": "0001-01-01T00:00:00+05:00"}, "created_before"),
        ({"created_before": "9999-12-31"}, "created_before"),
        ({"email": "x" * 300}, "email"),
    ],
)
def test_list_members_bad_filters_are_400(api, params, field):
    # when
    response = api.get(MEMBERS, params)

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == [field]


def test_list_bad_cursor_is_400(api):
    # when
    response = api.get(MEMBERS, {"cursor": "garbage"})

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["cursor"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_members_costs_the_same_queries_for_3_and_30(
    api, tiers, count, django_assert_num_queries
):
    # given
    factories.MemberFactory.create_batch(count, tier=tiers["Silver"])

    # when / then: the key with its partner, the page of members with their tiers
    with django_assert_num_queries(2):
        response = api.get(MEMBERS, {"page_size": 50})
    assert len(response.json()["results"]) == count


def test_member_joined_at_is_the_creation_time(api, tiers):
    # given
    member = factories.MemberFactory(tier=tiers["Base"])

    # when
    body = api.get(f"{MEMBERS}{member.card_number}/").json()

    # then
    assert dt.datetime.fromisoformat(body["joined_at"]) == member.created_at
    assert timezone.is_aware(dt.datetime.fromisoformat(body["joined_at"]))
