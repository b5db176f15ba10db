"""A marketer in the Russian admin: log in, find a member, see the card's QR code;
create a promo code batch and watch its generation reach 100%."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from loyalty.actors import Actor
from members.services import points_grant
from promocodes.models import CodeBatch, GenerationJob, PromoCode
from promocodes.services import generation_job_run
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


def test_marketer_creates_a_batch_and_sees_its_generation_reach_100_percent(
    page: Page, live_server, marketer, monkeypatch
):
    # given a worker that only records the jobs it is sent; the test runs them itself
    queued: list[int] = []
    monkeypatch.setattr(
        "promocodes.tasks.generation_job_run_task.delay", lambda job_id: queued.append(job_id)
    )
    start = timezone.localtime() - dt.timedelta(days=1)
    end = start + dt.timedelta(days=30)
    page.set_viewport_size({"width": 1440, "height": 1000})

    # when the marketer logs in and opens "add batch", in Russian
    page.goto(f"{live_server.url}/admin/promocodes/codebatch/add/")
    page.locator("input[name=username]").fill(marketer.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    expect(page).to_have_url(f"{live_server.url}/admin/promocodes/codebatch/add/")
    expect(page.locator("html")).to_have_attribute("lang", "ru")

    # and fills in 500 codes with a prefix, a 10% reward and a window, dates typed the
    # Russian way
    page.locator("input[name=name]").fill("Весна 10%")
    page.locator("input[name=count]").fill("500")
    page.locator("input[name=prefix]").fill("vsn")
    page.locator("input[name=valid_from_0]").fill(start.strftime("%d.%m.%Y"))
    page.locator("input[name=valid_from_1]").fill("00:00:00")
    page.locator("input[name=valid_until_0]").fill(end.strftime("%d.%m.%Y"))
    page.locator("input[name=valid_until_1]").fill("23:59:00")
    page.locator("select[name=reward_kind]").select_option("percent")
    page.locator("input[name=reward_value]").fill("10")
    expect(page.locator("input[name=gift_name]")).to_be_hidden()  # only for a gift
    page.locator("button[name=_save]").click()

    # then the batch page shows the queued job's progress bar at 0%
    batch = CodeBatch.objects.get()
    expect(page).to_have_url(f"{live_server.url}/admin/promocodes/codebatch/{batch.pk}/change/")
    progress = page.locator("#job-progress")
    expect(progress).to_have_attribute("data-status", "queued")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    job = GenerationJob.objects.get(batch=batch)
    assert queued == [job.pk]

    # when the worker runs the job
    generation_job_run(job_id=job.pk, chunk_size=100)

    # then the bar, polled every 2 s without reloading the page, reaches 100% and stops
    expect(progress).to_have_attribute("data-percent", "100", timeout=10_000)
    expect(progress).to_have_attribute("data-status", "done")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    assert PromoCode.objects.filter(batch=batch).count() == 500
    assert all(c.startswith("VSN") for c in PromoCode.objects.values_list("code", flat=True))
    page.screenshot(path="/tmp/admin-batch.png", full_page=True)
