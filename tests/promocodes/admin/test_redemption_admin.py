"""Redemptions, generation jobs and campaigns in admin: read-only rows, exact search."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty.actors import Actor
from members.models import Channel
from members.services import checkout_commit
from promocodes import codes
from promocodes.models import GenerationJob, Redemption
from tests import factories

CHANGELIST = "admin:promocodes_redemption_changelist"


def _redeem(member, store, cashier, receipt: str) -> Redemption:
    code = factories.PromoCodeFactory()
    purchase = checkout_commit(
        member=member,
        store=store,
        receipt_number=receipt,
        total="1000.00",
        points_to_spend=0,
        actor=Actor.for_user(cashier, Channel.CASHIER),
        code=code.code,
    ).purchase
    return Redemption.objects.get(purchase=purchase)


@pytest.fixture
def redemptions(tiers, store, cashier) -> list[Redemption]:
    member = factories.MemberFactory(tier=tiers["Base"])
    other = factories.MemberFactory(tier=tiers["Base"])
    return [
        _redeem(member, store, cashier, "R-1"),
        _redeem(member, store, cashier, "R-2"),
        _redeem(other, store, cashier, "R-3"),
    ]


def _found(client, term: str) -> list[Redemption]:
    response = client.get(reverse(CHANGELIST), {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_redemptions_are_listed_with_their_code_card_and_receipt(marketer_client, redemptions):
    # when
    with CaptureQueriesContext(connection) as captured:
        response = marketer_client.get(reverse(CHANGELIST))

    # then
    html = response.content.decode()
    first = redemptions[0]
    assert codes.display(first.code.code) in html
    assert first.member.card_number in html
    assert "R-1" in html
    assert "COUNT(" not in " ".join(q["sql"] for q in captured.captured_queries).upper()


def test_redemption_search_by_exact_code_or_card(marketer_client, redemptions):
    first, second, _third = redemptions

    assert _found(marketer_client, codes.display(first.code.code).lower()) == [first]
    assert set(_found(marketer_client, first.member.card_number)) == {first, second}
    assert _found(marketer_client, first.code.code[:5]) == []
    assert _found(marketer_client, "R-3") == []  # receipts are searched on the purchases page


def test_redemptions_are_read_only(marketer_client, redemptions):
    redemption = redemptions[0]
    url = reverse("admin:promocodes_redemption_change", args=[redemption.pk])
    before = Redemption.objects.values().get(pk=redemption.pk)

    page = marketer_client.get(url)
    post = marketer_client.post(url, {"discount": "0"})
    delete = marketer_client.post(
        reverse("admin:promocodes_redemption_delete", args=[redemption.pk]), {"post": "yes"}
    )

    assert (page.status_code, post.status_code, delete.status_code) == (200, 403, 403)
    assert Redemption.objects.values().get(pk=redemption.pk) == before


def test_code_page_lists_its_redemptions(marketer_client, redemptions):
    redemption = redemptions[0]

    page = marketer_client.get(
        reverse("admin:promocodes_promocode_change", args=[redemption.code_id])
    )

    html = page.content.decode()
    assert reverse("admin:promocodes_redemption_change", args=[redemption.pk]) in html
    assert "R-1" in html


def test_job_page_shows_its_progress(marketer_client, batch):
    job = GenerationJob.objects.create(batch=batch, requested=8, generated=6, status="failed")

    page = marketer_client.get(reverse("admin:promocodes_generationjob_change", args=[job.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-percent="75"' in html
    assert 'hx-trigger="every 2s"' not in html  # a failed job is not polled


def test_campaign_added_and_listed_with_its_batches(marketer_client):
    # when
    response = marketer_client.post(
        reverse("admin:campaigns_campaign_add"),
        {
            "name": "Весна",
            "description": "Март–май",
            "levels-TOTAL_FORMS": "0",
            "levels-INITIAL_FORMS": "0",
        },
    )
    campaign = factories.CampaignFactory(name="Весна")
    factories.CodeBatchFactory.create_batch(2, campaign=campaign)

    # then
    listing = marketer_client.get(reverse("admin:campaigns_campaign_changelist"))
    assert response.status_code == 302
    assert [(c.name, c.batches_total) for c in listing.context["cl"].result_list] == [("Весна", 2)]
