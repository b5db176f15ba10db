"""Signed links: what they carry, and that an altered, forged or expired one is refused."""

import datetime as dt

import pytest
from django.core import signing

from messaging.errors import BadToken
from messaging.tokens import (
    survey_read,
    survey_token,
    survey_url,
    unsubscribe_read,
    unsubscribe_token,
    unsubscribe_url,
)

START = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def tampered(token: str, part: str) -> str:
    """The token with one character of its payload or of its signature changed."""
    index = 0 if part == "payload" else len(token) - 1
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


def test_an_unsubscribe_token_carries_the_member_and_channel():
    # given
    token = unsubscribe_token(member_id=42, channel="sms")

    # when
    read = unsubscribe_read(token)

    # then
    assert read == (42, "sms")


@pytest.mark.parametrize("part", ["payload", "signature"])
def test_an_altered_unsubscribe_token_is_refused(part):
    # given
    token = tampered(unsubscribe_token(member_id=42, channel="email"), part)

    # when
    with pytest.raises(BadToken) as caught:
        unsubscribe_read(token)

    # then
    assert caught.value.code == "bad_token"


def test_an_unsubscribe_token_signed_with_another_key_is_refused():
    # given the right payload and salt, but not this installation's secret key
    token = signing.dumps({"m": 42, "c": "email"}, salt="messaging.unsubscribe", key="x" * 50)

    # when
    with pytest.raises(BadToken) as caught:
        unsubscribe_read(token)

    # then
    assert caught.value.code == "bad_token"


def test_a_survey_token_is_no_unsubscribe_token_and_back():
    # given two tokens of the same id, signed for different purposes
    survey = survey_token(survey_id=42)
    unsubscribe = unsubscribe_token(member_id=42, channel="email")

    # when / then
    with pytest.raises(BadToken):
        unsubscribe_read(survey)
    with pytest.raises(BadToken):
        survey_read(unsubscribe)


@pytest.mark.parametrize("token", ["", "garbage", "a:b:c", "x" * 500])
def test_a_token_that_is_no_token_is_refused(token):
    with pytest.raises(BadToken):
        unsubscribe_read(token)
    with pytest.raises(BadToken):
        survey_read(token)


def test_an_unsubscribe_link_works_years_later(time_machine):
    # given a link in an old e-mail
    time_machine.move_to(START, tick=False)
    token = unsubscribe_token(member_id=42, channel="email")

    # when it is followed five years later
    time_machine.move_to(START + dt.timedelta(days=5 * 365), tick=False)
    read = unsubscribe_read(token)

    # then it still stops the next e-mail
    assert read == (42, "email")


def test_a_survey_link_lasts_its_days_and_not_a_second_more(time_machine, settings):
    # given
    settings.NPS_SURVEY_LINK_DAYS = 30
    time_machine.move_to(START, tick=False)
    token = survey_token(survey_id=42)

    # when / then on its last second it opens
    time_machine.move_to(START + dt.timedelta(days=30), tick=False)
    assert survey_read(token) == 42

    # and a second later it has expired
    time_machine.move_to(START + dt.timedelta(days=30, seconds=1), tick=False)
    with pytest.raises(BadToken) as caught:
        survey_read(token)
    assert caught.value.code == "token_expired"


def test_links_are_absolute_on_the_public_address(settings):
    # given
    settings.LOYALTY_PUBLIC_URL = "https://club.example.ru/"

    # when
    unsubscribe = unsubscribe_url(member_id=42, channel="email")
    survey = survey_url(survey_id=7)

    # then
    assert unsubscribe.startswith("https://club.example.ru/m/unsubscribe/")
    assert unsubscribe.endswith("/")
    assert unsubscribe_read(unsubscribe.split("/")[-2]) == (42, "email")
    assert survey.startswith("https://club.example.ru/m/survey/")
    assert survey_read(survey.split("/")[-2]) == 7
