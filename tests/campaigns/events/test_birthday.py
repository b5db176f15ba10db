"""Birthday end to end (PRODUCT.md mechanic 10): a greeting and a gift some days before
the birthday, valid around it; once a year; no gift within 30 days of a birth date
change; Feb 29 celebrated on Feb 28 in other years."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from campaigns.models import Offer, Participant
from campaigns.services import core
from campaigns.services.events import birthday_gifts_issue
from campaigns.tasks import birthday_gifts_issue_task
from members.services.enrollment import member_details_update
from messaging.models import Message
from tests import factories
from tests.campaigns.events.conftest import ACTOR, T0, buy, consent, held_out_member, live, words

pytestmark = pytest.mark.django_db

MSK = dt.timezone(dt.timedelta(hours=3))


def born(day: dt.date, *, tier=None, **kwargs):
    """A member born on `day`, who consented to e-mail."""
    extra = {"tier": tier} if tier is not None else {}
    return consent(factories.MemberFactory(birth_date=day, **extra, **kwargs))


def greeted(campaign) -> list[tuple]:
    """(member id, "birthday-<year>", context has a gift) of the campaign's birthday
    messages, whose keys are "birthday-<campaign>-<year>"."""
    messages = list(Message.objects.filter(campaign=campaign, kind="birthday"))
    prefix = f"birthday-{campaign.pk}-"
    assert all(m.event_key.startswith(prefix) for m in messages)
    return sorted(
        (m.member_id, "birthday-" + m.event_key.removeprefix(prefix), "offer" in m.context)
        for m in messages
    )


def gifts(campaign) -> list[tuple]:
    return sorted(
        Offer.objects.filter(campaign=campaign).values_list("member_id", "event_key", "status")
    )


def test_greeting_and_gift_go_lead_days_before_the_birthday(birthday_campaign, tiers):
    # given: on 10 March, with 3 days ahead, members born on 13 March are greeted
    due = born(dt.date(1990, 3, 13))
    later = born(dt.date(1985, 3, 14))
    passed = born(dt.date(1992, 3, 9))
    no_date = consent(factories.MemberFactory(birth_date=None))

    # when
    issued = birthday_gifts_issue(at=T0)

    # then
    assert issued == 1
    offer = Offer.objects.get(campaign=birthday_campaign)
    assert (offer.member, offer.event_key, offer.reward_kind, offer.reward_value) == (
        due,
        "2026",
        "fixed",
        Decimal("500.00"),
    )
    # valid from the greeting until the end of the third day after the birthday
    assert offer.valid_from == T0
    assert offer.valid_until == dt.datetime(2026, 3, 17, 0, 0, tzinfo=MSK)
    [message] = Message.objects.filter(kind="birthday")
    assert (message.member, message.channel, message.event_key, message.campaign) == (
        due,
        "email",
        f"birthday-{birthday_campaign.pk}-2026",
        birthday_campaign,
    )
    assert message.context == {
        "offer": offer.title,
        "amount": words("fixed", 500),
        "deadline": "2026-03-16",
    }
    assert not Message.objects.filter(member__in=[later, passed, no_date]).exists()

    # when the next day's run comes
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        issued_next = birthday_gifts_issue()

    # then the member born on 14 March is greeted, the one of 13 March not again
    assert issued_next == 1
    assert gifts(birthday_campaign) == [
        (due.pk, "2026", "active"),
        (later.pk, "2026", "active"),
    ]
    assert greeted(birthday_campaign) == [
        (due.pk, "birthday-2026", True),
        (later.pk, "birthday-2026", True),
    ]


def test_run_twice_gives_and_greets_once_then_again_next_year(birthday_campaign):
    # given
    member = born(dt.date(1990, 3, 13))

    # when the beat fires twice, and again a year later
    first = birthday_gifts_issue(at=T0)
    second = birthday_gifts_issue(at=T0 + dt.timedelta(minutes=1))
    next_year = birthday_gifts_issue(at=dt.datetime(2027, 3, 10, 6, 0, tzinfo=dt.UTC))

    # then
    assert (first, second, next_year) == (1, 0, 1)
    assert gifts(birthday_campaign) == [
        (member.pk, "2026", "active"),
        (member.pk, "2027", "active"),
    ]
    assert greeted(birthday_campaign) == [
        (member.pk, "birthday-2026", True),
        (member.pk, "birthday-2027", True),
    ]


def test_two_birthday_campaigns_each_greet_once(birthday_campaign):
    # given: a second birthday campaign, greeting only
    member = born(dt.date(1990, 3, 13))
    cards = live(name="Открытка", kind="birthday", lead_days=3)

    # when
    birthday_gifts_issue(at=T0)
    birthday_gifts_issue(at=T0 + dt.timedelta(minutes=1))

    # then: neither greeting swallows the other
    assert greeted(birthday_campaign) == [(member.pk, "birthday-2026", True)]
    assert greeted(cards) == [(member.pk, "birthday-2026", False)]


def test_a_missed_beat_catches_up_while_the_birthday_is_ahead(birthday_campaign):
    # given the beat did not run on 8 and 9 March
    two_days_late = born(dt.date(1990, 3, 11))
    today = born(dt.date(1990, 3, 10))
    yesterday = born(dt.date(1990, 3, 9))

    # when it runs on 10 March
    birthday_gifts_issue(at=T0)

    # then those whose birthday is still to come (or today) are greeted with the gift
    assert gifts(birthday_campaign) == [
        (two_days_late.pk, "2026", "active"),
        (today.pk, "2026", "active"),
    ]
    assert Offer.objects.get(member=today).valid_until == dt.datetime(2026, 3, 14, tzinfo=MSK)
    assert not Message.objects.filter(member=yesterday).exists()


@pytest.mark.parametrize(("days_ago", "gets_gift"), [(29, False), (30, True), (31, True)])
def test_no_gift_within_30_days_of_a_birth_date_change(birthday_campaign, days_ago, gets_gift):
    # given a member who changed the birth date to 13 March some days ago (admin edit)
    member = born(dt.date(1990, 6, 1))
    with time_machine.travel(T0 - dt.timedelta(days=days_ago), tick=False):
        member_details_update(
            member=member, changes={"birth_date": dt.date(1990, 3, 13)}, actor=ACTOR
        )
    member.refresh_from_db()
    assert member.birth_date_changed_at == T0 - dt.timedelta(days=days_ago)

    # when
    issued = birthday_gifts_issue(at=T0)

    # then the greeting goes in either case, the gift only after 30 days
    assert issued == int(gets_gift)
    assert gifts(birthday_campaign) == ([(member.pk, "2026", "active")] if gets_gift else [])
    assert greeted(birthday_campaign) == [(member.pk, "birthday-2026", gets_gift)]
    [message] = Message.objects.filter(member=member)
    assert message.context == (
        {"offer": core.offer_title(birthday_campaign), "amount": words("fixed", 500),
         "deadline": "2026-03-16"}
        if gets_gift
        else {}
    )  # fmt: skip


def test_the_30_day_rule_is_decided_by_the_day_the_greeting_fell_due(birthday_campaign):
    # given a change 29 days before the greeting was due; the run comes a day late
    member = born(dt.date(1990, 6, 1))
    with time_machine.travel(T0 - dt.timedelta(days=29), tick=False):
        member_details_update(
            member=member, changes={"birth_date": dt.date(1990, 3, 13)}, actor=ACTOR
        )

    # when the first run, and a second one, come when 30 days have passed
    birthday_gifts_issue(at=T0 + dt.timedelta(days=1))
    birthday_gifts_issue(at=T0 + dt.timedelta(days=2))

    # then the greeting without a gift, as on time, and no silent gift later
    assert gifts(birthday_campaign) == []
    assert greeted(birthday_campaign) == [(member.pk, "birthday-2026", False)]


def test_feb_29_is_celebrated_on_feb_28_in_a_common_year(birthday_campaign):
    # given
    leapling = born(dt.date(2000, 2, 29))
    feb_28 = born(dt.date(1990, 2, 28))
    mar_1 = born(dt.date(1990, 3, 1))

    # when: 25 February 2027 (common year), the 28th is 3 days ahead
    birthday_gifts_issue(at=dt.datetime(2027, 2, 25, 6, 0, tzinfo=dt.UTC))

    # then
    assert gifts(birthday_campaign) == [
        (leapling.pk, "2027", "active"),
        (feb_28.pk, "2027", "active"),
    ]
    assert Offer.objects.get(member=leapling).valid_until == dt.datetime(2027, 3, 4, tzinfo=MSK)
    assert not Offer.objects.filter(member=mar_1).exists()


def test_feb_29_is_celebrated_on_feb_29_in_a_leap_year(birthday_campaign):
    # given
    leapling = born(dt.date(2000, 2, 29))
    feb_28 = born(dt.date(1990, 2, 28))

    # when: 25 February 2028 (leap year), the 28th is 3 days ahead
    birthday_gifts_issue(at=dt.datetime(2028, 2, 25, 6, 0, tzinfo=dt.UTC))
    only_feb_28 = gifts(birthday_campaign)
    birthday_gifts_issue(at=dt.datetime(2028, 2, 26, 6, 0, tzinfo=dt.UTC))

    # then
    assert only_feb_28 == [(feb_28.pk, "2028", "active")]
    assert gifts(birthday_campaign) == [
        (leapling.pk, "2028", "active"),
        (feb_28.pk, "2028", "active"),
    ]


def test_holdout_gets_nothing_and_no_consent_gets_the_gift_silently(birthday_campaign, tiers):
    # given
    birthday_campaign.holdout_percent = Decimal("50")
    birthday_campaign.save(update_fields=["holdout_percent"])
    held = held_out_member(birthday_campaign, tier=tiers["Base"], birth_date=None)
    silent = factories.MemberFactory(birth_date=None)
    while core.is_holdout(birthday_campaign, silent.pk):
        silent = factories.MemberFactory(birth_date=None)
    for member, day in ((held, dt.date(1990, 3, 13)), (silent, dt.date(1991, 3, 13))):
        member.birth_date = day
        member.save(update_fields=["birth_date"])

    # when
    birthday_gifts_issue(at=T0)

    # then
    assert gifts(birthday_campaign) == [(silent.pk, "2026", "active")]
    assert greeted(birthday_campaign) == []
    assert dict(
        Participant.objects.filter(campaign=birthday_campaign).values_list("member", "is_holdout")
    ) == {held.pk: True, silent.pk: False}


def test_greeting_only_campaign_sends_no_gift():
    # given a birthday campaign without a reward
    campaign = live(name="Открытка", kind="birthday", lead_days=0)
    member = born(dt.date(1990, 3, 10))

    # when
    issued = birthday_gifts_issue(at=T0)

    # then
    assert issued == 0
    assert gifts(campaign) == []
    assert greeted(campaign) == [(member.pk, "birthday-2026", False)]


def test_the_gift_pays_part_of_a_purchase_in_its_window_only(birthday_campaign, store):
    # given a 500 ₽ gift for a birthday on 13 March, valid until the end of 16 March
    member = born(dt.date(1990, 3, 13))
    birthday_gifts_issue(at=T0)
    offer = Offer.objects.get(member=member)

    # when the member buys on the birthday
    with time_machine.travel(dt.datetime(2026, 3, 13, 15, 0, tzinfo=MSK), tick=False):
        purchase = buy(member, store, "2000.00").purchase

    # then
    assert purchase.code_discount == Decimal("500.00")
    offer.refresh_from_db()
    assert (offer.status, offer.purchase) == ("used", purchase)


def test_the_gift_burns_at_midnight_after_its_last_day(birthday_campaign, store):
    # given
    member = born(dt.date(1990, 3, 13))
    birthday_gifts_issue(at=T0)

    # when
    with time_machine.travel(dt.datetime(2026, 3, 17, 0, 0, tzinfo=MSK), tick=False):
        purchase = buy(member, store, "2000.00").purchase

    # then
    assert purchase.code_discount == Decimal("0.00")
    assert Offer.objects.get(member=member).status == "active"  # burnt by the expiry task


def test_a_frozen_segment_greets_its_participants_only(birthday_campaign, tiers):
    # given a campaign that froze its segment at start: only `inside` is a participant
    birthday_campaign.is_segment_frozen = True
    birthday_campaign.save(update_fields=["is_segment_frozen"])
    inside = born(dt.date(1990, 3, 13))
    outside = born(dt.date(1991, 3, 13))
    Participant.objects.create(campaign=birthday_campaign, member=inside, created_at=T0)

    # when
    birthday_gifts_issue(at=T0)

    # then
    assert gifts(birthday_campaign) == [(inside.pk, "2026", "active")]
    assert not Message.objects.filter(member=outside).exists()


def test_paused_campaign_greets_nobody(birthday_campaign):
    # given
    born(dt.date(1990, 3, 13))
    birthday_campaign.status = "paused"
    birthday_campaign.save(update_fields=["status"])

    # when
    issued = birthday_gifts_issue(at=T0)

    # then
    assert issued == 0
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_give_and_greet_once():
    # given 30 members with a birthday in 3 days
    campaign = live(name="С днём рождения", kind="birthday", reward_kind="points", reward_value=300)
    members = [born(dt.date(1980 + n, 3, 13)) for n in range(30)]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(birthday_gifts_issue(at=T0))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then
    assert errors == []
    assert sorted(results) == [0, 30]
    assert len(gifts(campaign)) == 30
    assert greeted(campaign) == sorted((m.pk, "birthday-2026", True) for m in members)


def test_the_beat_task_greets_at_its_own_time(birthday_campaign):
    # given
    member = born(dt.date(1990, 3, 13))

    # when the 09:00 beat runs the task on 10 March
    with time_machine.travel(T0, tick=False):
        issued = birthday_gifts_issue_task()

    # then
    assert issued == 1
    assert gifts(birthday_campaign) == [(member.pk, "2026", "active")]
    assert greeted(birthday_campaign) == [(member.pk, "birthday-2026", True)]
