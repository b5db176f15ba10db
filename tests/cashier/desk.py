"""Driving the desk's receipt form in tests: the form data and its three posts."""

from django.urls import reverse


def receipt(shop, **overrides) -> dict:
    """The receipt form as a cashier leaves it: 3,000 ₽, no points, no promo code."""
    data = {
        "store": shop.pk,
        "receipt_number": "R-1",
        "total": "3000.00",
        "points_to_spend": "",
        "code": "",
        "choice": "",
    }
    data.update(overrides)
    return data


def confirm(client, member, data):
    return client.post(reverse("cashier:member", args=[member.card_number]), data)


def evaluate(client, member, data):
    return client.post(
        reverse("cashier:evaluate", args=[member.card_number]), data, headers={"HX-Request": "true"}
    )


def rows_of(response) -> dict:
    return {row.key: row.amount for row in response.context["rows"]}
