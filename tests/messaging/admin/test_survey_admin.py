"""NPS surveys in admin: the NPS of a period above the list, exact on known answers;
filters by answer and group; the member page's latest score and push devices."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests import factories

CHANGELIST = "admin:messaging_survey_changelist"


def _answered(score: int, *, days_ago: int = 1, member=None, comment: str = ""):
    at = timezone.now() - dt.timedelta(days=days_ago)
    return factories.SurveyFactory(
        member=member or factories.MemberFactory(),
        created_at=at - dt.timedelta(days=1),
        score=score,
        answered_at=at,
        comment=comment,
    )


def _nps(response) -> tuple:
    nps = response.context["nps"]
    return nps.responses, nps.promoters, nps.passives, nps.detractors, nps.score


@pytest.fixture
def answers():
    """Last 30 days: 10, 10, 9, 8, 7, 6, 0 and one unanswered survey; 45 days ago: 0, 0."""
    recent = [_answered(score) for score in (10, 10, 9, 8, 7, 6, 0)]
    old = [_answered(0, days_ago=45) for _ in range(2)]
    unanswered = factories.SurveyFactory()
    return {"recent": recent, "old": old, "unanswered": unanswered}


def test_nps_of_the_last_30_days_above_the_list(marketer_client, answers):
    # when
    response = marketer_client.get(reverse(CHANGELIST))

    # then 3 promoters, 2 passives, 2 detractors of 7: (3 − 2) / 7 = 14.3
    assert _nps(response) == (7, 3, 2, 2, Decimal("14.3"))
    assert response.context["nps_is_chosen"] is False
    content = response.content.decode()
    assert 'data-nps="score">14.3<' in content
    assert "NPS of the last 30 days" in content


def test_nps_of_the_days_chosen_in_the_answered_filter(marketer_client, answers):
    # given the days 50 to 40 days ago
    today = timezone.localdate()
    params = {
        "answered_at_from": (today - dt.timedelta(days=50)).isoformat(),
        "answered_at_to": (today - dt.timedelta(days=40)).isoformat(),
    }

    # when
    response = marketer_client.get(reverse(CHANGELIST), params)

    # then only the two old zeros count, and only they are listed
    assert _nps(response) == (2, 0, 0, 2, Decimal("-100.0"))
    assert {s.pk for s in response.context["cl"].result_list} == {s.pk for s in answers["old"]}


def test_nps_from_a_first_day_only_runs_until_today(marketer_client, answers):
    today = timezone.localdate()
    params = {"answered_at_from": (today - dt.timedelta(days=60)).isoformat()}

    response = marketer_client.get(reverse(CHANGELIST), params)

    # 3 promoters, 2 passives, 4 detractors of 9: −1/9 = −11.1
    assert _nps(response) == (9, 3, 2, 4, Decimal("-11.1"))


def test_nps_without_answers_shows_a_dash(marketer_client):
    response = marketer_client.get(reverse(CHANGELIST))

    assert _nps(response) == (0, 0, 0, 0, None)
    assert 'data-nps="score">—<' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "scores"),
    [
        ({"answered": "yes"}, [10, 10, 9, 8, 7, 6, 0, 0, 0]),
        ({"answered": "no"}, [None]),
        ({"group": "promoter"}, [10, 10, 9]),
        ({"group": "passive"}, [8, 7]),
        ({"group": "detractor"}, [6, 0, 0, 0]),
    ],
)
def test_survey_filters(marketer_client, answers, params, scores):
    response = marketer_client.get(reverse(CHANGELIST), params)

    listed = sorted(
        (s.score for s in response.context["cl"].result_list),
        key=lambda s: -1 if s is None else s,
        reverse=True,
    )
    assert listed == sorted(scores, key=lambda s: -1 if s is None else s, reverse=True)


def test_survey_search_by_card_number(marketer_client, member, answers):
    mine = _answered(9, member=member, comment="Очень вежливый кассир")

    response = marketer_client.get(reverse(CHANGELIST), {"q": member.card_number})

    assert [s.pk for s in response.context["cl"].result_list] == [mine.pk]
    assert "Очень вежливый кассир" in response.content.decode()


def test_survey_list_costs_the_same_queries_for_10_and_50_surveys(
    marketer_client, django_assert_num_queries
):
    # given 10 answered surveys
    url = reverse(CHANGELIST)
    for score in range(10):
        _answered(score)
    marketer_client.get(url)  # warms per-process caches
    with CaptureQueriesContext(connection) as ten:
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 10

    # when there are 50
    for score in range(40):
        _answered(score % 11)

    # then
    with django_assert_num_queries(len(ten.captured_queries)):
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 50


def test_push_device_list_and_search(marketer_client, member):
    # given
    mine = member.push_devices.create(token="fcm-token-abc", platform="android")
    factories.MemberFactory().push_devices.create(token="apns-token-xyz", platform="ios")
    url = reverse("admin:messaging_pushdevice_changelist")

    # when
    by_token = marketer_client.get(url, {"q": "fcm-token-abc"})
    by_card = marketer_client.get(url, {"q": member.card_number})
    by_part = marketer_client.get(url, {"q": "fcm-token"})

    # then
    assert [d.pk for d in by_token.context["cl"].result_list] == [mine.pk]
    assert [d.pk for d in by_card.context["cl"].result_list] == [mine.pk]
    assert list(by_part.context["cl"].result_list) == []


# --- the member page ----------------------------------------------------------------------


def test_member_page_shows_the_latest_nps_score_and_push_devices(marketer_client, member):
    # given two answers, the later one 3, and a device
    _answered(9, days_ago=20, member=member)
    _answered(3, days_ago=2, member=member)
    factories.SurveyFactory(member=member)  # sent since, not answered
    member.push_devices.create(token="fcm-token-abc", platform="android")

    # when
    response = marketer_client.get(reverse("admin:members_member_change", args=[member.pk]))

    # then
    assert response.status_code == 200
    assert response.context["original"].nps_latest == 3
    content = response.content.decode()
    assert "Latest NPS score" in content
    assert "fcm-token-abc" in content


def test_member_page_without_answers_shows_no_score(marketer_client, member):
    response = marketer_client.get(reverse("admin:members_member_change", args=[member.pk]))

    assert response.context["original"].nps_latest is None
