"""The batch pages: creating a batch starts its generation job, the list shows counts
without counting codes per row, the batch page shows and polls the job's progress."""

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty.actors import Actor
from members.models import Channel
from promocodes import services
from promocodes.models import BatchRecipient, CodeBatch, GenerationJob, PromoCode, Redemption
from tests import factories

ADD = "admin:promocodes_codebatch_add"
CHANGELIST = "admin:promocodes_codebatch_changelist"


def _change_url(batch) -> str:
    return reverse("admin:promocodes_codebatch_change", args=[batch.pk])


def _add_data(**changes) -> dict:
    data = {
        "name": "Весна 10%",
        "campaign": "",
        "source": "generated",
        "count": "250",
        "alphabet": "safe",
        "prefix": "SPRNG",
        "length": "10",
        "valid_from_0": "2026-12-01",
        "valid_from_1": "00:00:00",
        "valid_until_0": "2026-12-31",
        "valid_until_1": "23:59:00",
        "min_receipt": "1000",
        "reward_kind": "percent",
        "reward_value": "10",
        "reward_cap": "500",
        "gift_name": "",
        "uses_per_code": "1",
        "is_active": "on",
        "recipients": "",
    }
    data.update(changes)
    return data


def test_adding_a_batch_queues_its_generation_job_on_commit(
    marketer_client, marketer, django_capture_on_commit_callbacks, monkeypatch
):
    # given a worker that records what it is asked to run
    queued = []
    monkeypatch.setattr(
        "promocodes.tasks.generation_job_run_task.delay", lambda job_id: queued.append(job_id)
    )
    campaign = factories.CampaignFactory(name="Весна")

    # when a marketer adds a batch of 250 codes
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = marketer_client.post(reverse(ADD), _add_data(campaign=str(campaign.pk)))

    # then the batch is saved as typed, one job is queued after the commit, and the
    # marketer lands on the batch page where its progress is
    batch = CodeBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _change_url(batch)
    assert (batch.name, batch.campaign, batch.count, batch.prefix, batch.length) == (
        "Весна 10%",
        campaign,
        250,
        "SPRNG",
        10,
    )
    assert (batch.reward_kind, batch.reward_value, batch.reward_cap) == (
        "percent",
        Decimal("10.00"),
        Decimal("500.00"),
    )
    assert batch.min_receipt == Decimal("1000.00")
    assert batch.created_by == marketer
    job = GenerationJob.objects.get(batch=batch)
    assert (job.status, job.requested, job.generated) == ("queued", 250, 0)
    assert len(callbacks) == 1
    assert queued == [job.pk]


def test_a_refused_batch_queues_nothing(marketer_client, django_capture_on_commit_callbacks):
    # when the window is empty
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = marketer_client.post(
            reverse(ADD), _add_data(valid_until_0="2026-11-30", valid_until_1="00:00:00")
        )

    # then the form says why, and nothing was saved or queued
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "valid_until": ["The end of the validity window must be after its start."]
    }
    assert not CodeBatch.objects.exists()
    assert not GenerationJob.objects.exists()
    assert callbacks == []


def test_personal_batch_gets_its_recipients_and_a_job_for_each(
    marketer_client, tiers, django_capture_on_commit_callbacks, monkeypatch
):
    # given two members
    monkeypatch.setattr("promocodes.tasks.generation_job_run_task.delay", lambda job_id: None)
    anna = factories.MemberFactory(phone="+79123456789")
    boris = factories.MemberFactory()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(
            reverse(ADD),
            _add_data(
                is_personal="on", count="", recipients=f"8 912 345 67 89\n{boris.card_number}"
            ),
        )

    # then
    assert response.status_code == 302
    batch = CodeBatch.objects.get()
    assert (batch.is_personal, batch.count) == (True, 2)
    assert set(BatchRecipient.objects.values_list("member", flat=True)) == {anna.pk, boris.pk}
    assert GenerationJob.objects.get(batch=batch).requested == 2


def test_imported_batch_is_not_generated(marketer_client, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = marketer_client.post(reverse(ADD), _add_data(source="imported", count=""))

    # then
    assert response.status_code == 302
    batch = CodeBatch.objects.get()
    assert (batch.source, batch.count) == ("imported", 0)
    assert not GenerationJob.objects.exists()
    assert callbacks == []


def test_format_fields_are_read_only_after_creation(marketer_client, batch):
    # given the batch page
    url = _change_url(batch)
    page = marketer_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert set(form.fields) == {
        "name",
        "campaign",
        "is_active",
        "valid_from",
        "valid_until",
        "min_receipt",
        "reward_kind",
        "reward_value",
        "reward_cap",
        "gift_name",
    }

    # when a post tries to change the format and switches the batch off
    data = _add_data(
        name=batch.name,
        count="99999",
        prefix="ZZZ",
        length="20",
        reward_cap="",
        valid_from_0="2026-01-01",
        valid_until_0="2027-01-01",
        is_active="",
    )
    response = marketer_client.post(url, data)

    # then only the editable fields changed
    assert response.status_code == 302
    batch.refresh_from_db()
    assert (batch.count, batch.prefix, batch.length, batch.is_active) == (3, "", 10, False)
    assert not GenerationJob.objects.exists()  # a change starts nothing


def _redeem(code, member, store, cashier, receipt: str):
    from members.services import checkout_commit

    return checkout_commit(
        member=member,
        store=store,
        receipt_number=receipt,
        total="1000.00",
        points_to_spend=0,
        actor=Actor.for_user(cashier, Channel.CASHIER),
        code=code.code,
    ).purchase


def test_list_shows_issued_redeemed_and_expired(marketer_client, tiers, store, cashier):
    # given a batch whose job made 3 codes, two redeemed and one of them refunded, and
    # 4 codes marked expired
    batch = factories.CodeBatchFactory(name="Осень", count=3, expired_count=4)
    GenerationJob.objects.create(batch=batch, requested=3, generated=3, status="done")
    made = factories.PromoCodeFactory.create_batch(3, batch=batch)
    member = factories.MemberFactory(tier=tiers["Base"])
    _redeem(made[0], member, store, cashier, "R-1")
    refunded = _redeem(made[1], member, store, cashier, "R-2")
    from members.services import purchase_refund

    purchase_refund(
        purchase=refunded, amount=refunded.paid, actor=Actor.for_user(cashier, Channel.CASHIER)
    )
    assert Redemption.objects.filter(batch=batch).count() == 2
    imported = factories.CodeBatchFactory(name="Импорт", source="imported", count=7)

    # when
    response = marketer_client.get(reverse(CHANGELIST))

    # then
    rows = {
        b.name: (b.issued_total, b.redeemed_total, b.expired_count)
        for b in response.context["cl"].result_list
    }
    assert rows == {"Осень": (3, 1, 4), "Импорт": (7, 0, 0)}
    assert imported.pk


def test_list_costs_the_same_queries_for_2_and_20_batches(
    marketer_client, django_assert_num_queries
):
    # given 2 batches with jobs and codes
    def make(n):
        for _ in range(n):
            batch = factories.CodeBatchFactory(campaign=factories.CampaignFactory())
            GenerationJob.objects.create(batch=batch, requested=2, generated=2, status="done")
            factories.PromoCodeFactory.create_batch(2, batch=batch)

    url = reverse(CHANGELIST)
    make(2)
    marketer_client.get(url)  # warms per-process caches
    with CaptureQueriesContext(connection) as two:
        marketer_client.get(url)

    # when there are 20
    make(18)

    # then the page costs exactly as many queries, and the codes table is read only for
    # personal batches (through the (batch, member) index), never for generated ones
    with django_assert_num_queries(len(two.captured_queries)) as captured:
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 20
    code_table = PromoCode._meta.db_table
    reading_codes = [q["sql"] for q in captured.captured_queries if code_table in q["sql"]]
    assert len(reading_codes) == 1
    personal_branch = reading_codes[0].index('WHEN "promocodes_codebatch"."is_personal"')
    assert reading_codes[0].index(f'FROM "{code_table}"') > personal_branch
    personal_count = (
        f'FROM "{code_table}" U0 WHERE (U0."batch_id" = ("promocodes_codebatch"."id") '
        'AND U0."member_id" IS NOT NULL)'
    )
    assert personal_count in reading_codes[0]


# --- progress ---------------------------------------------------------------------------


def test_batch_page_shows_the_progress_bar_polling_every_2_seconds(marketer_client, batch):
    # given a running job
    job = GenerationJob.objects.create(
        batch=batch, requested=1000, generated=250, collisions=1, status="running"
    )

    # when
    html = marketer_client.get(_change_url(batch)).content.decode()

    # then
    progress_url = reverse("promocodes_admin:job_progress", args=[job.pk])
    assert f'hx-get="{progress_url}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert 'aria-valuenow="25"' in html
    assert "250 of 1000 codes made; 1 collisions skipped." in html


def test_progress_fragment_stops_polling_when_done(marketer_client, batch):
    # given
    job = GenerationJob.objects.create(batch=batch, requested=4, generated=1, status="running")
    url = reverse("promocodes_admin:job_progress", args=[job.pk])

    # when polled while running, then after the job finished
    running = marketer_client.get(url, headers={"HX-Request": "true"}).content.decode()
    GenerationJob.objects.filter(pk=job.pk).update(generated=4, status="done")
    done = marketer_client.get(url, headers={"HX-Request": "true"}).content.decode()

    # then
    assert 'hx-trigger="every 2s"' in running
    assert 'data-percent="25"' in running
    assert "hx-trigger" not in done
    assert 'data-percent="100"' in done
    assert 'data-status="done"' in done
    assert "<html" not in done  # a fragment, not a page


def test_progress_as_json(marketer_client, batch):
    # given
    job = GenerationJob.objects.create(
        batch=batch, requested=3, generated=2, collisions=5, status="running"
    )

    # when
    response = marketer_client.get(
        reverse("promocodes_admin:job_progress", args=[job.pk]),
        headers={"Accept": "application/json"},
    )

    # then
    assert response.status_code == 200
    assert response.json() == {
        "id": job.pk,
        "batch": batch.pk,
        "status": "running",
        "requested": 3,
        "generated": 2,
        "collisions": 5,
        "percent": 66,
        "is_finished": False,
    }


def test_progress_of_a_job_run_by_the_service(marketer_client, monkeypatch):
    # given a batch made in admin, its job run by the service as the worker would
    monkeypatch.setattr("promocodes.tasks.generation_job_run_task.delay", lambda job_id: None)
    batch = factories.CodeBatchFactory(count=120)
    job = services.batch_generation_start(batch=batch, actor=Actor.for_task("test"))
    url = reverse("promocodes_admin:job_progress", args=[job.pk])
    before = marketer_client.get(url, headers={"Accept": "application/json"}).json()

    # when
    services.generation_job_run(job_id=job.pk, chunk_size=50)

    # then
    after = marketer_client.get(url, headers={"Accept": "application/json"}).json()
    assert (before["status"], before["percent"]) == ("queued", 0)
    assert (after["status"], after["generated"], after["percent"]) == ("done", 120, 100)
    assert PromoCode.objects.filter(batch=batch).count() == 120


def test_missing_job_is_404(marketer_client):
    response = marketer_client.get(reverse("promocodes_admin:job_progress", args=[999999]))

    assert response.status_code == 404


def test_code_change_view_and_redemption_list_open(marketer_client, batch):
    code = batch.codes.first()

    page = marketer_client.get(reverse("admin:promocodes_promocode_change", args=[code.pk]))

    assert page.status_code == 200
    assert code.code[:4] in page.content.decode()


def test_batch_window_and_reward_shown_in_the_list(marketer_client):
    start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    factories.CodeBatchFactory(
        name="Подарок",
        reward_kind="gift",
        reward_value=0,
        gift_name="Кофе",
        valid_from=start,
        valid_until=start + dt.timedelta(days=30),
    )
    factories.CodeBatchFactory(name="Баллы", reward_kind="points", reward_value=Decimal(300))

    html = marketer_client.get(reverse(CHANGELIST)).content.decode()

    assert "Gift: Кофе" in html
    assert "300 points" in html
    assert "12/01/2026 – 12/31/2026" in html
