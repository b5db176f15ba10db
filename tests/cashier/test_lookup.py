import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

HOME = "cashier:home"


def lookup(client, query):
    return client.post(reverse(HOME), {"query": query})


def test_find_by_scanned_card_number(desk, silver_member):
    # when a scanner types the 13 digits (and Enter submits the form)
    response = lookup(desk, silver_member.card_number)

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("cashier:member", args=[silver_member.card_number])


@pytest.mark.parametrize(
    "phone", ["8 912 345-67-89", "+7 (912) 345-67-89", "89123456789", "9123456789"]
)
def test_find_by_phone_in_any_common_format(desk, silver_member, phone):
    # when
    response = lookup(desk, phone)

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("cashier:member", args=[silver_member.card_number])


def test_mistyped_card_shows_the_check_digit_message(desk, silver_member):
    # given the card number with its check digit changed
    card = silver_member.card_number
    mistyped = card[:12] + str((int(card[12]) + 1) % 10)

    # when
    response = lookup(desk, mistyped)

    # then
    assert response.status_code == 200
    assert response.context["lookup_form"].errors == {
        "query": ["This card number is mistyped: its check digit does not match."]
    }
    assert "check digit" in response.content.decode()


@pytest.mark.parametrize("query", ["+7 999 000-00-00", "2700000000007", "hello"])
def test_unknown_member_shows_not_found(desk, silver_member, query):
    # when
    response = lookup(desk, query)

    # then
    assert response.status_code == 200
    assert response.context["lookup_form"].errors == {
        "query": ["No member with this card or phone."]
    }


def test_empty_search_asks_for_input(desk):
    # when
    response = lookup(desk, "")

    # then
    assert response.status_code == 200
    assert list(response.context["lookup_form"].errors) == ["query"]


def test_member_page_for_a_bad_card_is_404(desk, silver_member):
    # when
    response = desk.get(reverse("cashier:member", args=["2700000000001"]))

    # then
    assert response.status_code == 404
