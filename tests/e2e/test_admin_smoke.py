"""A marketer in the Russian admin: log in, find a member, see the card's QR code."""

import re

import pytest
from playwright.sync_api import Page, expect

from loyalty.actors import Actor
from members.services import points_grant
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"


def test_marketer_opens_a_member_and_sees_the_qr_code(page: Page, live_server, marketer, tiers):
    # given a marketer and a Silver member with points
    member = factories.MemberFactory(
        tier=tiers["Silver"], first_name="Ольга", last_name="Кузнецова", phone="+79123456789"
    )
    points_grant(
        member=member, amount=500, reason="Приветственные баллы", actor=Actor.for_task("t")
    )
    page.set_viewport_size({"width": 1440, "height": 1000})

    # when the marketer logs in to admin
    page.goto(f"{live_server.url}/admin/members/member/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/members/member/$"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    page.locator("input[name=username]").fill(marketer.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")

    # then the members list is in Russian and lists the member
    expect(page).to_have_url(f"{live_server.url}/admin/members/member/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    row = page.locator("#result_list").get_by_role("link", name=member.card_number)
    expect(row).to_be_visible()

    # when the member is searched by phone as people type it, and opened
    page.locator("#searchbar").fill("8 912 345-67-89")
    page.locator("#searchbar").press("Enter")
    page.locator("#result_list").get_by_role("link", name=member.card_number).click()

    # then the member page shows the card's QR code and barcode, drawn inline
    expect(page).to_have_url(re.compile(rf"/admin/members/member/{member.pk}/change/"))
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    qr = page.locator(".card-qr svg")
    expect(qr).to_be_visible()
    expect(page.locator(".card-barcode svg")).to_be_visible()
    assert qr.bounding_box()["width"] > 50
    page.screenshot(path="/tmp/admin.png", full_page=True)
