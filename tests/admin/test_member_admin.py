"""The member pages: search, list cost, enrolment, manual points, consent, refund."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty.actors import Actor
from members.cards import card_number_is_valid
from members.errors import InsufficientPoints
from members.models import Channel, ConsentRecord, LedgerEntry, Member, Refund
from members.services import checkout_commit, points_grant
from members.services.points import ledger_sum
from tests import factories

CHANGELIST = "admin:members_member_changelist"


def _found(client, term: str) -> list[Member]:
    response = client.get(reverse(CHANGELIST), {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.fixture
def ivan(tiers):
    return factories.MemberFactory(
        phone="+79123456789",
        email="Ivan.Petrov@Example.ru",
        first_name="Иван",
        last_name="Петров",
        tier=tiers["Base"],
    )


@pytest.fixture
def others(tiers):
    return [
        factories.MemberFactory(first_name="Мария", last_name="Иванова", tier=tiers["Base"]),
        factories.MemberFactory(first_name="Пётр", last_name="Сидоров", tier=tiers["Base"]),
    ]


@pytest.mark.parametrize(
    "term", ["8 912 345-67-89", "+7 (912) 345-67-89", "89123456789", "9123456789"]
)
def test_search_by_phone_as_people_type_it(marketer_client, ivan, others, term):
    assert _found(marketer_client, term) == [ivan]


def test_search_by_card_number(marketer_client, ivan, others):
    assert _found(marketer_client, ivan.card_number) == [ivan]


def test_search_by_email_ignores_case(marketer_client, ivan, others):
    assert _found(marketer_client, "ivan.petrov@example.RU") == [ivan]


def test_search_by_the_beginning_of_a_name(marketer_client, ivan, others):
    assert _found(marketer_client, "Петр") == [ivan]
    assert _found(marketer_client, "иван петров") == [ivan]
    assert set(_found(marketer_client, "Иван")) == {ivan, others[0]}


def test_search_is_exact_not_a_substring_scan(marketer_client, ivan, others):
    # a part of the card number or of the phone finds nobody
    assert _found(marketer_client, ivan.card_number[2:8]) == []
    assert _found(marketer_client, "345-67") == []
    assert _found(marketer_client, "etrov@example.ru") == []


def test_changelist_costs_the_same_queries_for_5_and_50_members(
    marketer_client, tiers, store, django_assert_num_queries
):
    # given 5 members with a joined store and a beneficiary category
    def make(n):
        for _ in range(n):
            factories.MemberFactory(tier=tiers["Silver"], joined_store=store)

    url = reverse(CHANGELIST)
    make(5)
    marketer_client.get(url)  # warms per-process caches (content types, templates)
    with CaptureQueriesContext(connection) as five:
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 5

    # when there are 50
    make(45)

    # then the page costs exactly as many queries
    with django_assert_num_queries(len(five.captured_queries)):
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 50


def test_member_page_shows_qr_code_barcode_and_balance(marketer_client, ivan):
    # given a member with points
    points_grant(member=ivan, amount=120, reason="welcome", actor=Actor.for_task("test"))

    # when
    response = marketer_client.get(reverse("admin:members_member_change", args=[ivan.pk]))

    # then the card is drawn inline (no external image) and the balance shown read-only
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<svg") >= 2
    assert 'class="card-qr' in html
    assert 'class="card-barcode' in html
    assert 'name="points_balance"' not in html
    assert 'name="card_number"' not in html
    assert "welcome" in html  # the ledger table


# --- enrolment ----------------------------------------------------------------------


def _add_data(**changes):
    data = {
        "phone": "8 (912) 765-43-21",
        "first_name": "Анна",
        "last_name": "Смирнова",
        "email": "anna@example.ru",
        "birth_date": "",
        "joined_store": "",
        "consents": ["email", "sms"],
    }
    data.update(changes)
    return data


def test_member_added_in_admin_is_enrolled_through_the_service(
    marketer_client, marketer, tiers, store
):
    # when a marketer adds a member with a phone typed the Russian way
    response = marketer_client.post(
        reverse("admin:members_member_add"), _add_data(joined_store=str(store.pk))
    )

    # then the member has a valid card, the normalised phone, the lowest tier and the
    # consent records of every channel
    assert response.status_code == 302
    member = Member.objects.get(phone="+79127654321")
    assert card_number_is_valid(member.card_number)
    assert member.tier == tiers["Base"]
    assert member.joined_store == store
    assert (member.consent_email, member.consent_sms, member.consent_push) == (True, True, False)
    records = {
        r.channel: (r.is_granted, r.source, r.actor)
        for r in ConsentRecord.objects.filter(member=member)
    }
    assert records == {
        "email": (True, "admin", "user:marketer"),
        "sms": (True, "admin", "user:marketer"),
        "push": (False, "admin", "user:marketer"),
    }


def test_member_with_a_taken_phone_or_email_is_refused(marketer_client, ivan):
    # when
    same_phone = marketer_client.post(
        reverse("admin:members_member_add"), _add_data(phone="8 912 345-67-89")
    )
    same_email = marketer_client.post(
        reverse("admin:members_member_add"), _add_data(email="IVAN.PETROV@example.ru")
    )

    # then both are form errors, and nobody was added
    assert same_phone.status_code == 200
    assert "phone" in same_phone.context["adminform"].form.errors
    assert same_email.status_code == 200
    assert same_email.context["adminform"].form.errors
    assert Member.objects.count() == 1


def test_bad_phone_is_a_form_error(marketer_client, tiers):
    response = marketer_client.post(reverse("admin:members_member_add"), _add_data(phone="12"))

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Member.objects.exists()


def test_editing_a_member_keeps_balance_tier_and_consents(marketer_client, ivan, tiers):
    # given a member with points
    points_grant(member=ivan, amount=70, reason="gift", actor=Actor.for_task("test"))
    url = reverse("admin:members_member_change", args=[ivan.pk])
    data = {
        "first_name": "Иван",
        "last_name": "Петров-Водкин",
        "phone": "+79123456789",
        "email": ivan.email,
        "birth_date": "",
        "joined_store": "",
        "beneficiary_category": "",
        "beneficiary_proof": "",
        "beneficiary_verified_until": "",
    }

    # when the last name is edited
    response = marketer_client.post(url, data)

    # then only it changed
    assert response.status_code == 302
    ivan.refresh_from_db()
    assert ivan.last_name == "Петров-Водкин"
    assert ivan.points_balance == 70
    assert ivan.tier == tiers["Base"]


def test_beneficiary_proof_needs_a_category(marketer_client, ivan):
    url = reverse("admin:members_member_change", args=[ivan.pk])
    data = {
        "first_name": ivan.first_name,
        "last_name": ivan.last_name,
        "phone": str(ivan.phone),
        "email": ivan.email,
        "beneficiary_category": "",
        "beneficiary_proof": "Пенсионное удостоверение 123",
        "beneficiary_verified_until": "2030-01-01",
    }

    response = marketer_client.post(url, data)

    assert response.status_code == 200
    assert "beneficiary_category" in response.context["adminform"].form.errors
    ivan.refresh_from_db()
    assert ivan.beneficiary_proof == ""


# --- manual points adjustment -------------------------------------------------------


def _adjust(client, member, **data):
    url = reverse("admin:members_member_points_adjust_dialog", args=[member.pk])
    return client.post(url, {"_form_submitted": "on", **data})


def _adjust_confirmed(client, member, **data):
    """Submit, read the confirmation the dialog asks for, submit again with it."""
    first = _adjust(client, member, **data)
    assert first.status_code == 200
    token = first.context["form"]["confirmation"].value()
    return first, _adjust(client, member, confirmation=token, **data)


def test_adding_points_asks_for_confirmation_then_records_them(marketer_client, ivan):
    # when the marketer enters +100 with a reason
    first, second = _adjust_confirmed(marketer_client, ivan, amount="100", reason="Компенсация")

    # then the first submit only shows the effect
    assert first.context["form"].non_field_errors() == [
        f"+100 points for {ivan}: the balance goes from 0 to 100. Submit again to confirm."
    ]
    # and the second records them through the service, in the ledger
    assert second.status_code == 302
    assert second["Location"] == reverse("admin:members_member_change", args=[ivan.pk])
    ivan.refresh_from_db()
    assert ivan.points_balance == 100
    entry = LedgerEntry.objects.get(member=ivan)
    assert (entry.kind, entry.amount, entry.reason, entry.actor) == (
        LedgerEntry.Kind.ADJUST,
        100,
        "Компенсация",
        "user:marketer",
    )


def test_first_submit_changes_nothing(marketer_client, ivan):
    response = _adjust(marketer_client, ivan, amount="100", reason="Компенсация")

    assert response.status_code == 200
    ivan.refresh_from_db()
    assert ivan.points_balance == 0
    assert not LedgerEntry.objects.exists()


def test_changing_the_amount_after_the_summary_asks_again(marketer_client, ivan):
    # given the summary of +100 was shown
    first = _adjust(marketer_client, ivan, amount="100", reason="Компенсация")
    token = first.context["form"]["confirmation"].value()

    # when +1000 is submitted with the confirmation of +100
    response = _adjust(
        marketer_client, ivan, amount="1000", reason="Компенсация", confirmation=token
    )

    # then it asks again instead of recording
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    ivan.refresh_from_db()
    assert ivan.points_balance == 0


def test_htmx_submit_redirects_with_hx_redirect(marketer_client, ivan):
    first = _adjust(marketer_client, ivan, amount="5", reason="Ошибка кассы")
    token = first.context["form"]["confirmation"].value()

    response = marketer_client.post(
        reverse("admin:members_member_points_adjust_dialog", args=[ivan.pk]),
        {"_form_submitted": "on", "amount": "5", "reason": "Ошибка кассы", "confirmation": token},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("admin:members_member_change", args=[ivan.pk])
    ivan.refresh_from_db()
    assert ivan.points_balance == 5


def test_taking_more_than_the_balance_is_a_form_error(marketer_client, ivan):
    # given 30 points
    points_grant(member=ivan, amount=30, reason="gift", actor=Actor.for_task("test"))

    # when 50 are taken away
    response = _adjust(marketer_client, ivan, amount="-50", reason="Ошибка")

    # then
    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == ["The member has only 30 points."]
    ivan.refresh_from_db()
    assert ivan.points_balance == 30
    assert ledger_sum(ivan) == 30
    assert LedgerEntry.objects.filter(member=ivan).count() == 1


def test_taking_points_away_goes_through_the_service(marketer_client, ivan):
    points_grant(member=ivan, amount=30, reason="gift", actor=Actor.for_task("test"))

    _first, second = _adjust_confirmed(marketer_client, ivan, amount="-20", reason="Ошибка")

    assert second.status_code == 302
    ivan.refresh_from_db()
    assert ivan.points_balance == 10
    assert ledger_sum(ivan) == 10


def test_adjustment_without_reason_is_a_form_error(marketer_client, ivan):
    response = _adjust(marketer_client, ivan, amount="100", reason="   ")

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    ivan.refresh_from_db()
    assert ivan.points_balance == 0
    assert not LedgerEntry.objects.exists()


def test_domain_error_from_the_service_is_shown_in_the_dialog(marketer_client, ivan, monkeypatch):
    # given the points were spent between the summary and the confirmation
    points_grant(member=ivan, amount=30, reason="gift", actor=Actor.for_task("test"))
    first = _adjust(marketer_client, ivan, amount="-30", reason="Ошибка")
    token = first.context["form"]["confirmation"].value()

    def refuse(**kwargs):
        raise InsufficientPoints("The member has only 0 points.")

    monkeypatch.setattr("members.admin.member.points_adjust", refuse)

    # when the adjustment is confirmed
    response = _adjust(marketer_client, ivan, amount="-30", reason="Ошибка", confirmation=token)

    # then the dialog shows the service's message and nothing changed
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["The member has only 0 points."]
    assert "The member has only 0 points." in response.content.decode()
    ivan.refresh_from_db()
    assert ivan.points_balance == 30


# --- consent and refund ----------------------------------------------------------------


def test_consent_is_recorded_through_the_service(marketer_client, ivan):
    url = reverse("admin:members_member_consent_change_dialog", args=[ivan.pk])

    response = marketer_client.post(
        url,
        {"_form_submitted": "on", "channel": "email", "is_granted": "1", "source": "анкета"},
    )

    assert response.status_code == 302
    ivan.refresh_from_db()
    assert ivan.consent_email is True
    record = ConsentRecord.objects.get(member=ivan)
    assert (record.channel, record.is_granted, record.source, record.actor) == (
        "email",
        True,
        "анкета",
        "user:marketer",
    )


@pytest.fixture
def purchase(ivan, store, cashier):
    return checkout_commit(
        member=ivan,
        store=store,
        receipt_number="R-7",
        total="1000.00",
        points_to_spend=0,
        actor=Actor.for_user(cashier, Channel.CASHIER),
    ).purchase


def test_superuser_refunds_a_purchase_from_its_page(superuser_client, purchase):
    url = reverse("admin:members_purchase_refund_dialog", args=[purchase.pk])

    response = superuser_client.post(url, {"_form_submitted": "on", "amount": "400.00"})

    assert response.status_code == 302
    refund = Refund.objects.get(purchase=purchase)
    assert refund.amount == Decimal("400.00")
    assert refund.channel == Channel.ADMIN


def test_refund_above_refundable_is_a_form_error(superuser_client, purchase):
    url = reverse("admin:members_purchase_refund_dialog", args=[purchase.pk])

    response = superuser_client.post(url, {"_form_submitted": "on", "amount": "1000.01"})

    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == ["At most 1000.00 can still be refunded."]
    assert not Refund.objects.exists()


def test_marketer_may_not_refund(marketer_client, purchase):
    url = reverse("admin:members_purchase_refund_dialog", args=[purchase.pk])

    response = marketer_client.post(url, {"_form_submitted": "on", "amount": "100.00"})

    assert response.status_code == 403
    assert not Refund.objects.exists()


def test_member_page_links_lead_to_filtered_lists(marketer_client, ivan, purchase):
    ledger = marketer_client.get(
        reverse("admin:members_ledgerentry_changelist"), {"member__id__exact": ivan.pk}
    )
    purchases = marketer_client.get(
        reverse("admin:members_purchase_changelist"), {"member__id__exact": ivan.pk}
    )

    assert ledger.status_code == 200
    assert len(ledger.context["cl"].result_list) == 1
    assert purchases.status_code == 200
    assert list(purchases.context["cl"].result_list) == [purchase]


def test_purchases_search_by_receipt_and_card(marketer_client, purchase, ivan):
    url = reverse("admin:members_purchase_changelist")

    by_receipt = marketer_client.get(url, {"q": "R-7"}).context["cl"].result_list
    by_card = marketer_client.get(url, {"q": ivan.card_number}).context["cl"].result_list
    by_part = marketer_client.get(url, {"q": "R-"}).context["cl"].result_list

    assert list(by_receipt) == [purchase]
    assert list(by_card) == [purchase]
    assert list(by_part) == []


def test_second_click_on_the_refund_dialog_refunds_nothing(superuser_client, purchase):
    # given the dialog as it opened, sent once
    url = reverse("admin:members_purchase_refund_dialog", args=[purchase.pk])
    sent = {"_form_submitted": "on", "amount": "400.00", "refunded_before": "0.00"}
    assert superuser_client.post(url, sent).status_code == 302

    # when the same dialog is sent again
    response = superuser_client.post(url, sent)

    # then
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "This purchase has changed since the page was opened (another refund was recorded). "
        "Check the amounts and try again."
    ]
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("400.00")]


def test_second_submit_of_a_confirmed_adjustment_adds_nothing(marketer_client, ivan):
    # given +100 confirmed and recorded
    _first, second = _adjust_confirmed(marketer_client, ivan, amount="100", reason="Компенсация")
    assert second.status_code == 302
    token = _first.context["form"]["confirmation"].value()

    # when the same confirmation is sent again
    again = _adjust(marketer_client, ivan, amount="100", reason="Компенсация", confirmation=token)

    # then it asks again instead of adding another 100
    assert again.status_code == 200
    ivan.refresh_from_db()
    assert ivan.points_balance == 100
    assert LedgerEntry.objects.filter(member=ivan).count() == 1
