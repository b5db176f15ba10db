"""Who may open what in admin: one persona per permission boundary."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from loyalty.actors import Actor
from loyalty.models import ProgramSettings
from members.models import Channel, LedgerEntry, Purchase
from members.services import checkout_commit, points_grant
from tests import factories


@pytest.fixture
def purchase(member, store, cashier) -> Purchase:
    actor = Actor.for_user(cashier, Channel.CASHIER)
    points_grant(member=member, amount=100, reason="welcome", actor=actor)
    return checkout_commit(
        member=member,
        store=store,
        receipt_number="R-1",
        total="1000.00",
        points_to_spend=0,
        actor=actor,
    ).purchase


@pytest.fixture
def entry(purchase) -> LedgerEntry:
    return LedgerEntry.objects.filter(purchase=purchase).get()


def test_marketer_opens_members_member_page_tiers_and_program_settings(
    marketer_client, member, tiers
):
    # given a marketer (staff, Marketing group)
    # when they open the pages of their daily work
    members = marketer_client.get(reverse("admin:members_member_changelist"))
    member_page = marketer_client.get(reverse("admin:members_member_change", args=[member.pk]))
    tier_list = marketer_client.get(reverse("admin:loyalty_tier_changelist"))
    tier_page = marketer_client.get(reverse("admin:loyalty_tier_change", args=[tiers["Silver"].pk]))
    settings_list = marketer_client.get(reverse("admin:loyalty_programsettings_changelist"))
    settings_page = marketer_client.get(reverse("admin:loyalty_programsettings_change", args=[1]))

    # then every one of them opens
    assert members.status_code == 200
    assert member.card_number in members.content.decode()
    assert member_page.status_code == 200
    assert tier_list.status_code == 200
    assert tier_page.status_code == 200
    assert settings_list.status_code == 302
    assert settings_list["Location"] == reverse("admin:loyalty_programsettings_change", args=[1])
    assert settings_page.status_code == 200


@pytest.mark.parametrize("model", ["ledgerentry", "purchase", "refund", "pointslot"])
def test_marketer_cannot_add_money_or_points_rows(marketer_client, model):
    response = marketer_client.get(reverse(f"admin:members_{model}_add"))

    assert response.status_code == 403


def test_marketer_sees_but_cannot_change_or_delete_ledger_entries(marketer_client, entry):
    # given a ledger entry written by a checkout
    change_url = reverse("admin:members_ledgerentry_change", args=[entry.pk])
    before = LedgerEntry.objects.values().get(pk=entry.pk)

    # when the marketer opens, posts to and tries to delete it
    view = marketer_client.get(change_url)
    post = marketer_client.post(change_url, {"reason": "edited", "amount": "1"})
    delete = marketer_client.post(
        reverse("admin:members_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
    )

    # then it is shown read-only, and nothing changed
    assert view.status_code == 200
    assert post.status_code == 403
    assert delete.status_code == 403
    assert LedgerEntry.objects.values().get(pk=entry.pk) == before


def test_marketer_cannot_change_or_delete_purchases(marketer_client, purchase):
    change_url = reverse("admin:members_purchase_change", args=[purchase.pk])

    post = marketer_client.post(change_url, {"total": "1.00"})
    delete = marketer_client.post(
        reverse("admin:members_purchase_delete", args=[purchase.pk]), {"post": "yes"}
    )

    assert post.status_code == 403
    assert delete.status_code == 403
    assert Purchase.objects.get(pk=purchase.pk).total == purchase.total


def test_ledger_is_read_only_even_for_superusers(superuser_client, entry, purchase):
    change_url = reverse("admin:members_ledgerentry_change", args=[entry.pk])

    add = superuser_client.get(reverse("admin:members_ledgerentry_add"))
    post = superuser_client.post(change_url, {"reason": "edited"})
    delete = superuser_client.post(
        reverse("admin:members_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    purchase_delete = superuser_client.post(
        reverse("admin:members_purchase_delete", args=[purchase.pk]), {"post": "yes"}
    )

    assert (add.status_code, post.status_code, delete.status_code) == (403, 403, 403)
    assert purchase_delete.status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_marketer_cannot_see_partner_keys(marketer_client, superuser_client, partner, partner_key):
    # given a partner with a key; the Marketing group may view partners, not their keys
    key = partner.api_keys.get()

    # when
    key_page = marketer_client.get(reverse("admin:loyalty_partnerapikey_change", args=[key.pk]))
    key_list = marketer_client.get(reverse("admin:loyalty_partnerapikey_changelist"))
    partner_url = reverse("admin:loyalty_partner_change", args=[partner.pk])
    partner_page = marketer_client.get(partner_url)
    superuser_partner_page = superuser_client.get(partner_url)

    # then the keys stay hidden, also from the partner page
    assert key_page.status_code == 403
    assert key_list.status_code == 403
    assert partner_page.status_code == 200
    assert key.prefix not in partner_page.content.decode()
    assert key.prefix in superuser_partner_page.content.decode()


def test_program_settings_cannot_be_added_twice_or_deleted(marketer_client, superuser_client):
    for client in (marketer_client, superuser_client):
        add = client.get(reverse("admin:loyalty_programsettings_add"))
        delete = client.post(
            reverse("admin:loyalty_programsettings_delete", args=[1]), {"post": "yes"}
        )
        assert (add.status_code, delete.status_code) == (403, 403)
    assert ProgramSettings.objects.count() == 1


@pytest.mark.parametrize("persona", ["cashier", "outsider", "anonymous"])
def test_non_staff_are_sent_to_the_admin_login(request, persona, member):
    # given a cashier (not staff), a user without any role, or nobody
    client = Client()
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    url = reverse("admin:members_member_changelist")

    # when they open the members list
    response = client.get(url)

    # then they are sent to the admin login
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_sidebar_shows_each_group_only_what_it_may(marketer_client, superuser_client):
    # when
    marketer_page = marketer_client.get(reverse("admin:members_member_changelist")).content
    superuser_page = superuser_client.get(reverse("admin:members_member_changelist")).content

    # then the marketer sees members and tiers, not keys or users
    keys = reverse("admin:loyalty_partnerapikey_changelist").encode()
    users = reverse("admin:auth_user_changelist").encode()
    tiers = reverse("admin:loyalty_tier_changelist").encode()
    assert tiers in marketer_page
    assert keys not in marketer_page
    assert users not in marketer_page
    assert keys in superuser_page
    assert users in superuser_page


def test_staff_user_without_adjust_permission_gets_no_adjust_button(client_for, member):
    # given a staff user who may only view members
    user = factories.UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_member"))
    client = client_for(user)
    adjust_url = reverse("admin:members_member_points_adjust_dialog", args=[member.pk])

    # when
    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    post = client.post(adjust_url, {"_form_submitted": "on", "amount": "100", "reason": "x"})

    # then
    assert page.status_code == 200
    assert adjust_url.encode() not in page.content
    assert post.status_code == 403
    member.refresh_from_db()
    assert member.points_balance == 0
