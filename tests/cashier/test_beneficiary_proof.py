"""Beneficiaries at the cashier desk: the "proof checked" step records the document and
its expiry; the category discount applies only while the proof is valid."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone, translation

from loyalty.actors import Actor
from loyalty.errors import InvalidInput
from members.models import Member
from members.services.beneficiary import beneficiary_proof_check
from tests import factories
from tests.cashier.desk import evaluate, receipt, rows_of

pytestmark = pytest.mark.django_db

PROOF_FIELDS = (
    "beneficiary_category_id",
    "beneficiary_document_kind",
    "beneficiary_proof",
    "beneficiary_verified_until",
    "beneficiary_checked_at",
)


@pytest.fixture
def pensioners():
    return factories.BeneficiaryCategoryFactory(
        code="pensioners-test", name="Пенсионеры", discount_percent=Decimal("10")
    )


def proof_url(member) -> str:
    return reverse("cashier:beneficiary_proof", args=[member.card_number])


def member_url(member) -> str:
    return reverse("cashier:member", args=[member.card_number])


def proof_form(category, *, valid_until: dt.date, number="75 1234567", kind="pension") -> dict:
    return {
        "proof-category": category.pk,
        "proof-document_kind": kind,
        "proof-document_number": number,
        "proof-valid_until": valid_until.isoformat(),
    }


def proof_of(member) -> tuple:
    member = Member.objects.get(pk=member.pk)
    return tuple(getattr(member, name) for name in PROOF_FIELDS)


def short_date(day: dt.date) -> str:
    with translation.override("en"):
        return formats.date_format(day, "SHORT_DATE_FORMAT")


def test_cashier_records_a_checked_document(desk, silver_member, pensioners):
    # given
    today = timezone.localdate()
    until = today + dt.timedelta(days=365)
    before = timezone.now()

    # when
    response = desk.post(
        proof_url(silver_member), proof_form(pensioners, valid_until=until, number=" 75  1234567 ")
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == member_url(silver_member)
    member = Member.objects.get(pk=silver_member.pk)
    assert (
        member.beneficiary_category,
        member.beneficiary_document_kind,
        member.beneficiary_proof,
        member.beneficiary_verified_until,
    ) == (pensioners, "pension", "75 1234567", until)
    assert before <= member.beneficiary_checked_at <= timezone.now()

    # and the member page confirms it and shows the proof
    html = desk.get(member_url(silver_member)).content.decode()
    assert f"Proof recorded: Пенсионеры until {short_date(until)}." in html
    assert "<p>Пенсионеры · 10% discount</p>" in html
    assert f"proof valid until {short_date(until)} · Pension certificate 75 1234567" in html
    assert "Ask for the document again." not in html


def test_a_document_valid_until_today_is_accepted(desk, silver_member, pensioners):
    # given
    today = timezone.localdate()

    # when
    response = desk.post(proof_url(silver_member), proof_form(pensioners, valid_until=today))

    # then
    assert response.status_code == 302
    assert Member.objects.get(pk=silver_member.pk).beneficiary_verified_until == today


def test_an_expired_document_is_refused_and_nothing_changes(desk, silver_member, pensioners):
    # given
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    before = proof_of(silver_member)

    # when
    response = desk.post(proof_url(silver_member), proof_form(pensioners, valid_until=yesterday))

    # then
    assert response.status_code == 200
    form = response.context["proof_form"]
    assert form.errors == {"valid_until": ["The document has expired."]}
    html = response.content.decode()
    assert (
        '<div class="field-errors" id="errors-proof-valid_until" role="alert">'
        "<p>The document has expired.</p></div>"
    ) in html
    assert '<details class="proof-check" open>' in html
    assert proof_of(silver_member) == before


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"proof-document_number": "   "}, "document_number", "This field is required."),
        (
            {"proof-document_kind": "passport"},
            "document_kind",
            "Select a valid choice. passport is not one of the available choices.",
        ),
        ({"proof-valid_until": "31.02.2030"}, "valid_until", "Enter a valid date."),
        ({"proof-category": "999999"}, "category", "Choose one of the categories offered."),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(
    desk, silver_member, pensioners, overrides, field, message
):
    # given
    before = proof_of(silver_member)
    data = {**proof_form(pensioners, valid_until=timezone.localdate()), **overrides}

    # when
    response = desk.post(proof_url(silver_member), data)

    # then
    assert response.status_code == 200
    assert response.context["proof_form"].errors == {field: [message]}
    assert proof_of(silver_member) == before


def test_an_inactive_category_is_refused(desk, silver_member):
    # given a category switched off after the page was opened
    category = factories.BeneficiaryCategoryFactory(code="students-test", name="Студенты")
    data = proof_form(category, valid_until=timezone.localdate(), kind="student")
    category.is_active = False
    category.save(update_fields=["is_active"])
    before = proof_of(silver_member)

    # when
    response = desk.post(proof_url(silver_member), data)

    # then
    assert response.status_code == 200
    assert response.context["proof_form"].errors == {
        "category": ["Choose one of the categories offered."]
    }
    assert proof_of(silver_member) == before


def test_service_refuses_an_inactive_category_an_empty_number_and_an_unknown_kind(
    silver_member, pensioners, cashier
):
    # given
    inactive = factories.BeneficiaryCategoryFactory(code="inactive-test", is_active=False)
    valid = {
        "member": silver_member,
        "category": pensioners,
        "document_kind": "pension",
        "document_number": "75 1234567",
        "valid_until": timezone.localdate(),
        "actor": Actor.for_user(cashier, "cashier"),
    }
    before = proof_of(silver_member)
    cases = [
        ({"category": inactive}, "beneficiary_category_inactive"),
        ({"document_number": " \t"}, "beneficiary_document_required"),
        ({"document_number": "9" * 101}, "beneficiary_document_required"),
        ({"document_kind": "passport"}, "beneficiary_document_kind_unknown"),
        (
            {"valid_until": timezone.localdate() - dt.timedelta(days=1)},
            "beneficiary_proof_expired",
        ),
    ]

    for overrides, code in cases:
        # when
        with pytest.raises(InvalidInput) as refused:
            beneficiary_proof_check(**{**valid, **overrides})

        # then
        assert refused.value.code == code
        assert proof_of(silver_member) == before


def test_outsider_and_anonymous_cannot_record_a_proof(client, outsider, silver_member, pensioners):
    # given
    data = proof_form(pensioners, valid_until=timezone.localdate())
    before = proof_of(silver_member)

    # when anonymous
    anonymous = client.post(proof_url(silver_member), data)

    # then
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("cashier:login"))

    # when an outsider
    client.force_login(outsider)
    forbidden = client.post(proof_url(silver_member), data)

    # then
    assert forbidden.status_code == 403
    assert proof_of(silver_member) == before


def test_desk_user_without_the_proof_permission_gets_403_and_no_form(
    client, silver_member, pensioners
):
    # given a desk user who may ring up receipts but not check documents
    user = factories.UserFactory(username="trainee")
    user.user_permissions.add(Permission.objects.get(codename="use_cashier_desk"))
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    before = proof_of(silver_member)

    # when
    page = client.get(member_url(silver_member))
    response = client.post(
        proof_url(silver_member), proof_form(pensioners, valid_until=timezone.localdate())
    )

    # then
    assert page.status_code == 200
    assert page.context["proof_form"] is None
    assert 'id="proof-form"' not in page.content.decode()
    assert response.status_code == 403
    assert proof_of(silver_member) == before


def test_the_proof_form_needs_the_csrf_token(cashier, silver_member, pensioners):
    # given
    client = Client(enforce_csrf_checks=True)
    client.force_login(cashier)
    before = proof_of(silver_member)

    # when
    response = client.post(
        proof_url(silver_member), proof_form(pensioners, valid_until=timezone.localdate())
    )

    # then
    assert response.status_code == 403
    assert proof_of(silver_member) == before


def test_get_is_not_allowed(desk, silver_member):
    # when
    response = desk.get(proof_url(silver_member))

    # then
    assert response.status_code == 405


def test_expired_proof_gives_no_discount_and_the_page_asks_for_the_document(
    desk, silver_member, store, pensioners
):
    # given a 10% pensioner whose document was valid until yesterday (the tier gives 5%)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    Member.objects.filter(pk=silver_member.pk).update(
        beneficiary_category=pensioners,
        beneficiary_document_kind="pension",
        beneficiary_proof="75 1234567",
        beneficiary_verified_until=yesterday,
    )

    # when
    page = desk.get(member_url(silver_member))
    preview = evaluate(desk, silver_member, receipt(store))

    # then the page warns and opens the "proof checked" form
    html = page.content.decode()
    assert page.context["proof"].state == "expired"
    assert (
        f"<p>The proof expired on {short_date(yesterday)}: the category discount does not "
        "apply.</p>\n        <p>Ask for the document again.</p>"
    ) in html
    assert '<details class="proof-check" open>' in html
    # and the receipt gets the tier's 5%, not the category's 10%
    rows = rows_of(preview)
    assert "base-beneficiary" not in rows
    assert rows["base-tier"] == Decimal("150.00")

    # when the cashier checks a new document
    desk.post(
        proof_url(silver_member),
        proof_form(pensioners, valid_until=timezone.localdate() + dt.timedelta(days=30)),
    )
    again = evaluate(desk, silver_member, receipt(store))

    # then the category's 10% applies, named in the breakdown
    assert [(r.key, r.label, r.amount) for r in again.context["rows"][1:2]] == [
        ("base-beneficiary", "Beneficiary discount: Пенсионеры", Decimal("300.00"))
    ]


def test_member_without_proof_is_asked_for_the_document(desk, silver_member, pensioners):
    # given
    Member.objects.filter(pk=silver_member.pk).update(beneficiary_category=pensioners)

    # when
    response = desk.get(member_url(silver_member))

    # then
    html = response.content.decode()
    assert response.context["proof"].state == "missing"
    assert "proof not verified: ask for the document to give the discount." in html
    assert '<details class="proof-check">' in html
    # the form starts from the member's category
    assert response.context["proof_form"]["category"].value() == pensioners.pk
