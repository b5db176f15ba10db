"""Who may open which promo code page: marketer, cashier, outsider, and a staff user
without promo code permissions. 302 is a redirect to the admin login."""

import pytest
from django.test import Client
from django.urls import reverse

from promocodes.models import GenerationJob, PromoCode
from tests import factories
from tests.clients import staff_client as client_for


@pytest.fixture
def pages(batch, imported_batch) -> dict[str, str]:
    code = batch.codes.first()
    job = GenerationJob.objects.create(batch=batch, requested=3, generated=3, status="done")
    campaign = factories.CampaignFactory()
    return {
        "batches": reverse("admin:promocodes_codebatch_changelist"),
        "batch add": reverse("admin:promocodes_codebatch_add"),
        "batch page": reverse("admin:promocodes_codebatch_change", args=[batch.pk]),
        "codes": reverse("admin:promocodes_promocode_changelist"),
        "code page": reverse("admin:promocodes_promocode_change", args=[code.pk]),
        "redemptions": reverse("admin:promocodes_redemption_changelist"),
        "jobs": reverse("admin:promocodes_generationjob_changelist"),
        "job page": reverse("admin:promocodes_generationjob_change", args=[job.pk]),
        "campaigns": reverse("admin:campaigns_campaign_changelist"),
        "campaign add": reverse("admin:campaigns_campaign_add"),
        "campaign page": reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        "progress": reverse("promocodes_admin:job_progress", args=[job.pk]),
        "export csv": reverse("promocodes_admin:batch_export_csv", args=[batch.pk]),
        "export xlsx": reverse("promocodes_admin:batch_export_xlsx", args=[batch.pk]),
        "import": reverse("promocodes_admin:batch_import", args=[imported_batch.pk]),
    }


def _staff_without_promo_permissions():
    return factories.UserFactory(username="support", is_staff=True)


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("marketer", 200), ("cashier", 302), ("outsider", 302), ("staff", 403), ("anonymous", 302)],
)
def test_each_persona_on_each_promo_page(request, pages, persona, expected):
    # given
    if persona == "anonymous":
        client = Client()
    elif persona == "staff":
        client = client_for(_staff_without_promo_permissions())
    else:
        client = client_for(request.getfixturevalue(persona))

    # when
    statuses = {name: client.get(url).status_code for name, url in pages.items()}

    # then
    assert statuses == dict.fromkeys(pages, expected)


def test_non_staff_are_sent_to_the_admin_login_from_the_tool_pages(cashier, pages):
    client = client_for(cashier)

    response = client.get(pages["export csv"])

    assert response["Location"] == f"{reverse('admin:login')}?next={pages['export csv']}"


def test_marketer_cannot_add_change_or_delete_codes_redemptions_or_jobs(marketer_client, batch):
    code = batch.codes.first()
    before = PromoCode.objects.values().get(pk=code.pk)
    urls = [
        reverse("admin:promocodes_promocode_add"),
        reverse("admin:promocodes_redemption_add"),
        reverse("admin:promocodes_generationjob_add"),
    ]

    adds = [marketer_client.get(url).status_code for url in urls]
    change = marketer_client.post(
        reverse("admin:promocodes_promocode_change", args=[code.pk]), {"uses": "1"}
    )
    delete = marketer_client.post(
        reverse("admin:promocodes_promocode_delete", args=[code.pk]), {"post": "yes"}
    )

    assert adds == [403, 403, 403]
    assert (change.status_code, delete.status_code) == (403, 403)
    assert PromoCode.objects.values().get(pk=code.pk) == before


def test_viewer_of_batches_without_code_rights_gets_no_export_or_import(batch, imported_batch):
    # given a staff user who may only view batches
    from django.contrib.auth.models import Permission

    user = _staff_without_promo_permissions()
    user.user_permissions.add(Permission.objects.get(codename="view_codebatch"))
    client = client_for(user)

    # when
    page = client.get(reverse("admin:promocodes_codebatch_change", args=[imported_batch.pk]))
    export = client.get(reverse("promocodes_admin:batch_export_csv", args=[batch.pk]))
    export_action = client.get(reverse("admin:promocodes_codebatch_export_csv", args=[batch.pk]))
    import_post = client.post(
        reverse("promocodes_admin:batch_import", args=[imported_batch.pk]),
        {"text": "ABCD", "import": "1"},
    )

    # then the page opens without the buttons, and the files stay closed
    html = page.content.decode()
    assert page.status_code == 200
    assert reverse("admin:promocodes_codebatch_export_csv", args=[imported_batch.pk]) not in html
    assert reverse("admin:promocodes_codebatch_import_codes", args=[imported_batch.pk]) not in html
    assert (export.status_code, export_action.status_code, import_post.status_code) == (
        403,
        403,
        403,
    )
    assert not PromoCode.objects.filter(batch=imported_batch).exists()


def test_marketing_group_has_exactly_the_promo_and_campaign_permissions(marketer):
    # given the marketing group's rights on promo codes and campaigns
    granted = sorted(
        p for p in marketer.get_all_permissions() if p.startswith(("promocodes.", "campaigns."))
    )

    # then batches, campaigns, segments and threshold levels are edited, codes imported,
    # and what the mechanics wrote (codes, redemptions, jobs, offers, rewards given,
    # participants, counters) only read; nothing is deleted but a threshold level
    assert granted == [
        "campaigns.add_campaign",
        "campaigns.add_rewardlevel",
        "campaigns.add_segment",
        "campaigns.change_campaign",
        "campaigns.change_rewardlevel",
        "campaigns.change_segment",
        "campaigns.delete_rewardlevel",
        "campaigns.view_campaign",
        "campaigns.view_grant",
        "campaigns.view_offer",
        "campaigns.view_participant",
        "campaigns.view_purchasecounter",
        "campaigns.view_rewardlevel",
        "campaigns.view_segment",
        "promocodes.add_codebatch",
        "promocodes.add_promocode",
        "promocodes.change_codebatch",
        "promocodes.view_codebatch",
        "promocodes.view_generationjob",
        "promocodes.view_promocode",
        "promocodes.view_redemption",
    ]
