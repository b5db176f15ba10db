import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from loyalty.defaults import CASHIER
from members.models import Purchase
from promocodes import codes
from promocodes.models import PromoCode, Redemption
from tests import factories
from tests.cashier.test_promocodes import as_typed_on_a_russian_keyboard, lookalike_code
from tests.e2e.desk import PASSWORD, amount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in_and_find(page: Page, live_server, phone: str) -> None:
    factories.UserFactory(username="kassa", password=PASSWORD, groups=[CASHIER])
    page.goto(f"{live_server.url}/cashier/")
    page.locator("input[name=username]").fill("kassa")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/cashier/")
    page.locator("input[name=query]").fill(phone)
    page.locator("input[name=query]").press("Enter")


def test_cashier_applies_the_personal_code_picked_not_the_best_one(
    page: Page, live_server, store, demo_member
):
    # given the member has two personal codes valid for the receipt: 10% off, and a
    # fixed 500 ₽ off that is worth more, so the automatic choice would take it
    weaker_batch = factories.CodeBatchFactory(name="Персональная скидка 10%", is_personal=True)
    weaker = factories.PromoCodeFactory(batch=weaker_batch, member=demo_member)
    better_batch = factories.CodeBatchFactory(
        name="Персональная скидка 500 ₽",
        is_personal=True,
        reward_kind="fixed",
        reward_value=Decimal("500"),
    )
    better = factories.PromoCodeFactory(batch=better_batch, member=demo_member)
    printed = codes.display(weaker.code)

    # when the cashier logs in and finds the member
    log_in_and_find(page, live_server, "8 912 345-67-89")

    # then both personal codes are listed to pick from, the automatic choice checked
    expect(page.locator("#member-name")).to_have_text("Ольга Кузнецова")
    personal = page.get_by_test_id("personal-codes")
    expect(personal).to_contain_text(printed)
    expect(personal).to_contain_text("Персональная скидка 10%")
    expect(personal).to_contain_text(codes.display(better.code))
    expect(personal).to_contain_text("Персональная скидка 500 ₽")
    expect(personal.locator('input[name="choice"][value=""]')).to_be_checked()

    # when the cashier types the receipt and spends the most points, nothing picked yet
    page.locator("#id_receipt_number").fill("A-2001")
    page.locator("#id_total").press_sequentially("3000")
    page.locator("#spend-max").click()

    # then the breakdown applies the better code by itself
    expect(amount(page, "reward")).to_have_text("−500,00 ₽")
    expect(page.locator('[data-testid="breakdown"] tr[data-row="reward"] th')).to_have_text(
        f"{codes.display(better.code)}: Персональная скидка 500 ₽"
    )
    expect(amount(page, "paid")).to_have_text("1 850,00 ₽")

    # when the cashier picks the weaker 10% code instead
    personal.locator(f'label[data-code="{weaker.code}"]').click()
    expect(personal.locator(f'input[value="{weaker.code}"]')).to_be_checked()
    page.locator("#spend-max").click()

    # then the breakdown shows the worked example with the picked code's discount, naming it
    expect(amount(page, "reward")).to_have_text("−285,00 ₽")
    expect(page.locator('[data-testid="breakdown"] tr[data-row="reward"] th')).to_have_text(
        f"{printed}: Персональная скидка 10%"
    )
    expect(page.locator("#id_points_to_spend")).to_have_value("500")
    expect(amount(page, "paid")).to_have_text("2 065,00 ₽")
    expect(amount(page, "points-earned")).to_have_text("+41")
    page.screenshot(path="/tmp/cashier-promocode.png", full_page=True)

    # when the purchase is confirmed
    page.locator("button.button-confirm").click()

    # then the printable receipt names the picked code on its discount line
    expect(page).to_have_url(re.compile(r"/cashier/purchases/\d+/$"))
    expect(amount(page, "base-tier")).to_have_text("−150,00 ₽")
    expect(amount(page, "reward")).to_have_text("−285,00 ₽")
    expect(page.locator('[data-testid="breakdown"] tr[data-row="reward"] th')).to_have_text(
        f"{printed}: Персональная скидка 10%"
    )
    expect(amount(page, "paid")).to_have_text("2 065,00 ₽")
    expect(page.get_by_test_id("points-balance")).to_have_text("41")
    page.screenshot(path="/tmp/cashier-promocode-receipt.png", full_page=True)

    # and the picked code was used exactly once, for that purchase; the better one not at all
    purchase = Purchase.objects.get()
    assert (purchase.receipt_number, purchase.code_discount, purchase.paid) == (
        "A-2001",
        Decimal("285.00"),
        Decimal("2065.00"),
    )
    redemption = Redemption.objects.get()
    assert (redemption.code_id, redemption.purchase, redemption.discount) == (
        weaker.pk,
        purchase,
        Decimal("285.00"),
    )
    assert PromoCode.objects.get(pk=weaker.pk).uses == 1
    assert PromoCode.objects.get(pk=better.pk).uses == 0


def test_a_code_typed_in_cyrillic_lower_case_is_checked_live(
    page: Page, live_server, store, demo_member
):
    # given a public 10% code whose letters all have a Cyrillic twin
    code = factories.PromoCodeFactory(
        code=lookalike_code(), batch=factories.CodeBatchFactory(name="Зима −10%")
    )
    typed = as_typed_on_a_russian_keyboard(code.code)

    # when the cashier types the total and then the code with the Russian layout on
    log_in_and_find(page, live_server, "8 912 345-67-89")
    page.locator("#id_total").press_sequentially("3000")
    page.locator("#id_code").press_sequentially(typed)

    # then the live check says it is valid and what it gives on this receipt
    check = page.get_by_test_id("code-check")
    expect(check).to_have_attribute("data-state", "valid")
    expect(check).to_contain_text(f"{codes.display(code.code)}: Зима −10%")
    expect(page.get_by_test_id("code-gives")).to_have_text("−285,00 ₽")
    expect(amount(page, "reward")).to_have_text("−285,00 ₽")
    page.screenshot(path="/tmp/cashier-promocode-live.png", full_page=True)

    # when the cashier mistypes one character
    page.locator("#id_code").press("Backspace")
    page.locator("#id_code").press_sequentially("ж")

    # then the live check refuses it with the reason, and nothing was used
    expect(check).to_have_attribute("data-state", "refused")
    assert PromoCode.objects.get(pk=code.pk).uses == 0
