"""Partner keys, the Celery schedule and results, and the date filter of the lists."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from loyalty.models import PartnerAPIKey
from members.models import Member
from tests import factories


def test_new_partner_key_is_shown_once_in_a_message(superuser_client, partner):
    # when a superuser creates a key for the partner
    response = superuser_client.post(
        reverse("admin:loyalty_partnerapikey_add"),
        {"partner": partner.pk, "name": "shop", "expiry_date_0": "", "expiry_date_1": ""},
        follow=True,
    )

    # then the page after saving shows the key in a message; it works and is stored hashed
    assert response.status_code == 200
    [key] = [
        match.group(1)
        for m in response.context["messages"]
        if (match := re.search(r"is: (\S+) —", str(m)))
    ]
    assert key in response.content.decode()
    api_key = PartnerAPIKey.objects.get_from_key(key)
    assert api_key.partner == partner
    assert api_key.name == "shop"
    assert key not in api_key.hashed_key

    # and the key page never shows it again
    page = superuser_client.get(reverse("admin:loyalty_partnerapikey_change", args=[api_key.pk]))
    assert key not in page.content.decode()
    assert api_key.prefix in page.content.decode()


def test_keys_are_revoked_from_the_list(superuser_client, partner, partner_key):
    # given a working key
    api_key = partner.api_keys.get()

    # when it is revoked with the list action
    response = superuser_client.post(
        reverse("admin:loyalty_partnerapikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [api_key.pk]},
    )

    # then it no longer works
    assert response.status_code == 302
    assert PartnerAPIKey.objects.is_valid(partner_key) is False
    api_key.refresh_from_db()
    assert api_key.revoked is True


def test_revoked_key_cannot_be_unrevoked(superuser_client, partner, partner_key):
    api_key = partner.api_keys.get()
    PartnerAPIKey.objects.filter(pk=api_key.pk).update(revoked=True)

    superuser_client.post(
        reverse("admin:loyalty_partnerapikey_change", args=[api_key.pk]),
        {"name": "again", "revoked": ""},
    )

    api_key.refresh_from_db()
    assert api_key.revoked is True
    assert api_key.name == "test"


@pytest.fixture
def periodic_task():
    crontab = CrontabSchedule.objects.create(minute="15", hour="3", timezone="Europe/Moscow")
    return PeriodicTask.objects.create(
        name="expire-test", task="members.tasks.points_expire_task", crontab=crontab
    )


def test_marketer_edits_the_schedule(marketer_client, periodic_task):
    # when the marketer pauses the expiry task
    url = reverse("admin:django_celery_beat_periodictask_change", args=[periodic_task.pk])
    page = marketer_client.get(url)
    response = marketer_client.post(
        url,
        {
            "name": periodic_task.name,
            "regtask": "",
            "task": periodic_task.task,
            "enabled": "",
            "description": "",
            "crontab": periodic_task.crontab_id,
            "args": "[]",
            "kwargs": "{}",
            "start_time_0": "",
            "start_time_1": "",
            "expire_seconds": "",
            "priority": "",
            "headers": "{}",
        },
    )

    # then
    assert page.status_code == 200
    assert response.status_code == 302
    periodic_task.refresh_from_db()
    assert periodic_task.enabled is False


def test_marketer_sees_failed_tasks(marketer_client):
    # given one failed and one successful task result
    TaskResult.objects.create(
        task_id="a", task_name="members.tasks.tier_review_task", status="FAILURE"
    )
    TaskResult.objects.create(
        task_id="b", task_name="members.tasks.points_expire_task", status="SUCCESS"
    )

    # when the results are filtered by status
    response = marketer_client.get(
        reverse("admin:django_celery_results_taskresult_changelist"), {"status": "FAILURE"}
    )

    # then
    assert response.status_code == 200
    assert [r.task_id for r in response.context["cl"].result_list] == ["a"]


def test_day_range_filter_includes_the_whole_last_day(marketer_client, tiers):
    # given members who joined late on 10 March, on 11 March, and early on 12 March
    def joined(day: int, hour: int, minute: int) -> Member:
        member = factories.MemberFactory(tier=tiers["Base"])
        at = dt.datetime(2026, 3, day, hour, minute, tzinfo=timezone.get_current_timezone())
        Member.objects.filter(pk=member.pk).update(created_at=at)
        return member

    joined(10, 23, 59)
    late = joined(11, 23, 30)
    early = joined(11, 0, 0)
    joined(12, 0, 0)

    # when the list is filtered on 11 March only
    response = marketer_client.get(
        reverse("admin:members_member_changelist"),
        {"created_at_from": "2026-03-11", "created_at_to": "2026-03-11"},
    )

    # then both members of that day are listed, and nobody else
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {late, early}
