"""Editing a member's details: a changed birth date is timestamped (the birthday rule),
and the member page shows the referral code and who invited the member."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from members.models import Member
from members.services.enrollment import member_details_update
from members.services.referrals import member_referral_code, member_referral_set
from tests import factories
from tests.campaigns.events.conftest import ACTOR, T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(tiers, store):
    return factories.MemberFactory(
        phone="+79123456789",
        email="anna@example.ru",
        first_name="Анна",
        last_name="Смирнова",
        birth_date=dt.date(1990, 5, 17),
        tier=tiers["Base"],
        joined_store=store,
    )


def page_data(member: Member, **changes) -> dict:
    data = {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "phone": str(member.phone),
        "email": member.email,
        "birth_date": member.birth_date.isoformat() if member.birth_date else "",
        "joined_store": member.joined_store_id or "",
        "beneficiary_category": "",
        "beneficiary_proof": "",
        "beneficiary_verified_until": "",
    }
    data.update(changes)
    return data


def test_changing_the_birth_date_is_timestamped(anna):
    # when
    with time_machine.travel(T0, tick=False):
        member = member_details_update(
            member=anna, changes={"birth_date": dt.date(1990, 3, 13)}, actor=ACTOR
        )

    # then
    stored = Member.objects.get(pk=anna.pk)
    assert stored.birth_date == dt.date(1990, 3, 13)
    assert stored.birth_date_changed_at == T0
    assert member.birth_date_changed_at == T0


def test_setting_a_first_birth_date_counts_as_a_change(tiers):
    # given a member enrolled without a birth date
    member = factories.MemberFactory(birth_date=None)

    # when
    with time_machine.travel(T0, tick=False):
        member_details_update(
            member=member, changes={"birth_date": dt.date(1990, 3, 13)}, actor=ACTOR
        )

    # then
    assert Member.objects.get(pk=member.pk).birth_date_changed_at == T0


def test_other_changes_and_the_same_birth_date_are_not_a_birth_date_change(anna, store):
    # when
    member_details_update(
        member=anna,
        changes={"birth_date": dt.date(1990, 5, 17), "last_name": "Петрова", "joined_store": store},
        actor=ACTOR,
    )

    # then
    stored = Member.objects.get(pk=anna.pk)
    assert (stored.last_name, stored.birth_date, stored.birth_date_changed_at) == (
        "Петрова",
        dt.date(1990, 5, 17),
        None,
    )


def test_a_field_that_is_not_a_detail_is_refused(anna):
    # when / then
    with pytest.raises(ValueError, match="points_balance"):
        member_details_update(
            member=anna, changes={"last_name": "Петрова", "points_balance": 1000}, actor=ACTOR
        )
    stored = Member.objects.get(pk=anna.pk)
    assert (stored.last_name, stored.points_balance) == ("Смирнова", 0)


def test_admin_edit_of_the_birth_date_is_tracked(marketer_client, anna):
    # when
    url = reverse("admin:members_member_change", args=[anna.pk])
    with time_machine.travel(T0, tick=False):
        response = marketer_client.post(url, page_data(anna, birth_date="1990-03-13"))

    # then
    assert response.status_code == 302
    stored = Member.objects.get(pk=anna.pk)
    assert (stored.birth_date, stored.birth_date_changed_at) == (dt.date(1990, 3, 13), T0)


def test_admin_edit_of_another_field_leaves_the_birth_date_untracked(marketer_client, anna):
    # when
    url = reverse("admin:members_member_change", args=[anna.pk])
    response = marketer_client.post(url, page_data(anna, last_name="Петрова"))

    # then
    assert response.status_code == 302
    stored = Member.objects.get(pk=anna.pk)
    assert (stored.last_name, stored.birth_date_changed_at) == ("Петрова", None)


def test_member_page_shows_the_referral_code_and_the_inviter(marketer_client, tiers):
    # given
    inviter = factories.MemberFactory(tier=tiers["Base"], first_name="Иван", last_name="Петров")
    friend = factories.MemberFactory(tier=tiers["Base"])
    member_referral_set(member=friend, code=member_referral_code(inviter), actor=ACTOR)

    # when
    response = marketer_client.get(reverse("admin:members_member_change", args=[friend.pk]))

    # then
    assert response.status_code == 200
    friend.refresh_from_db()
    assert len(friend.referral_code) == 8
    html = response.content.decode()
    assert friend.referral_code in html
    assert reverse("admin:members_member_change", args=[inviter.pk]) in html
    assert str(inviter) in html
