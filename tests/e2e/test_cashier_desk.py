import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from loyalty.defaults import CASHIER
from members.models import Purchase
from tests import factories
from tests.e2e.desk import PASSWORD, amount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_cashier_records_a_purchase_and_sees_the_breakdown(
    page: Page, live_server, store, demo_member
):
    # given a cashier account and a Silver member with 500 points
    factories.UserFactory(username="kassa", password=PASSWORD, groups=[CASHIER])
    css = []
    page.on(
        "response",
        lambda r: css.append(r.status) if r.url.endswith("/cashier/desk.css") else None,
    )

    # when the cashier opens the desk, the login page is in Russian
    page.goto(f"{live_server.url}/cashier/")
    expect(page).to_have_url(re.compile(r"/cashier/login/\?next=/cashier/$"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_label("Пароль")).to_be_visible()  # Django's own Russian catalogue

    # and logs in
    page.locator("input[name=username]").fill("kassa")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/cashier/")

    # then the desk's own stylesheet is served and applied
    assert set(css) == {200}  # at least one load, none failed
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(243, 245, 248)"

    # when the member is found by phone, typed the way people say it
    page.locator("input[name=query]").fill("8 912 345-67-89")
    page.locator("input[name=query]").press("Enter")

    # then the member panel shows them
    expect(page).to_have_url(f"{live_server.url}/cashier/members/{demo_member.card_number}/")
    expect(page.locator("#member-name")).to_have_text("Ольга Кузнецова")
    expect(page.get_by_test_id("points-balance")).to_have_text("500")

    # when the cashier types a receipt, the breakdown follows as they type
    page.locator("#id_receipt_number").fill("A-1001")
    page.locator("#id_total").press_sequentially("3000")
    expect(amount(page, "paid")).to_have_text("2 850,00 ₽")
    expect(page.locator("#points-allowed")).to_have_text("500")

    # and spends the most points allowed
    page.locator("#spend-max").click()
    expect(page.locator("#id_points_to_spend")).to_have_value("500")
    expect(amount(page, "paid")).to_have_text("2 350,00 ₽")
    expect(amount(page, "points-earned")).to_have_text("+47")
    page.screenshot(path="/tmp/cashier.png", full_page=True)

    # and confirms with an impatient double click
    page.locator("button.button-confirm").dblclick()

    # then the printable receipt summary shows the exact figures
    expect(page).to_have_url(re.compile(r"/cashier/purchases/\d+/$"))
    expect(amount(page, "total")).to_have_text("3 000,00 ₽")
    expect(amount(page, "base-tier")).to_have_text("−150,00 ₽")
    expect(amount(page, "points-max")).to_have_text("500")
    expect(amount(page, "points-spent")).to_have_text("−500")
    expect(amount(page, "paid")).to_have_text("2 350,00 ₽")
    expect(amount(page, "points-earned")).to_have_text("+47")
    expect(amount(page, "tier-spend")).to_have_text("+2 850,00 ₽")
    expect(page.get_by_test_id("points-balance")).to_have_text("47")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    page.screenshot(path="/tmp/cashier-receipt.png", full_page=True)

    # and exactly one purchase was recorded
    purchase = Purchase.objects.get()
    assert (purchase.receipt_number, purchase.paid, purchase.points_earned) == (
        "A-1001",
        Decimal("2350.00"),
        47,
    )
