import pytest
from django.test import Client
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk_urls(member, store, cashier):
    from loyalty.actors import Actor
    from members.models import Channel
    from members.services import checkout_commit

    purchase = checkout_commit(
        member=member,
        store=store,
        receipt_number="A-1",
        total="100.00",
        actor=Actor.for_user(cashier, Channel.CASHIER),
    ).purchase
    return [
        reverse("cashier:home"),
        reverse("cashier:member", args=[member.card_number]),
        reverse("cashier:purchase", args=[purchase.pk]),
        reverse("cashier:refund", args=[purchase.pk]),
    ]


def test_anonymous_is_sent_to_the_login_page(client, desk_urls):
    # given an anonymous visitor
    for url in desk_urls:
        # when
        response = client.get(url)

        # then
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('cashier:login')}?next={url}"


@pytest.mark.parametrize("persona", ["outsider", "marketer"])
def test_staff_without_the_desk_permission_get_403(client, desk_urls, persona, request):
    # given a logged-in user without loyalty.use_cashier_desk
    client.force_login(request.getfixturevalue(persona))

    for url in desk_urls:
        # when
        response = client.get(url)

        # then
        assert response.status_code == 403, url


def test_evaluate_is_refused_without_the_permission(client, outsider, member, store):
    # given
    client.force_login(outsider)

    # when
    response = client.post(
        reverse("cashier:evaluate", args=[member.card_number]),
        {"store": store.pk, "total": "100"},
    )

    # then
    assert response.status_code == 403


def test_cashier_sees_every_desk_page(desk, desk_urls):
    for url in desk_urls:
        # when
        response = desk.get(url)

        # then
        assert response.status_code == 200, url


def test_login_page_logs_the_cashier_in_and_out():
    # given a cashier with a password
    factories.UserFactory(username="kassa", groups=["Cashier"])
    client = Client()

    # when
    login_page = client.get(reverse("cashier:login"))
    response = client.post(
        reverse("cashier:login"), {"username": "kassa", "password": "correct-horse-battery"}
    )

    # then
    assert login_page.status_code == 200
    assert 'lang="ru"' in login_page.content.decode()
    assert response.status_code == 302
    assert response["Location"] == reverse("cashier:home")
    assert client.get(reverse("cashier:home")).status_code == 200

    # when logging out
    response = client.post(reverse("cashier:logout"))

    # then
    assert response["Location"] == reverse("cashier:login")
    assert client.get(reverse("cashier:home")).status_code == 302


def test_wrong_password_shows_an_error_and_logs_nobody_in(client, cashier):
    # when
    response = client.post(reverse("cashier:login"), {"username": "cashier", "password": "wrong"})

    # then
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert "_auth_user_id" not in client.session


def test_csrf_is_enforced_on_the_desk_forms(cashier, silver_member, store):
    # given a browser session without the CSRF token
    client = Client(enforce_csrf_checks=True)
    client.force_login(cashier)
    data = {"store": store.pk, "receipt_number": "R-1", "total": "3000.00"}

    # when
    confirm = client.post(reverse("cashier:member", args=[silver_member.card_number]), data)
    evaluate = client.post(reverse("cashier:evaluate", args=[silver_member.card_number]), data)
    lookup = client.post(reverse("cashier:home"), {"query": silver_member.card_number})

    # then
    assert confirm.status_code == 403
    assert evaluate.status_code == 403
    assert lookup.status_code == 403
    assert silver_member.purchases.count() == 0


def test_pages_carry_a_csrf_token_for_htmx_and_forms(desk, silver_member):
    # when
    response = desk.get(reverse("cashier:member", args=[silver_member.card_number]))

    # then
    html = response.content.decode()
    assert "csrfmiddlewaretoken" in html
    assert "X-CSRFToken" in html


def test_desk_is_russian_whatever_the_browser_asks(client, cashier, silver_member):
    # given a tablet whose browser prefers English
    client.force_login(cashier)

    # when
    response = client.get(
        reverse("cashier:member", args=[silver_member.card_number]),
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )

    # then
    assert response.status_code == 200
    assert '<html lang="ru">' in response.content.decode()


def test_desk_pages_load_the_desk_stylesheet_and_htmx(desk):
    # when
    html = desk.get(reverse("cashier:home")).content.decode()

    # then no CDN: everything comes from our static files
    assert '<link rel="stylesheet" href="/static/cashier/desk.css">' in html
    assert 'src="/static/django_htmx/htmx-2.min.js"' in html
    assert "https://" not in html


def test_desk_user_without_the_write_permissions_can_look_but_not_record(desk_urls, member, store):
    # given a user who may open the desk but has neither add_purchase nor add_refund
    from django.contrib.auth.models import Permission

    from members.models import Purchase, Refund

    viewer = factories.UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="use_cashier_desk"))
    client = Client()
    client.force_login(viewer)
    _home, member_url, _purchase_url, refund_url = desk_urls

    # when / then: looking is fine, recording a receipt or a refund is not
    assert client.get(member_url).status_code == 200
    receipt = {"store": store.pk, "receipt_number": "V-1", "total": "100.00"}
    assert client.post(member_url, receipt).status_code == 403
    assert client.get(refund_url).status_code == 403
    assert client.post(refund_url, {"amount": "", "refunded_before": "0.00"}).status_code == 403
    assert Purchase.objects.count() == 1
    assert Refund.objects.count() == 0
