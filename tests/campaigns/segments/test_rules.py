"""Each segment rule with members just inside and just outside its bounds, the rules
together (AND), and the segment as one query that INSERT … SELECT can take."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from campaigns.models import Participant, Segment
from campaigns.segments import (
    SegmentSpec,
    members_matching,
    segment_members,
    segment_summary,
    spec_summary,
)
from campaigns.services import core
from members.models import Member
from tests import factories
from tests.campaigns.segments.history import (
    AT,
    answer_make,
    member_make,
    msk,
    purchase_make,
)

pytestmark = pytest.mark.django_db


def matched(**rules) -> set[int]:
    return set(members_matching(SegmentSpec(**rules), at=AT).values_list("pk", flat=True))


def ids(*members: Member) -> set[int]:
    return {member.pk for member in members}


# --- Who --------------------------------------------------------------------------------


def test_tiers_match_members_on_any_of_them(tiers):
    # given
    base = member_make(tier=tiers["Base"])
    silver = member_make(tier=tiers["Silver"])
    gold = member_make(tier=tiers["Gold"])
    member_make(tier=tiers["Platinum"])

    # when
    chosen = matched(tier_ids=frozenset({tiers["Silver"].pk, tiers["Gold"].pk}))

    # then
    assert chosen == ids(silver, gold)
    assert base.pk not in chosen


def test_beneficiary_categories_match_members_of_any_of_them():
    # given
    pension = factories.BeneficiaryCategoryFactory(code="pension-seg")
    student = factories.BeneficiaryCategoryFactory(code="student-seg")
    other = factories.BeneficiaryCategoryFactory(code="other-seg")
    pensioner = member_make(beneficiary_category=pension)
    learner = member_make(beneficiary_category=student)
    member_make(beneficiary_category=other)
    member_make(beneficiary_category=None)

    # when
    chosen = matched(category_ids=frozenset({pension.pk, student.pk}))

    # then
    assert chosen == ids(pensioner, learner)


def test_stores_match_members_who_joined_or_bought_there():
    # given
    tverskaya = factories.StoreFactory(code="SEG-T")
    arbat = factories.StoreFactory(code="SEG-A")
    elsewhere = factories.StoreFactory(code="SEG-X")
    joined_there = member_make(joined_store=tverskaya)
    bought_there = member_make(joined_store=elsewhere)
    purchase_make(bought_there, at=msk(2025, 6, 1, 10), store=arbat)
    only_elsewhere = member_make(joined_store=elsewhere)
    purchase_make(only_elsewhere, at=msk(2025, 6, 1, 10), store=elsewhere)
    member_make(joined_store=None)

    # when
    chosen = matched(store_ids=frozenset({tverskaya.pk, arbat.pk}))

    # then
    assert chosen == ids(joined_there, bought_there)


def test_birthday_month_matches_members_born_in_that_month_of_any_year():
    # given
    first_of_march = member_make(birth_date=dt.date(1990, 3, 1))
    last_of_march = member_make(birth_date=dt.date(1975, 3, 31))
    member_make(birth_date=dt.date(1990, 2, 28))
    member_make(birth_date=dt.date(1990, 4, 1))
    member_make(birth_date=None)

    # when
    chosen = matched(birthday_month=3)

    # then
    assert chosen == ids(first_of_march, last_of_march)


def test_joined_dates_are_inclusive_moscow_days():
    # given: 10-20 January 2025 in Moscow (UTC+3)
    first_moment = member_make(joined=msk(2025, 1, 10, 0, 0))
    last_moment = member_make(joined=msk(2025, 1, 20, 23, 59, 59))
    day_before = member_make(joined=msk(2025, 1, 9, 23, 59, 59))
    day_after = member_make(joined=msk(2025, 1, 21, 0, 0))

    # when
    both = matched(joined_from=dt.date(2025, 1, 10), joined_until=dt.date(2025, 1, 20))
    from_only = matched(joined_from=dt.date(2025, 1, 10))
    until_only = matched(joined_until=dt.date(2025, 1, 20))

    # then
    assert both == ids(first_moment, last_moment)
    assert from_only == ids(first_moment, last_moment, day_after)
    assert until_only == ids(day_before, first_moment, last_moment)


@pytest.mark.parametrize("channel", ["email", "sms", "push"])
def test_consent_per_channel_given_not_given_or_any(channel):
    # given
    given = member_make(**{f"consent_{channel}": True})
    refused = member_make(**{f"consent_{channel}": False})

    # when
    with_consent = matched(**{f"consent_{channel}": True})
    without_consent = matched(**{f"consent_{channel}": False})
    anyone = matched(**{f"consent_{channel}": None})

    # then
    assert with_consent == ids(given)
    assert without_consent == ids(refused)
    assert anyone == ids(given, refused)


# --- Behaviour --------------------------------------------------------------------------


@pytest.fixture
def spenders() -> dict[str, Member]:
    """Total spend (after refunds) of 0, 1,999.99, 2,000, 5,000 and 5,000.01."""
    nothing = member_make()
    below = member_make()
    purchase_make(below, at=msk(2025, 1, 5, 10), spend="2500.00", refunded="500.01")
    at_min = member_make()
    purchase_make(at_min, at=msk(2025, 1, 5, 10), spend="1500.00")
    purchase_make(at_min, at=msk(2025, 2, 5, 10), spend="500.00")
    at_max = member_make()
    purchase_make(at_max, at=msk(2024, 5, 5, 10), spend="5000.00")
    above = member_make()
    purchase_make(above, at=msk(2025, 5, 5, 10), spend="3000.00")
    purchase_make(above, at=msk(2025, 5, 6, 10), spend="2000.01")
    return {"0": nothing, "1999.99": below, "2000": at_min, "5000": at_max, "5000.01": above}


def test_spend_bounds_are_inclusive_and_refunds_are_deducted(spenders):
    # given
    m = spenders

    # when
    from_2000 = matched(spend_min=Decimal("2000"))
    up_to_5000 = matched(spend_max=Decimal("5000"))
    between = matched(spend_min=Decimal("2000"), spend_max=Decimal("5000"))

    # then
    assert from_2000 == ids(m["2000"], m["5000"], m["5000.01"])
    assert up_to_5000 == ids(m["0"], m["1999.99"], m["2000"], m["5000"])
    assert between == ids(m["2000"], m["5000"])


def test_spend_from_zero_includes_members_who_never_bought(spenders):
    # when
    chosen = matched(spend_min=Decimal("0"), spend_max=Decimal("0"))

    # then
    assert chosen == ids(spenders["0"])


@pytest.fixture
def buyers() -> dict[str, Member]:
    """Purchases in the last 7 Moscow days before AT (9-15 June 2025)."""
    none = member_make()
    one = member_make()
    purchase_make(one, at=msk(2025, 6, 9, 0, 0))  # the window's first moment
    purchase_make(one, at=msk(2025, 6, 8, 23, 59, 59))  # a moment too early
    two = member_make()
    purchase_make(two, at=msk(2025, 6, 15, 11, 0))
    purchase_make(two, at=msk(2025, 6, 12, 11, 0), refunded="300.00")  # partly refunded
    purchase_make(two, at=msk(2025, 6, 10, 11, 0), refunded="1000.00", is_fully_refunded=True)
    three = member_make()
    for day in (9, 11, 13):
        purchase_make(three, at=msk(2025, 6, day, 18, 0))
    return {"0": none, "1": one, "2": two, "3": three}


def test_purchases_in_the_last_days_count_bounds_inclusive(buyers):
    # given
    b = buyers

    # when
    at_least_2 = matched(purchases_days=7, purchases_min=2)
    at_most_2 = matched(purchases_days=7, purchases_max=2)
    exactly_1 = matched(purchases_days=7, purchases_min=1, purchases_max=1)
    none = matched(purchases_days=7, purchases_max=0)

    # then
    assert at_least_2 == ids(b["2"], b["3"])
    assert at_most_2 == ids(b["0"], b["1"], b["2"])
    assert exactly_1 == ids(b["1"])
    assert none == ids(b["0"])


def test_a_longer_period_counts_the_earlier_purchase_too(buyers):
    # when: 8 days reach back to 8 June
    chosen = matched(purchases_days=8, purchases_min=2, purchases_max=2)

    # then
    assert chosen == ids(buyers["1"], buyers["2"])


@pytest.fixture
def idlers() -> dict[str, Member]:
    """Days since the last purchase at AT (15 June), in Moscow days."""
    bought_30_days_ago = member_make()
    purchase_make(bought_30_days_ago, at=msk(2025, 5, 16, 23, 59, 59))
    purchase_make(bought_30_days_ago, at=msk(2025, 1, 1, 10))
    bought_29_days_ago = member_make()
    purchase_make(bought_29_days_ago, at=msk(2025, 5, 17, 0, 0))
    purchase_make(bought_29_days_ago, at=msk(2025, 1, 1, 10))
    joined_30_days_ago = member_make(joined=msk(2025, 5, 16, 12, 0))
    joined_29_days_ago = member_make(joined=msk(2025, 5, 17, 0, 0))
    bought_10_days_ago = member_make()
    purchase_make(bought_10_days_ago, at=msk(2025, 6, 5, 0, 0))
    bought_11_days_ago = member_make()
    purchase_make(bought_11_days_ago, at=msk(2025, 6, 4, 23, 59, 59))
    bought_today_refunded = member_make()
    purchase_make(
        bought_today_refunded, at=msk(2025, 6, 15, 9), refunded="1000.00", is_fully_refunded=True
    )
    return {
        "30": bought_30_days_ago,
        "29": bought_29_days_ago,
        "joined 30": joined_30_days_ago,
        "joined 29": joined_29_days_ago,
        "10": bought_10_days_ago,
        "11": bought_11_days_ago,
        "0": bought_today_refunded,
    }


def test_days_since_last_purchase_at_least(idlers):
    # when
    chosen = matched(inactive_days_min=30)

    # then: a member who never bought counts from the day they joined
    assert chosen == ids(idlers["30"], idlers["joined 30"])


def test_days_since_last_purchase_at_most(idlers):
    # when
    chosen = matched(inactive_days_max=10)
    today = matched(inactive_days_max=0)

    # then: a fully refunded visit is still a visit
    assert chosen == ids(idlers["10"], idlers["0"])
    assert today == ids(idlers["0"])


def test_days_since_last_purchase_between(idlers):
    # when
    chosen = matched(inactive_days_min=11, inactive_days_max=29)

    # then
    assert chosen == ids(idlers["11"], idlers["29"], idlers["joined 29"])


def test_latest_nps_answer_counts_and_members_who_never_answered_do_not_match():
    # given
    promoter_now = member_make()
    answer_make(promoter_now, score=3, at=msk(2025, 1, 1, 10))
    answer_make(promoter_now, score=9, at=msk(2025, 5, 1, 10))
    answer_make(promoter_now, score=None, at=msk(2025, 6, 1, 10))  # asked, no answer
    promoter_ten = member_make()
    answer_make(promoter_ten, score=10, at=msk(2025, 5, 1, 10))
    passive = member_make()
    answer_make(passive, score=8, at=msk(2025, 5, 1, 10))
    detractor_now = member_make()
    answer_make(detractor_now, score=10, at=msk(2025, 1, 1, 10))
    answer_make(detractor_now, score=6, at=msk(2025, 5, 1, 10))
    never = member_make()
    answer_make(never, score=None, at=msk(2025, 5, 1, 10))
    member_make()

    # when
    promoters = matched(nps_min=9)
    detractors = matched(nps_max=6)
    passives = matched(nps_min=7, nps_max=8)
    anyone_who_answered = matched(nps_min=0)

    # then
    assert promoters == ids(promoter_now, promoter_ten)
    assert detractors == ids(detractor_now)
    assert passives == ids(passive)
    assert anyone_who_answered == ids(promoter_now, promoter_ten, passive, detractor_now)


# --- Together ---------------------------------------------------------------------------


def test_rules_combine_with_and(tiers):
    # given
    store = factories.StoreFactory(code="SEG-AND")
    everything = member_make(tier=tiers["Gold"], consent_sms=True, joined_store=store)
    purchase_make(everything, at=msk(2025, 6, 10, 10), spend="2500.00")
    answer_make(everything, score=10, at=msk(2025, 6, 11, 10))
    no_consent = member_make(tier=tiers["Gold"], consent_sms=False, joined_store=store)
    purchase_make(no_consent, at=msk(2025, 6, 10, 10), spend="2500.00")
    answer_make(no_consent, score=10, at=msk(2025, 6, 11, 10))
    low_spend = member_make(tier=tiers["Gold"], consent_sms=True, joined_store=store)
    purchase_make(low_spend, at=msk(2025, 6, 10, 10), spend="1500.00")
    answer_make(low_spend, score=10, at=msk(2025, 6, 11, 10))
    other_tier = member_make(tier=tiers["Silver"], consent_sms=True, joined_store=store)
    purchase_make(other_tier, at=msk(2025, 6, 10, 10), spend="2500.00")
    answer_make(other_tier, score=10, at=msk(2025, 6, 11, 10))
    no_answer = member_make(tier=tiers["Gold"], consent_sms=True, joined_store=store)
    purchase_make(no_answer, at=msk(2025, 6, 10, 10), spend="2500.00")

    # when
    chosen = matched(
        tier_ids=frozenset({tiers["Gold"].pk}),
        store_ids=frozenset({store.pk}),
        spend_min=Decimal("2000"),
        consent_sms=True,
        nps_min=9,
        purchases_min=1,
        inactive_days_max=7,
    )

    # then
    assert chosen == ids(everything)


def test_a_segment_without_rules_is_every_member():
    # given
    members = [member_make() for _ in range(3)]
    segment = factories.SegmentFactory(name="Все")

    # when
    chosen = set(segment_members(segment).values_list("pk", flat=True))

    # then
    assert chosen == ids(*members)
    assert SegmentSpec.of(segment).is_empty


def test_a_bound_that_excludes_nobody_is_no_rule():
    # given / when / then
    assert SegmentSpec(purchases_min=0, inactive_days_min=0, purchases_days=30).is_empty
    assert not SegmentSpec(purchases_max=0).is_empty
    assert not SegmentSpec(consent_push=False).is_empty


# --- The saved segment and the form's data ----------------------------------------------


@pytest.fixture
def full_segment(tiers) -> Segment:
    store = factories.StoreFactory(code="SEG-FULL", name="Тверская")
    category = factories.BeneficiaryCategoryFactory(code="full-seg", name="Пенсионеры")
    segment = factories.SegmentFactory(
        name="Всё сразу",
        spend_min=Decimal("2000.00"),
        spend_max=Decimal("90000.00"),
        purchases_days=30,
        purchases_min=1,
        purchases_max=20,
        inactive_days_min=1,
        inactive_days_max=60,
        birthday_month=6,
        consent_email=True,
        consent_sms=False,
        consent_push=None,
        nps_min=7,
        nps_max=10,
        joined_from=dt.date(2020, 1, 1),
        joined_until=dt.date(2025, 6, 1),
    )
    segment.tiers.set([tiers["Silver"], tiers["Gold"]])
    segment.beneficiary_categories.set([category])
    segment.stores.set([store])
    return segment


def test_spec_of_form_data_equals_spec_of_the_saved_segment(full_segment, tiers):
    # given: what the admin form's cleaned_data holds (querysets in the M2M fields)
    data = {
        "name": "Всё сразу",
        "description": "",
        "tiers": full_segment.tiers.all(),
        "beneficiary_categories": full_segment.beneficiary_categories.all(),
        "stores": full_segment.stores.all(),
        **{
            name: getattr(full_segment, name)
            for name in (
                "spend_min",
                "spend_max",
                "purchases_days",
                "purchases_min",
                "purchases_max",
                "inactive_days_min",
                "inactive_days_max",
                "birthday_month",
                "consent_email",
                "consent_sms",
                "consent_push",
                "nps_min",
                "nps_max",
                "joined_from",
                "joined_until",
            )
        },
    }

    # when
    from_data = SegmentSpec.from_data(data)
    saved = SegmentSpec.of(full_segment)
    prefetched = SegmentSpec.of(
        Segment.objects.prefetch_related("tiers", "beneficiary_categories", "stores").get(
            pk=full_segment.pk
        )
    )

    # then
    assert from_data == saved == prefetched
    assert saved.tier_ids == {tiers["Silver"].pk, tiers["Gold"].pk}
    assert saved.spend_min == Decimal("2000.00")
    assert saved.consent_push is None


def test_spec_of_empty_form_data_is_empty():
    # when
    spec = SegmentSpec.from_data({"name": "x", "tiers": [], "purchases_days": None})

    # then
    assert spec == SegmentSpec()
    assert spec.is_empty


def test_the_saved_rules_are_read_in_one_query(full_segment):
    # given
    segment = Segment.objects.get(pk=full_segment.pk)

    # when
    with CaptureQueriesContext(connection) as queries:
        spec = SegmentSpec.of(segment)

    # then
    assert len(queries) == 1
    assert len(spec.tier_ids) == 2
    assert len(spec.store_ids) == 1
    assert len(spec.category_ids) == 1


@pytest.mark.parametrize("rules", ["none", "all"])
def test_counting_members_is_one_query_whatever_the_rules(full_segment, rules):
    # given
    spec = SegmentSpec() if rules == "none" else SegmentSpec.of(full_segment)
    member_make()

    # when
    with CaptureQueriesContext(connection) as queries:
        count = members_matching(spec, at=AT).count()

    # then
    assert len(queries) == 1
    assert count == (1 if rules == "none" else 0)


def test_only_the_rules_set_add_subqueries():
    # given
    spec = SegmentSpec(consent_sms=True, birthday_month=6)

    # when
    sql = str(members_matching(spec, at=AT).query).lower()

    # then
    assert "members_purchase" not in sql
    assert "messaging_survey" not in sql
    assert "select" not in sql.split("from", 1)[1]


# --- In words ---------------------------------------------------------------------------


def test_every_rule_in_words(full_segment):
    # given
    segment = Segment.objects.prefetch_related("tiers", "beneficiary_categories", "stores").get(
        pk=full_segment.pk
    )

    # when
    with translation.override("en"), CaptureQueriesContext(connection) as queries:
        text = segment_summary(segment)

    # then
    assert text == (
        "Серебряный, Золотой · Пенсионеры · stores: Тверская · birthday month: June"
        " · joined 01/01/2020–06/01/2025 · spend 2,000–90,000 ₽"
        " · purchases in 30 days: 1–20 · days since last purchase: 1–60"
        " · e-mail consent · no SMS consent · latest NPS 7–10"
    )
    assert len(queries) == 0


@pytest.mark.parametrize(
    ("rules", "text"),
    [
        ({}, "All members"),
        ({"purchases_min": 0, "inactive_days_min": 0}, "All members"),
        ({"spend_min": Decimal("2000")}, "Spend ≥ 2,000 ₽"),
        ({"spend_max": Decimal("1500.50")}, "Spend ≤ 1,500.50 ₽"),
        ({"purchases_days": 1, "purchases_max": 0}, "Purchases in 1 day: ≤ 0"),
        ({"purchases_min": 3, "purchases_max": 3}, "Purchases in 90 days: 3"),
        ({"inactive_days_min": 90}, "Days since last purchase: ≥ 90"),
        ({"consent_push": True, "consent_email": False}, "No e-mail consent · push consent"),
        ({"nps_max": 6}, "Latest NPS ≤ 6"),
        ({"joined_from": dt.date(2025, 3, 1)}, "Joined ≥ 03/01/2025"),
    ],
)
def test_rules_in_words(rules, text):
    # when
    with translation.override("en"):
        summary = spec_summary(SegmentSpec(**rules), names={})

    # then
    assert summary == text


# --- Inside INSERT … SELECT -------------------------------------------------------------


def test_participants_freeze_takes_the_segment_as_its_select(tiers):
    # given: a segment whose rules use every kind of subquery
    store = factories.StoreFactory(code="SEG-INS")
    segment = factories.SegmentFactory(
        name="Лояльные",
        spend_min=Decimal("1000"),
        purchases_days=30,
        purchases_min=1,
        inactive_days_max=30,
        nps_min=9,
        consent_email=True,
    )
    segment.stores.set([store])
    segment.tiers.set([tiers["Silver"]])
    wanted = []
    for index in range(3):
        member = member_make(tier=tiers["Silver"], consent_email=True)
        purchase_make(member, at=msk(2025, 6, 1 + index, 10), spend="1500.00", store=store)
        answer_make(member, score=10, at=msk(2025, 6, 2 + index, 10))
        wanted.append(member)
    unhappy = member_make(tier=tiers["Silver"], consent_email=True)
    purchase_make(unhappy, at=msk(2025, 6, 1, 10), spend="1500.00", store=store)
    answer_make(unhappy, score=5, at=msk(2025, 6, 2, 10))
    campaign = factories.OfferCampaignFactory(segment=segment)
    members = members_matching(SegmentSpec.of(segment), at=AT)

    # when
    added = core.participants_freeze(campaign=campaign, members=members, at=AT)

    # then
    assert added == 3
    assert set(
        Participant.objects.filter(campaign=campaign).values_list("member_id", flat=True)
    ) == ids(*wanted)


def test_participants_freeze_with_segment_members_of_an_empty_segment_takes_everyone():
    # given
    members = [member_make() for _ in range(2)]
    campaign = factories.OfferCampaignFactory(segment=factories.SegmentFactory(name="Все-2"))

    # when
    added = core.participants_freeze(
        campaign=campaign, members=segment_members(campaign.segment), at=AT
    )

    # then
    assert added == 2
    assert set(
        Participant.objects.filter(campaign=campaign).values_list("member_id", flat=True)
    ) == ids(*members)


def test_periods_past_a_hundred_years_mean_ever():
    # given: a member who joined and never bought
    member = factories.MemberFactory()

    # when: the service is asked with periods admin would refuse
    matched = members_matching(SegmentSpec(inactive_days_max=1_000_000, purchases_max=0))

    # then
    assert list(matched.values_list("pk", flat=True)) == [member.pk]
