"""Every registered admin opens: catches broken admin configuration early."""

import pytest
from django.contrib import admin
from django.urls import reverse

from loyalty.actors import Actor
from loyalty.models import ProgramSettings
from members.models import Channel
from members.services import checkout_commit, member_consent_set, points_grant, purchase_refund


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def some_rows(member, store, partner_key, cashier):
    """Rows in the main tables (purchase, refund, lots, ledger, consent), so list and
    change pages render real rows."""
    actor = Actor.for_user(cashier, Channel.CASHIER)
    member_consent_set(member=member, channel="sms", is_granted=True, source="test", actor=actor)
    points_grant(member=member, amount=100, reason="welcome", actor=actor)
    result = checkout_commit(
        member=member,
        store=store,
        receipt_number="R-1",
        total="1000.00",
        points_to_spend=50,
        actor=actor,
    )
    purchase_refund(purchase=result.purchase, amount="100.00", actor=actor)
    return member


def test_superuser_opens_every_changelist_and_add_page(superuser_client, superuser, some_rows):
    # given every model the admin site knows
    registry = admin.site._registry
    assert len(registry) >= 20

    for model, model_admin in registry.items():
        # when the changelist is opened
        response = superuser_client.get(_url(model, "changelist"), follow=True)
        # then it renders (the program settings list redirects to its one row)
        assert response.status_code == 200, model

        # and the add page renders where adding is allowed, 403 where it is not
        request = response.wsgi_request
        expected = 200 if model_admin.has_add_permission(request) else 403
        response = superuser_client.get(_url(model, "add"))
        assert response.status_code == expected, model


def test_superuser_opens_the_change_page_of_each_existing_row(superuser_client, some_rows):
    for model in admin.site._registry:
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        response = superuser_client.get(_url(model, "change", obj.pk))
        assert response.status_code == 200, model


def test_search_box_works_on_every_searchable_changelist(superuser_client, some_rows):
    for model, model_admin in admin.site._registry.items():
        if not model_admin.search_fields:
            continue
        response = superuser_client.get(
            _url(model, "changelist"), {"q": "2712345678901"}, follow=True
        )
        assert response.status_code == 200, model


def test_unused_api_key_model_is_not_registered():
    from rest_framework_api_key.models import APIKey

    assert APIKey not in admin.site._registry


def test_history_pages_of_configuration_open(superuser_client, tiers, store):
    # given a tier changed once
    silver = tiers["Silver"]
    silver.discount_percent = 6
    silver.save()

    for obj in (silver, store, ProgramSettings.load()):
        # when its history is opened
        response = superuser_client.get(_url(type(obj), "history", obj.pk))
        # then it lists the changes
        assert response.status_code == 200, type(obj)
    assert silver.history.count() == 1


def test_dialog_of_a_missing_member_is_404(superuser_client):
    for object_id in ("999999", "abc"):
        response = superuser_client.get(
            reverse("admin:members_member_points_adjust_dialog", args=[object_id])
        )
        assert response.status_code == 404
