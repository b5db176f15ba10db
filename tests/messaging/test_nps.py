"""NPS answers and figures: the answer stored once, the score computed exactly."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from members.models import Member
from messaging.errors import InvalidScore, SurveyAnswered
from messaging.models import Survey
from messaging.selectors import Nps, member_nps_latest, nps_for_period
from messaging.services import survey_answer
from tests import factories
from tests.messaging.conftest import T0

DAY = dt.timedelta(days=1)


def stored(survey: Survey) -> tuple:
    s = Survey.objects.get(pk=survey.pk)
    return (s.score, s.comment, s.answered_at)


def answered(member=None, *, score: int, at: dt.datetime) -> Survey:
    extra = {"member": member} if member is not None else {}
    return factories.SurveyFactory(score=score, answered_at=at, created_at=at - DAY, **extra)


# --- Answers -----------------------------------------------------------------------------


def test_answer_is_stored(member):
    # given
    survey = factories.SurveyFactory(member=member)

    # when
    with time_machine.travel(T0, tick=False):
        result = survey_answer(survey=survey, score=9, comment="  Быстро и вежливо.  ")

    # then
    assert stored(survey) == (9, "Быстро и вежливо.", T0)
    assert (result.score, result.comment, result.answered_at) == (9, "Быстро и вежливо.", T0)
    assert result.group == "promoter"


@pytest.mark.parametrize(("score", "expected"), [(0, 0), ("10", 10), (7, 7)])
def test_scores_at_the_edges_and_as_form_strings_are_taken(member, score, expected):
    # given
    survey = factories.SurveyFactory(member=member)

    # when
    survey_answer(survey=survey, score=score)

    # then
    assert stored(survey)[0] == expected


def test_a_long_comment_is_cut_to_its_limit(member):
    # given
    survey = factories.SurveyFactory(member=member)

    # when
    survey_answer(survey=survey, score=5, comment="я" * 2_500)

    # then
    assert stored(survey)[1] == "я" * 2_000


@pytest.mark.parametrize("score", [11, -1, "x", None, "", "9.5"])
def test_invalid_score_is_refused_and_nothing_is_stored(member, score):
    # given
    survey = factories.SurveyFactory(member=member)

    # when
    with pytest.raises(InvalidScore) as error:
        survey_answer(survey=survey, score=score, comment="Комментарий")

    # then
    assert error.value.code == "invalid_score"
    assert stored(survey) == (None, "", None)


def test_second_answer_is_refused_and_the_first_stands(member):
    # given
    survey = factories.SurveyFactory(member=member)
    with time_machine.travel(T0, tick=False):
        survey_answer(survey=survey, score=3, comment="Долго ждал")

    # when: another tab of the same page answers again later
    with time_machine.travel(T0 + DAY, tick=False), pytest.raises(SurveyAnswered) as error:
        survey_answer(survey=survey, score=10, comment="Всё отлично")

    # then
    assert error.value.code == "survey_answered"
    assert stored(survey) == (3, "Долго ждал", T0)


def test_a_stale_survey_object_cannot_answer_twice(member):
    # given: two requests loaded the survey before either answered
    first = factories.SurveyFactory(member=member)
    second = Survey.objects.get(pk=first.pk)
    survey_answer(survey=first, score=8)

    # when / then
    with pytest.raises(SurveyAnswered):
        survey_answer(survey=second, score=2)
    assert stored(first)[0] == 8


# --- NPS for a period -------------------------------------------------------------------


def test_nps_of_ten_known_answers():
    # given
    for i, score in enumerate([10, 9, 9, 8, 7, 6, 5, 3, 0, 10]):
        answered(score=score, at=T0 + dt.timedelta(hours=i))

    # when
    nps = nps_for_period(start=T0, end=T0 + DAY)

    # then
    assert nps == Nps(responses=10, promoters=4, passives=2, detractors=4)
    assert nps.score == Decimal("0.0")


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([10, 9, 0], Decimal("33.3")),
        ([0, 0, 10], Decimal("-33.3")),
        ([9, 9, 6], Decimal("33.3")),
        ([10, 7, 8], Decimal("33.3")),
        ([10, 10, 7], Decimal("66.7")),
        ([10] + [7] * 79, Decimal("1.3")),  # exactly 1.25: half up, not to even
        ([0] + [8] * 79, Decimal("-1.3")),  # exactly −1.25: half away from zero
        ([10, 10, 10], Decimal("100.0")),
        ([6, 0, 1], Decimal("-100.0")),
        ([7, 8], Decimal("0.0")),
    ],
    ids=["33.3", "-33.3", "9-9-6", "10-7-8", "66.7", "1.25", "-1.25", "100", "-100", "passives"],
)
def test_nps_is_rounded_half_up_to_one_decimal(scores, expected):
    # given
    for i, score in enumerate(scores):
        answered(score=score, at=T0 + dt.timedelta(minutes=i))

    # when
    nps = nps_for_period(start=T0, end=T0 + DAY)

    # then
    assert nps.responses == len(scores)
    assert nps.score == expected


def test_nps_counts_only_answers_given_in_the_period():
    # given: [start, end) with answers on and around both edges, and an open survey
    start, end = T0, T0 + 7 * DAY
    answered(score=10, at=start)  # counted
    answered(score=0, at=end - dt.timedelta(microseconds=1))  # counted
    answered(score=10, at=start - dt.timedelta(microseconds=1))  # before
    answered(score=0, at=end)  # after
    factories.SurveyFactory(created_at=start + DAY)  # asked, not answered

    # when
    nps = nps_for_period(start=start, end=end)

    # then
    assert nps == Nps(responses=2, promoters=1, passives=0, detractors=1)
    assert nps.score == Decimal("0.0")


def test_nps_without_answers_is_none():
    # given: an open survey only
    factories.SurveyFactory(created_at=T0)

    # when
    nps = nps_for_period(start=T0 - DAY, end=T0 + DAY)

    # then
    assert nps == Nps(responses=0, promoters=0, passives=0, detractors=0)
    assert nps.score is None


# --- The member's latest score ------------------------------------------------------------


def test_member_nps_latest_is_the_score_of_the_last_answer(tiers):
    # given
    changed, once, never, open_after = factories.MemberFactory.create_batch(4, tier=tiers["Base"])
    answered(changed, score=3, at=T0)
    answered(changed, score=9, at=T0 + 100 * DAY)
    answered(once, score=7, at=T0)
    factories.SurveyFactory(member=never, created_at=T0)
    answered(open_after, score=6, at=T0)
    factories.SurveyFactory(member=open_after, created_at=T0 + 100 * DAY)  # not answered

    # when
    latest = dict(Member.objects.annotate(nps=member_nps_latest()).values_list("pk", "nps"))

    # then
    assert latest == {changed.pk: 9, once.pk: 7, never.pk: None, open_after.pk: 6}


def test_member_nps_latest_filters_members_for_segments(tiers):
    # given
    promoter, detractor, silent = factories.MemberFactory.create_batch(3, tier=tiers["Base"])
    answered(promoter, score=2, at=T0)
    answered(promoter, score=10, at=T0 + DAY)
    answered(detractor, score=10, at=T0)
    answered(detractor, score=4, at=T0 + DAY)

    # when
    promoters = Member.objects.annotate(nps=member_nps_latest()).filter(nps__gte=9)
    detractors = Member.objects.annotate(nps=member_nps_latest()).filter(nps__lte=6)

    # then
    assert list(promoters.values_list("pk", flat=True)) == [promoter.pk]
    assert list(detractors.values_list("pk", flat=True)) == [detractor.pk]
    assert silent.pk not in set(promoters.union(detractors).values_list("pk", flat=True))
