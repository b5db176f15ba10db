"""The NPS page a survey link opens: 0–10 and a comment, in Russian; the first answer
stands; an expired, altered or foreign link is refused with a clear page."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from messaging.models import Survey
from messaging.tokens import survey_token, unsubscribe_token
from tests import factories

START = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def client():
    """A browser: CSRF is checked as in production."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def survey(member, time_machine):
    time_machine.move_to(START, tick=False)
    return factories.SurveyFactory(member=member, created_at=START)


def url(survey: Survey) -> str:
    return reverse("messaging:survey", args=[survey_token(survey_id=survey.pk)])


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def answer(client: Client, path: str, data: dict):
    """Open the page, then send the form as a browser does (with its CSRF token)."""
    page = client.get(path)
    return client.post(path, {**data, "csrfmiddlewaretoken": csrf_token(page.content.decode())})


def stored(survey: Survey) -> tuple:
    survey.refresh_from_db()
    return survey.score, survey.comment, survey.answered_at


def test_the_page_asks_for_a_score_and_a_comment_in_russian(client, survey):
    # when the member opens the link, whatever language their browser asks for
    response = client.get(url(survey), headers={"accept-language": "en-US,en;q=0.9"})

    # then the page is Russian, with 11 scores to choose from and a comment box
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="ru">' in html
    assert response["Content-Language"] == "ru"
    scores = re.findall(r'<input type="radio" name="score" value="(\d+)"', html)
    assert scores == [str(value) for value in range(11)]
    assert 'for="id_score_0"' in html  # each score is a labelled radio: keyboards can pick it
    assert '<textarea name="comment"' in html
    assert 'maxlength="2000"' in html
    assert 'for="id_comment"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    # and nothing is fetched from elsewhere
    assert "http://" not in html
    assert "https://" not in html
    assert stored(survey) == (None, "", None)


def test_the_page_speaks_the_members_language_of_messages(client, survey):
    # given a member who gets their messages in English
    survey.member.language = "en"
    survey.member.save(update_fields=["language"])

    # when
    response = client.get(url(survey))

    # then
    assert '<html lang="en">' in response.content.decode()


def test_an_answer_is_stored_and_thanked_for(client, survey, time_machine):
    # given
    path = url(survey)
    time_machine.move_to(START + dt.timedelta(hours=2), tick=False)

    # when the member picks 9 and says why
    response = answer(client, path, {"score": "9", "comment": "  Вежливые кассиры.  "})

    # then it is stored as given, at that moment
    assert response.status_code == 302
    assert response["Location"] == path
    assert stored(survey) == (9, "Вежливые кассиры.", START + dt.timedelta(hours=2))
    # and the page now thanks them instead of asking again
    thanks = client.get(path)
    assert thanks.status_code == 200
    assert "<form" not in thanks.content.decode()


def test_an_answer_without_comment_is_stored(client, survey):
    # when
    response = answer(client, url(survey), {"score": "0"})

    # then
    assert response.status_code == 302
    assert stored(survey)[:2] == (0, "")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"score": "11"}, id="11"),
        pytest.param({"score": "-1"}, id="-1"),
        pytest.param({"score": "x"}, id="x"),
        pytest.param({"score": "5.5"}, id="5.5"),
        pytest.param({"score": ""}, id="empty"),
        pytest.param({"comment": "Без оценки"}, id="missing"),
    ],
)
def test_an_invalid_score_is_refused_and_nothing_stored(client, survey, data):
    # when
    response = answer(client, url(survey), data)

    # then the form comes back with the error next to the scores, and what was typed
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_score_error"' in html
    assert 'aria-describedby="id_score_error"' in html
    assert response.context["form"].errors["score"]
    if "comment" in data:
        assert data["comment"] in html
    assert stored(survey) == (None, "", None)


def test_a_too_long_comment_is_refused_and_nothing_stored(client, survey):
    # when
    response = answer(client, url(survey), {"score": "8", "comment": "я" * 2001})

    # then
    assert response.status_code == 400
    assert 'id="id_comment_error"' in response.content.decode()
    assert stored(survey) == (None, "", None)


def test_a_second_answer_changes_nothing(client, survey, time_machine):
    # given the survey is open in two tabs, and answered in the first
    path = url(survey)
    second_tab = csrf_token(client.get(path).content.decode())
    answer(client, path, {"score": "9", "comment": "Отлично"})
    first = stored(survey)

    # when the second tab sends another answer a day later
    time_machine.move_to(START + dt.timedelta(days=1), tick=False)
    response = client.post(
        path, {"score": "2", "comment": "Передумал", "csrfmiddlewaretoken": second_tab}
    )

    # then the first answer stands, and the member sees the thanks again
    assert response.status_code == 200
    assert "<form" not in response.content.decode()
    assert stored(survey) == first == (9, "Отлично", START)


def test_an_invalid_post_to_an_answered_survey_still_thanks(client, survey):
    # given
    path = url(survey)
    answer(client, path, {"score": "9"})
    first = stored(survey)

    # when a stale tab sends rubbish (with the browser's CSRF token)
    token = client.cookies["csrftoken"].value
    response = client.post(path, {"score": "x", "csrfmiddlewaretoken": token})

    # then
    assert response.status_code == 200
    assert "<form" not in response.content.decode()
    assert stored(survey) == first


def test_an_expired_link_shows_a_clear_page_and_stores_nothing(
    client, survey, time_machine, settings
):
    # given a link past its life
    settings.NPS_SURVEY_LINK_DAYS = 30
    path = url(survey)
    page = client.get(path)
    time_machine.move_to(START + dt.timedelta(days=30, seconds=1), tick=False)

    # when the member opens it, or sends the form opened before
    opened = client.get(path)
    sent = client.post(
        path, {"score": "9", "csrfmiddlewaretoken": csrf_token(page.content.decode())}
    )

    # then both say the link has expired
    for response in (opened, sent):
        assert response.status_code == 400
        assert response.context["expired"] is True
        assert response.context["link_days"] == 30
        assert "<form" not in response.content.decode()
        assert '<html lang="ru">' in response.content.decode()
    assert stored(survey) == (None, "", None)


def test_a_link_on_its_last_day_still_works(client, survey, time_machine, settings):
    # given
    settings.NPS_SURVEY_LINK_DAYS = 30
    path = url(survey)
    time_machine.move_to(START + dt.timedelta(days=30), tick=False)

    # when
    response = answer(client, path, {"score": "10"})

    # then
    assert response.status_code == 302
    assert stored(survey)[0] == 10


def tampered(token: str, part: str) -> str:
    index = 0 if part == "payload" else len(token) - 1
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(
            lambda survey: tampered(survey_token(survey_id=survey.pk), "payload"), id="payload"
        ),
        pytest.param(
            lambda survey: tampered(survey_token(survey_id=survey.pk), "signature"),
            id="signature",
        ),
        pytest.param(
            lambda survey: unsubscribe_token(member_id=survey.pk, channel="email"),
            id="unsubscribe token",
        ),
        pytest.param(lambda survey: survey_token(survey_id=survey.pk + 10_000), id="no survey"),
    ],
)
def test_a_link_that_is_not_a_survey_link_is_refused(client, survey, make_token):
    # given
    path = reverse("messaging:survey", args=[make_token(survey)])

    # when
    opened = client.get(path)
    sent = Client().post(path, {"score": "9"})  # even without CSRF checks

    # then
    for response in (opened, sent):
        assert response.status_code == 400
        assert response.context["expired"] is False
        assert "<form" not in response.content.decode()
    assert stored(survey) == (None, "", None)


def test_an_answer_without_the_csrf_token_is_refused(client, survey):
    # given
    path = url(survey)
    client.get(path)

    # when a page elsewhere posts to the link
    response = client.post(path, {"score": "0", "comment": "spam"})

    # then
    assert response.status_code == 403
    assert stored(survey) == (None, "", None)
