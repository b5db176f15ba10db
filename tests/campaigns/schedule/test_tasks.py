"""The campaign tasks as the beat calls them, and a step that fails half-way."""

import datetime as dt
import logging

import pytest
import time_machine
from django.conf import settings
from django.utils.module_loading import import_string

from campaigns import tasks
from campaigns.models import Campaign, Offer, Participant
from campaigns.services import core
from campaigns.services.schedule import campaigns_advance
from loyalty.celery import app
from messaging.models import Message
from tests import factories
from tests.campaigns.schedule.conftest import NOTHING, msk

pytestmark = pytest.mark.django_db

AT = msk(2026, 10, 1, 9, 0)


def test_the_beat_schedules_the_campaign_tasks_under_their_registered_names():
    # given
    paths = [
        spec["task"]
        for spec in settings.LOYALTY_PERIODIC_TASKS.values()
        if spec["task"].startswith("campaigns.")
    ]

    # when / then
    assert paths == [
        "campaigns.tasks.campaigns_advance_task",
        "campaigns.tasks.offers_expire_task",
        "campaigns.tasks.birthday_gifts_issue_task",
    ]
    for path in paths:
        assert import_string(path).name == path
        assert path in app.tasks


def test_the_tasks_advance_campaigns_and_burn_offers_at_the_current_time():
    # given an offer campaign that started a minute ago, and another campaign's offer
    # past its deadline (its member did not agree to e-mail)
    member = factories.MemberFactory(consent_email=True)
    campaign = factories.OfferCampaignFactory(
        status="scheduled",
        starts_at=AT - dt.timedelta(minutes=1),
        ends_at=AT + dt.timedelta(days=3),
        channel="email",
    )
    burnt = factories.CampaignOfferFactory(
        campaign=factories.OfferCampaignFactory(status="finished"),
        valid_from=AT - dt.timedelta(days=2),
        valid_until=AT - dt.timedelta(seconds=1),
    )

    # when the beat sends both tasks (run here, in this process)
    with time_machine.travel(AT, tick=False):
        advanced = tasks.campaigns_advance_task.apply().get()
        expired = tasks.offers_expire_task.apply().get()

    # then
    assert advanced == NOTHING | {
        "activated": 1,
        "participants": 2,
        "offers": 2,
        "offer": 1,
        "referrals_looked_at": 0,
    }
    assert expired == 1
    burnt.refresh_from_db()
    assert burnt.status == "expired"
    assert Offer.objects.get(campaign=campaign, member=member).valid_until == campaign.ends_at
    assert list(Message.objects.values_list("member_id", "kind")) == [(member.pk, "offer")]


def test_a_step_that_fails_leaves_nothing_and_the_next_run_does_it(monkeypatch, caplog):
    # given two offer campaigns due to issue, and issuing failing for the first
    member = factories.MemberFactory(consent_email=True)
    broken, fine = (
        factories.OfferCampaignFactory(
            starts_at=AT - dt.timedelta(hours=1), ends_at=AT + dt.timedelta(days=3)
        )
        for _ in range(2)
    )
    real_issue = core.offers_issue_for

    def issue_or_fail(*, campaign, **kwargs):
        if campaign.pk == broken.pk:
            raise RuntimeError("the database went away")
        return real_issue(campaign=campaign, **kwargs)

    monkeypatch.setattr(core, "offers_issue_for", issue_or_fail)

    # when the beat runs
    with caplog.at_level(logging.ERROR, logger="campaigns.services.schedule"):
        failed = campaigns_advance(at=AT)

    # then the other campaign advanced, the failed one kept nothing of its step
    assert failed == NOTHING | {"participants": 1, "offers": 1, "offer": 1, "failed": 1}
    assert [(r.message, r.campaign) for r in caplog.records] == [
        ("campaign step failed", broken.pk)
    ]
    assert Campaign.objects.get(pk=fine.pk).issued_at == AT
    assert Campaign.objects.get(pk=broken.pk).issued_at is None
    assert not Participant.objects.filter(campaign=broken).exists()
    assert not Message.objects.filter(campaign=broken).exists()

    # when the next run comes with the fault gone
    monkeypatch.setattr(core, "offers_issue_for", real_issue)
    again = campaigns_advance(at=AT + dt.timedelta(minutes=1))

    # then it does the step, once
    assert again == NOTHING | {"participants": 1, "offers": 1, "offer": 1}
    assert list(Offer.objects.filter(campaign=broken).values_list("member_id", flat=True)) == [
        member.pk
    ]
    assert Campaign.objects.get(pk=broken.pk).issued_at == AT + dt.timedelta(minutes=1)
