"""Issue 5, acceptance 7: the cashier sees a member's progress and closed-sale
invitation and applies the best offer."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from playwright.sync_api import Page, expect

from campaigns.models import Campaign, Grant, Offer, Participant, PurchaseCounter
from loyalty.actors import Actor
from loyalty.defaults import CASHIER
from members.models import Channel, Purchase
from members.services import checkout_commit
from tests import factories
from tests.e2e.desk import PASSWORD, amount

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def in_russian(text: str, **params) -> str:
    """A desk string as the Russian desk shows it (the English source until translated)."""
    with translation.override("ru"):
        return gettext(text) % params if params else gettext(text)


def purchases_to_go(count: int, name: str) -> str:
    with translation.override("ru"):
        return ngettext(
            "%(counter)s more purchase to «%(name)s»",
            "%(counter)s more purchases to «%(name)s»",
            count,
        ) % {"counter": count, "name": name}


def offer(member, *, name: str, kind: str, value: str):
    campaign = factories.OfferCampaignFactory(
        name=name, reward_kind=kind, reward_value=Decimal(value)
    )
    title = f"{name}: {value}%" if kind == "percent" else f"{name}: {value} ₽"
    return factories.CampaignOfferFactory(
        campaign=campaign,
        member=member,
        title=title,
        reward_kind=kind,
        reward_value=Decimal(value),
    )


def test_cashier_sees_progress_and_invitation_and_applies_the_best_offer(
    page: Page, live_server, store, demo_member
):
    # given "every 5th purchase 10% off" with four of the member's purchases counted
    fifth = factories.NthPurchaseCampaignFactory(
        name="Каждая 5-я покупка", reward_value=Decimal("10")
    )
    cashier = factories.UserFactory(username="kassa", password=PASSWORD, groups=[CASHIER])
    for n in range(4):
        checkout_commit(
            member=demo_member,
            store=store,
            receipt_number=f"A-{n}",
            total="100.00",
            actor=Actor.for_user(cashier, Channel.CASHIER),
        )
    assert PurchaseCounter.objects.get(campaign=fifth, member=demo_member).count == 4
    # and an invitation to a 25% closed sale that is open now
    now = timezone.now()
    sale = factories.ClosedSaleFactory(
        name="Для своих",
        status=Campaign.Status.ACTIVE,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=1),
    )
    Participant.objects.create(campaign=sale, member=demo_member, created_at=now)
    # and two offers: 20% off, and 500 ₽ off, which is worth more on this receipt
    spring = offer(demo_member, name="Весна", kind="percent", value="20")
    coupon = offer(demo_member, name="Купон", kind="fixed", value="500")

    # when the cashier logs in and finds the member by phone
    page.goto(f"{live_server.url}/cashier/")
    page.locator("input[name=username]").fill("kassa")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/cashier/")
    page.locator("input[name=query]").fill("8 912 345-67-89")
    page.locator("input[name=query]").press("Enter")
    expect(page.locator("#member-name")).to_have_text("Ольга Кузнецова")

    # then the progress shows 4 of 5 and that this purchase gets the reward
    counter = page.get_by_test_id("counters").locator(f'li[data-campaign="{fifth.pk}"]')
    expect(counter.locator(".counter-count")).to_have_text("4/5")
    expect(counter).to_contain_text(purchases_to_go(1, "Каждая 5-я покупка"))
    expect(counter.locator(".counter-due")).to_have_text(
        in_russian("this purchase gets the reward")
    )
    # and the open closed sale the member is invited to
    invitation = page.get_by_test_id("invitations").locator(f'li[data-sale="{sale.pk}"]')
    expect(invitation).to_contain_text("Для своих")
    expect(invitation).to_contain_text("−25%")
    expect(invitation.locator(".sale-open")).to_have_text(
        in_russian("the sale price applies automatically")
    )
    # and both offers and the N-th purchase reward to pick from, the best by default
    picks = page.locator("#offers-and-gifts")
    expect(picks.locator(f'[data-reference="offer-{coupon.pk}"]')).to_contain_text("Купон: 500 ₽")
    expect(picks.locator(f'[data-reference="offer-{spring.pk}"]')).to_contain_text("Весна: 20%")
    expect(picks.locator(f'[data-reference="nth-{fifth.pk}"]')).to_contain_text(
        "Каждая 5-я покупка"
    )
    expect(picks.locator('input[name="choice"][value=""]')).to_be_checked()

    # when the cashier types the receipt
    page.locator("#id_receipt_number").fill("A-1001")
    page.locator("#id_total").press_sequentially("3000")

    # then the closed sale is the base rate and the 500 ₽ coupon, worth most, applies
    sale_row = f"base-sale-{sale.pk}"
    sale_label = in_russian("Closed sale: %(name)s", name="Для своих")
    expect(amount(page, sale_row)).to_have_text("−750,00 ₽")
    breakdown = page.get_by_test_id("breakdown")
    expect(breakdown.locator(f'tr[data-row="{sale_row}"] th')).to_contain_text(sale_label)
    expect(breakdown.locator('tr[data-row="reward"] th')).to_have_text("Купон: 500 ₽")
    expect(amount(page, "reward")).to_have_text("−500,00 ₽")
    expect(amount(page, "paid")).to_have_text("1 750,00 ₽")
    page.screenshot(path="/tmp/cashier-campaigns.png", full_page=True)

    # when the purchase is confirmed
    page.locator("button.button-confirm").click()

    # then the receipt names the rule behind each discount
    expect(page).to_have_url(re.compile(r"/cashier/purchases/\d+/$"))
    receipt = page.get_by_test_id("breakdown")
    expect(receipt.locator(f'tr[data-row="{sale_row}"] th')).to_contain_text(sale_label)
    expect(amount(page, sale_row)).to_have_text("−750,00 ₽")
    expect(receipt.locator('tr[data-row="reward"] th')).to_have_text("Купон: 500 ₽")
    expect(amount(page, "reward")).to_have_text("−500,00 ₽")
    expect(amount(page, "paid")).to_have_text("1 750,00 ₽")
    # and the unused N-th purchase reward still waits for the next purchase
    counter = page.get_by_test_id("counters").locator(f'li[data-campaign="{fifth.pk}"]')
    expect(counter.locator(".counter-count")).to_have_text("4/5")
    page.screenshot(path="/tmp/cashier-campaigns-receipt.png", full_page=True)

    # and the coupon was used on this purchase, the other offer kept
    purchase = Purchase.objects.get(receipt_number="A-1001")
    assert (purchase.base_source, purchase.reward_reference, purchase.paid) == (
        f"sale-{sale.pk}",
        f"offer-{coupon.pk}",
        Decimal("1750.00"),
    )
    assert Offer.objects.get(pk=coupon.pk).status == Offer.Status.USED
    assert Offer.objects.get(pk=spring.pk).status == Offer.Status.ACTIVE
    assert set(Grant.objects.filter(purchase=purchase).values_list("campaign_id", "discount")) == {
        (sale.pk, Decimal("750.00")),
        (coupon.campaign_id, Decimal("500.00")),
    }
