"""member_enroll and member_consent_set, and finding members by card or phone."""

import datetime as dt

import pytest

from loyalty.actors import Actor
from loyalty.errors import InvalidInput
from members.cards import card_number_is_valid, ean13_check_digit
from members.errors import BadCardNumber, MemberExists, MemberNotFound
from members.models import ConsentRecord, Member
from members.selectors import member_find, member_get, phone_normalise
from members.services import member_consent_set, member_enroll
from tests import factories


def enroll(actor, **kwargs):
    data = {"phone": "8 912 345-67-89", "first_name": "Анна", "actor": actor} | kwargs
    return member_enroll(**data)


@pytest.mark.parametrize(
    "typed",
    [
        "8 912 345-67-89",
        "89123456789",
        "+7 (912) 345-67-89",
        "+79123456789",
        "  7 912 3456789 ",
        "8-912-345-67-89",
    ],
)
def test_phone_is_normalised_to_e164(typed):
    assert phone_normalise(typed) == "+79123456789"


@pytest.mark.parametrize("typed", ["", "12345", "+7 912 345", "телефон", "8 800 000-00-00-00"])
def test_not_a_phone_normalises_to_none(typed):
    assert phone_normalise(typed) is None


def test_enroll_creates_a_member_on_the_lowest_tier_with_a_valid_card(tiers, store, cashier_actor):
    # when
    member = enroll(
        cashier_actor,
        last_name=" Смирнова ",
        email="anna@example.ru",
        birth_date=dt.date(1990, 5, 17),
        joined_store=store,
    )

    # then
    member.refresh_from_db()
    assert str(member.phone) == "+79123456789"
    assert member.first_name == "Анна"
    assert member.last_name == "Смирнова"
    assert member.email == "anna@example.ru"
    assert member.birth_date == dt.date(1990, 5, 17)
    assert member.joined_store == store
    assert member.tier == tiers["Base"]
    assert member.points_balance == 0
    assert len(member.card_number) == 13
    assert member.card_number.startswith("27")
    assert card_number_is_valid(member.card_number)
    assert (member.consent_email, member.consent_sms, member.consent_push) == (False, False, False)
    assert member.consents.count() == 0


def test_enroll_records_each_consent_with_source_and_actor(cashier_actor):
    # when
    member = enroll(cashier_actor, consents={"email": True, "sms": False, "push": True})

    # then
    member.refresh_from_db()
    assert (member.consent_email, member.consent_sms, member.consent_push) == (True, False, True)
    records = {
        r.channel: (r.is_granted, r.source, r.actor)
        for r in ConsentRecord.objects.filter(member=member)
    }
    assert records == {
        "email": (True, "cashier", "user:cashier"),
        "sms": (False, "cashier", "user:cashier"),
        "push": (True, "cashier", "user:cashier"),
    }


def test_enroll_by_a_partner_records_the_given_source(partner):
    # when
    member = enroll(
        Actor.for_partner(partner), consents={"sms": True}, source="Интернет-магазин, форма"
    )

    # then
    record = ConsentRecord.objects.get(member=member)
    assert (record.channel, record.is_granted) == ("sms", True)
    assert record.source == "Интернет-магазин, форма"
    assert record.actor == f"partner:{partner.pk}"


@pytest.mark.parametrize("typed", ["+7 912 345 67 89", "89123456789", "8 (912) 345-67-89"])
def test_same_phone_typed_differently_is_refused(cashier_actor, typed):
    # given
    enroll(cashier_actor, email="first@example.ru")

    # when
    with pytest.raises(MemberExists):
        enroll(cashier_actor, phone=typed, first_name="Борис", consents={"email": True})

    # then nothing was created
    assert Member.objects.count() == 1
    assert ConsentRecord.objects.count() == 0


@pytest.mark.parametrize("typed", ["anna@example.ru", "Anna@Example.RU", " ANNA@EXAMPLE.RU "])
def test_same_email_in_any_case_is_refused(cashier_actor, typed):
    # given
    enroll(cashier_actor, email="anna@example.ru")

    # when
    with pytest.raises(MemberExists):
        enroll(cashier_actor, phone="+79990001122", email=typed, consents={"sms": True})

    # then
    assert Member.objects.count() == 1
    assert ConsentRecord.objects.count() == 0


def test_members_without_email_do_not_clash(cashier_actor):
    first = enroll(cashier_actor)
    second = enroll(cashier_actor, phone="+79990001122")

    assert first.email == second.email == ""
    assert Member.objects.count() == 2


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"phone": "12345"}, "invalid_phone"),
        ({"phone": ""}, "invalid_phone"),
        ({"first_name": "   "}, "first_name_required"),
        ({"consents": {"email": True, "fax": True}}, "invalid_consent_channel"),
        ({"email": "not-an-email"}, "invalid_email"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_created(cashier_actor, kwargs, code):
    with pytest.raises(InvalidInput) as exc_info:
        enroll(cashier_actor, **kwargs)

    assert exc_info.value.code == code
    assert Member.objects.count() == 0
    assert ConsentRecord.objects.count() == 0


def test_consent_change_takes_effect_and_keeps_history(cashier_actor, task_actor):
    # given a member who agreed to e-mail at enrolment
    member = enroll(cashier_actor, consents={"email": True})

    # when they unsubscribe with the one-click link
    record = member_consent_set(
        member=member, channel="email", is_granted=False, source="unsubscribe", actor=task_actor
    )

    # then
    member.refresh_from_db()
    assert member.consent_email is False
    assert (record.is_granted, record.source, record.actor) == (False, "unsubscribe", "task:test")
    history = list(
        ConsentRecord.objects.filter(member=member, channel="email")
        .order_by("id")
        .values_list("is_granted", "source")
    )
    assert history == [(True, "cashier"), (False, "unsubscribe")]


def test_consent_on_an_unknown_channel_is_refused(cashier_actor):
    member = enroll(cashier_actor)

    with pytest.raises(InvalidInput):
        member_consent_set(
            member=member, channel="pigeon", is_granted=True, source="x", actor=cashier_actor
        )

    assert member.consents.count() == 0


# --- Card numbers ----------------------------------------------------------------------


def test_card_check_digit_catches_a_typo_and_swapped_neighbours():
    # given a known EAN-13 (check digit 1 for 400638133393)
    assert ean13_check_digit("400638133393") == "1"
    card = "4006381333931"
    assert card_number_is_valid(card)

    # then a changed digit or two swapped different neighbours are caught
    assert not card_number_is_valid("4006381333932")
    assert not card_number_is_valid("4006381333391")
    assert not card_number_is_valid("0406381333931")
    assert not card_number_is_valid("400638133393")
    assert not card_number_is_valid("40063813339３1")  # a full-width digit


def test_every_generated_card_is_valid_and_unique(cashier_actor):
    cards = {enroll(cashier_actor, phone=f"+7912000{n:04d}").card_number for n in range(30)}

    assert len(cards) == 30
    assert all(card_number_is_valid(c) for c in cards)


def test_find_by_card_or_phone(cashier_actor):
    # given
    member = enroll(cashier_actor)

    # then
    assert member_find(member.card_number) == member
    assert member_find(f" {member.card_number[:6]} {member.card_number[6:]} ") == member
    assert member_find("8 912 345-67-89") == member
    assert member_get(card_number=member.card_number) == member


def test_find_with_a_mistyped_card_says_so():
    # given a card whose last digit is wrong
    member = factories.MemberFactory()
    wrong = member.card_number[:12] + str((int(member.card_number[12]) + 1) % 10)

    # then
    with pytest.raises(BadCardNumber):
        member_find(wrong)
    with pytest.raises(BadCardNumber):
        member_get(card_number=wrong)


def test_find_an_unknown_member():
    with pytest.raises(MemberNotFound):
        member_find("+79990000000")
    with pytest.raises(MemberNotFound):
        member_find("4006381333931")
