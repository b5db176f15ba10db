"""The segment pages: a marketer builds a segment without code, counts its members before
saving, sees the rules in words; wrong ranges are refused; who may open what."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Segment
from tests import factories
from tests.campaigns.segments.history import member_make, msk, purchase_make
from tests.clients import staff_client

pytestmark = pytest.mark.django_db

ADD = reverse("admin:campaigns_segment_add")
CHANGELIST = reverse("admin:campaigns_segment_changelist")


def change_url(segment: Segment) -> str:
    return reverse("admin:campaigns_segment_change", args=[segment.pk])


def form_data(**fields) -> dict:
    """The add/change form as a browser posts it: every rule empty unless given."""
    data = {
        "name": "Серебро с SMS",
        "description": "",
        "tiers": [],
        "beneficiary_categories": [],
        "stores": [],
        "birthday_month": "",
        "joined_from": "",
        "joined_until": "",
        "spend_min": "",
        "spend_max": "",
        "purchases_days": "90",
        "purchases_min": "",
        "purchases_max": "",
        "inactive_days_min": "",
        "inactive_days_max": "",
        "consent_email": "unknown",
        "consent_sms": "unknown",
        "consent_push": "unknown",
        "nps_min": "",
        "nps_max": "",
    }
    data.update(fields)
    return data


def readonly_values(response) -> dict[str, str]:
    """The read-only fields of a change page: name → what is shown."""
    return {
        field.field["name"]: field.contents()
        for fieldset in response.context["adminform"]
        for line in fieldset
        for field in line
        if getattr(field, "is_readonly", False)
    }


def shown_messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def sms_silver(tiers) -> list:
    """Two Silver members with SMS consent, and three who miss one of the rules."""
    matching = [member_make(tier=tiers["Silver"], consent_sms=True) for _ in range(2)]
    member_make(tier=tiers["Silver"], consent_sms=False)
    member_make(tier=tiers["Gold"], consent_sms=True)
    member_make(tier=tiers["Base"], consent_sms=True)
    return matching


# --- Building and saving ----------------------------------------------------------------


def test_marketer_adds_a_segment_with_rules(marketer_client, marketer, tiers):
    # given
    store = factories.StoreFactory(code="SEG-ADM")
    category = factories.BeneficiaryCategoryFactory(code="adm-seg")
    data = form_data(
        tiers=[tiers["Silver"].pk, tiers["Gold"].pk],
        beneficiary_categories=[category.pk],
        stores=[store.pk],
        birthday_month="3",
        joined_from="2024-01-01",
        joined_until="2024-12-31",
        spend_min="2000",
        purchases_days="30",
        purchases_min="1",
        inactive_days_max="45",
        consent_sms="true",
        consent_email="false",
        nps_min="9",
        _save="Save",
    )

    # when
    response = marketer_client.post(ADD, data)

    # then
    assert response.status_code == 302
    segment = Segment.objects.get()
    assert segment.name == "Серебро с SMS"
    assert set(segment.tiers.all()) == {tiers["Silver"], tiers["Gold"]}
    assert list(segment.beneficiary_categories.all()) == [category]
    assert list(segment.stores.all()) == [store]
    assert segment.birthday_month == 3
    assert str(segment.joined_from) == "2024-01-01"
    assert str(segment.joined_until) == "2024-12-31"
    assert segment.spend_min == Decimal("2000")
    assert segment.spend_max is None
    assert (segment.purchases_days, segment.purchases_min, segment.purchases_max) == (30, 1, None)
    assert (segment.inactive_days_min, segment.inactive_days_max) == (None, 45)
    assert (segment.consent_email, segment.consent_sms, segment.consent_push) == (
        False,
        True,
        None,
    )
    assert (segment.nps_min, segment.nps_max) == (9, None)
    assert segment.history.latest().history_user == marketer


def test_the_add_page_offers_the_count_button(marketer_client):
    # when
    response = marketer_client.get(ADD)

    # then
    assert response.status_code == 200
    assert 'name="_count"' in response.content.decode()


# --- Counting before use ----------------------------------------------------------------


def test_count_on_the_add_page_shows_the_exact_count_and_saves_nothing(
    marketer_client, tiers, sms_silver
):
    # given
    data = form_data(tiers=[tiers["Silver"].pk], consent_sms="true", _count="")

    # when
    response = marketer_client.post(ADD, data)

    # then
    assert response.status_code == 200
    assert shown_messages(response) == [
        "2 members match: Серебряный · SMS consent. Nothing was saved."
    ]
    assert "2 members match" in response.content.decode()
    assert not Segment.objects.exists()
    assert not Segment.history.exists()
    # the typed rules are still on the form
    form = response.context["adminform"].form
    assert form["consent_sms"].value() is True
    assert form["tiers"].value() == [str(tiers["Silver"].pk)]


def test_count_of_one_member_and_of_behaviour_rules(marketer_client, tiers):
    # given: one member spent 2,500 ₽, another 1,500 ₽
    big = member_make()
    purchase_make(big, at=msk(2025, 1, 5, 10), spend="2500.00")
    small = member_make()
    purchase_make(small, at=msk(2025, 1, 5, 10), spend="1500.00")

    # when
    response = marketer_client.post(ADD, form_data(spend_min="2000", _count=""))

    # then
    assert shown_messages(response) == ["1 member matches: Spend ≥ 2,000 ₽. Nothing was saved."]
    assert not Segment.objects.exists()


def test_count_without_rules_or_name_says_all_members(marketer_client, sms_silver):
    # when: a draft without a name yet
    response = marketer_client.post(ADD, form_data(name="", _count=""))

    # then
    assert shown_messages(response) == ["5 members match: All members. Nothing was saved."]


def test_count_on_the_change_page_counts_the_edited_rules_and_keeps_the_saved_ones(
    marketer_client, tiers, sms_silver
):
    # given: a saved segment of Gold members (1 of them)
    segment = factories.SegmentFactory(name="Золото")
    segment.tiers.set([tiers["Gold"]])
    versions = segment.history.count()
    data = form_data(name="Серебро", tiers=[tiers["Silver"].pk], consent_sms="true", _count="")

    # when
    response = marketer_client.post(change_url(segment), data)

    # then: the count is of the edited rules, the page's own figure of the saved ones
    assert response.status_code == 200
    assert shown_messages(response) == [
        "2 members match: Серебряный · SMS consent. Nothing was saved."
    ]
    segment.refresh_from_db()
    assert segment.name == "Золото"
    assert segment.consent_sms is None
    assert list(segment.tiers.all()) == [tiers["Gold"]]
    assert segment.history.count() == versions
    assert response.context["adminform"].form.instance.name == "Золото"


def test_the_change_page_shows_how_many_members_match_now(marketer_client, tiers, sms_silver):
    # given
    segment = factories.SegmentFactory(name="SMS", consent_sms=True)

    # when
    response = marketer_client.get(change_url(segment))

    # then: 4 members have SMS consent
    assert response.status_code == 200
    fields = readonly_values(response)
    assert fields["members_now"] == "4"
    assert fields["rules"] == "SMS consent"
    assert 'name="_count"' in response.content.decode()


# --- Validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "lower"),
    [
        ({"spend_min": "5000", "spend_max": "2000"}, "spend_max", "Total spend from"),
        (
            {"purchases_min": "3", "purchases_max": "2"},
            "purchases_max",
            "Purchases in the period, at least",
        ),
        (
            {"inactive_days_min": "30", "inactive_days_max": "10"},
            "inactive_days_max",
            "Days since last purchase, at least",
        ),
        ({"nps_min": "9", "nps_max": "7"}, "nps_max", "Latest NPS score from"),
        (
            {"joined_from": "2025-02-01", "joined_until": "2025-01-31"},
            "joined_until",
            "Joined from",
        ),
    ],
)
@pytest.mark.parametrize("button", ["_save", "_count"])
def test_a_range_upside_down_is_refused(marketer_client, fields, field, lower, button):
    # when
    response = marketer_client.post(ADD, form_data(**fields, **{button: ""}))

    # then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {field: [f"Must not be less than “{lower}”."]}
    assert shown_messages(response) == []
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"nps_min": "11"}, "nps_min"),
        ({"nps_max": "11"}, "nps_max"),
        ({"purchases_days": "0"}, "purchases_days"),
        ({"spend_min": "-1"}, "spend_min"),
        ({"name": ""}, "name"),
    ],
)
def test_values_out_of_range_are_refused(marketer_client, fields, field):
    # when
    response = marketer_client.post(ADD, form_data(**fields, _save=""))

    # then
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == [field]
    assert not Segment.objects.exists()


def test_the_upper_nps_bound_ten_is_accepted(marketer_client):
    # when
    response = marketer_client.post(ADD, form_data(nps_min="10", nps_max="10", _save=""))

    # then
    assert response.status_code == 302
    assert Segment.objects.values_list("nps_min", "nps_max").get() == (10, 10)


# --- The list ---------------------------------------------------------------------------


def test_the_list_shows_the_rules_in_words(marketer_client, tiers):
    # given
    segment = factories.SegmentFactory(name="Лояльные", spend_min=Decimal("2000"), consent_sms=True)
    segment.tiers.set([tiers["Silver"], tiers["Gold"]])
    factories.SegmentFactory(name="Все")

    # when
    response = marketer_client.get(CHANGELIST)

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "Серебряный, Золотой · spend ≥ 2,000 ₽ · SMS consent" in html
    assert "All members" in html


def test_the_list_costs_the_same_queries_for_2_and_8_segments(
    marketer_client, tiers, django_assert_num_queries
):
    # given
    store = factories.StoreFactory(code="SEG-LIST")

    def make(first: int, count: int) -> None:
        for n in range(first, first + count):
            segment = factories.SegmentFactory(name=f"Сегмент {n}", nps_min=n % 10)
            segment.tiers.set([tiers["Silver"], tiers["Gold"]])
            segment.stores.set([store])

    make(0, 2)
    marketer_client.get(CHANGELIST)  # warms per-process caches
    with CaptureQueriesContext(connection) as two:
        response = marketer_client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 2

    # when
    make(2, 6)

    # then
    with django_assert_num_queries(len(two.captured_queries)):
        response = marketer_client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 8


# --- Who may do what --------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["cashier", "outsider", "anonymous"])
def test_non_staff_are_sent_to_the_login(request, persona):
    # given
    segment = factories.SegmentFactory(name="Закрытый")
    client = Client() if persona == "anonymous" else staff_client(request.getfixturevalue(persona))

    # when
    pages = [CHANGELIST, ADD, change_url(segment)]
    responses = [client.get(url) for url in pages]
    count = client.post(ADD, form_data(_count=""))

    # then
    assert [r.status_code for r in responses] == [302, 302, 302]
    assert responses[0]["Location"].startswith(reverse("admin:login"))
    assert count.status_code == 302
    assert Segment.objects.count() == 1


def test_staff_without_segment_permissions_get_403():
    # given
    client = staff_client(factories.UserFactory(username="support", is_staff=True))
    segment = factories.SegmentFactory(name="Закрытый")

    # when
    statuses = [client.get(url).status_code for url in (CHANGELIST, ADD, change_url(segment))]
    count = client.post(ADD, form_data(_count=""))

    # then
    assert statuses == [403, 403, 403]
    assert count.status_code == 403
    assert Segment.objects.count() == 1


def test_a_viewer_sees_the_count_but_may_not_count_edits():
    # given: staff who may only view segments
    user = factories.UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_segment"))
    client = staff_client(user)
    segment = factories.SegmentFactory(name="Все")
    member_make()

    # when
    page = client.get(change_url(segment))
    count = client.post(change_url(segment), form_data(_count=""))

    # then
    assert page.status_code == 200
    assert 'name="_count"' not in page.content.decode()
    assert readonly_values(page)["members_now"] == "1"
    assert count.status_code == 403


def test_marketer_may_not_delete_a_segment(marketer_client):
    # given
    segment = factories.SegmentFactory(name="Навсегда")

    # when
    response = marketer_client.post(
        reverse("admin:campaigns_segment_delete", args=[segment.pk]), {"post": "yes"}
    )

    # then
    assert response.status_code == 403
    assert Segment.objects.filter(pk=segment.pk).exists()


def test_marketer_sees_the_segment_history(marketer_client, tiers):
    # given
    marketer_client.post(ADD, form_data(tiers=[tiers["Silver"].pk], _save=""))
    segment = Segment.objects.get()

    # when
    response = marketer_client.get(reverse("admin:campaigns_segment_history", args=[segment.pk]))

    # then
    assert response.status_code == 200
    assert segment.history.exists()


@pytest.mark.parametrize("field", ["inactive_days_max", "inactive_days_min", "purchases_days"])
def test_a_period_longer_than_a_hundred_years_is_refused_on_its_field(marketer_client, field):
    # when: a typo of a few zeros, which would otherwise reach before year 1
    response = marketer_client.post(ADD, form_data(**{field: "1000000"}, _count=""))

    # then
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == [field]
    assert not Segment.objects.exists()
