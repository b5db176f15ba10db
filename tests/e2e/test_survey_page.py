import re

import pytest
from playwright.sync_api import Page, expect

from messaging.models import Survey
from messaging.tokens import survey_token
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_member_answers_the_survey_on_a_phone(page: Page, live_server, demo_member):
    # given a survey sent to the member after a purchase, opened on a phone
    survey = factories.SurveyFactory(member=demo_member)
    path = f"/m/survey/{survey_token(survey_id=survey.pk)}/"
    page.set_viewport_size({"width": 375, "height": 740})
    requests = []
    page.on("request", lambda request: requests.append(request.url))

    # when the member opens the link
    page.goto(live_server.url + path)

    # then the page is Russian and asks for a score from 0 to 10
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    scores = page.get_by_role("radio")
    expect(scores).to_have_count(11)
    # and fits the phone's screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # when they tap 9, change their mind with the keyboard to 8, and say why
    page.locator("label[for=id_score_9]").click()
    expect(page.locator("#id_score_9")).to_be_checked()
    page.locator("#id_score_9").press("ArrowLeft")
    expect(page.locator("#id_score_8")).to_be_checked()
    page.locator("#id_comment").fill("Вежливые кассиры, но очередь.")
    page.screenshot(path="/tmp/survey.png", full_page=True)
    page.locator("button[type=submit]").click()

    # then they see the thanks, on the same link
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.locator("form")).to_have_count(0)
    expect(page.locator("h1")).to_be_visible()
    page.screenshot(path="/tmp/survey-thanks.png", full_page=True)
    # and the answer is stored
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (8, "Вежливые кассиры, но очередь.")
    assert survey.answered_at is not None
    # and nothing was fetched from anywhere but the site
    assert requests
    assert all(url.startswith(live_server.url) for url in requests)

    # when they open the link again
    page.goto(live_server.url + path)

    # then the first answer stands and no form is offered
    expect(page.locator("form")).to_have_count(0)
    assert Survey.objects.get(pk=survey.pk).score == 8
