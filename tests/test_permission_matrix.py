"""Issue 2, acceptance 8: marketer, cashier, partner key and anonymous, each against the
admin, the cashier desk and the partner API — one table, so a changed permission shows
up here as one wrong cell.

Cells are HTTP status codes; 302 is a redirect to a login page.
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests import factories

ADMIN_INDEX = "/admin/"
ADMIN_MEMBERS = "/admin/members/member/"
ADMIN_TIERS = "/admin/loyalty/tier/"
ADMIN_LEDGER_ADD = "/admin/members/ledgerentry/add/"
ADMIN_PARTNER_KEYS = "/admin/loyalty/partnerapikey/"
ADMIN_BATCHES = "/admin/promocodes/codebatch/"
ADMIN_BATCH_ADD = "/admin/promocodes/codebatch/add/"
ADMIN_CODES = "/admin/promocodes/promocode/"
ADMIN_CODE_ADD = "/admin/promocodes/promocode/add/"
ADMIN_CAMPAIGNS = "/admin/campaigns/campaign/"
DESK = "/cashier/"
API_MEMBERS = "/api/v1/members/"
API_PURCHASES = "/api/v1/purchases/"

PAGES = [
    ADMIN_INDEX,
    ADMIN_MEMBERS,
    ADMIN_TIERS,
    ADMIN_LEDGER_ADD,
    ADMIN_PARTNER_KEYS,
    ADMIN_BATCHES,
    ADMIN_BATCH_ADD,
    ADMIN_CODES,
    ADMIN_CODE_ADD,
    ADMIN_CAMPAIGNS,
    DESK,
    API_MEMBERS,
    API_PURCHASES,
]

# Promo code columns: batches, batch add, codes, code add (nobody adds codes by hand:
# they are generated or imported), campaigns.
MATRIX = {
    #             admin, members, tiers, ledger add, partner keys,
    #             batches, batch add, codes, code add, campaigns,
    #             desk, API members, API purchases
    "anonymous": [302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 401, 401],
    "marketer": [200, 200, 200, 403, 403, 200, 200, 200, 403, 200, 403, 401, 401],
    "cashier": [302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 200, 401, 401],
    "partner": [302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 200, 200],
}


@pytest.fixture
def client_as(marketer, cashier, partner_key):
    def make(persona: str):
        if persona == "partner":
            # A partner has an API key and nothing else: no session, no staff user.
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {partner_key}")
            return client
        client = Client()
        if persona != "anonymous":
            client.force_login({"marketer": marketer, "cashier": cashier}[persona])
        return client

    return make


@pytest.mark.parametrize("persona", list(MATRIX))
def test_each_persona_sees_exactly_what_it_should(persona, client_as, member):
    # given
    client = client_as(persona)

    # when
    statuses = [client.get(url).status_code for url in PAGES]

    # then
    assert dict(zip(PAGES, statuses, strict=True)) == dict(zip(PAGES, MATRIX[persona], strict=True))


def test_a_partner_key_does_not_open_admin_or_desk_pages_as_a_user(client_as):
    # A key sent as a header must never count as a login on the session-based pages.
    client = client_as("partner")

    response = client.get(ADMIN_MEMBERS)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_outsider_with_a_login_but_no_group_gets_nothing(outsider):
    client = Client()
    client.force_login(outsider)

    urls = (ADMIN_INDEX, ADMIN_BATCHES, ADMIN_CODES, DESK, API_MEMBERS)
    statuses = [client.get(url).status_code for url in urls]

    assert statuses == [302, 302, 302, 403, 401]


def test_superuser_sees_the_desk():
    # Superusers have every permission, the desk's included.
    admin = factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    assert client.get(DESK).status_code == 200
