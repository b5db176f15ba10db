"""The campaign pages: status buttons and list actions (POST with CSRF only), the history
naming who moved a campaign, the results panel, a list whose cost does not grow with
its rows, and who may open what."""

import datetime as dt
import re
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone

from campaigns.admin.results import campaign_results
from campaigns.models import Campaign, Grant, Offer, Participant
from loyalty.models import Tier
from members.models import Purchase
from tests import factories
from tests.clients import staff_client

from .conftest import CHANGE, CHANGELIST, flash


def _action(name: str, campaign: Campaign) -> str:
    return reverse(f"admin:campaigns_campaign_{name}", args=[campaign.pk])


def _status(campaign: Campaign) -> str:
    return Campaign.objects.values_list("status", flat=True).get(pk=campaign.pk)


# --- buttons on the campaign page -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        ("draft", ["schedule_one"]),
        ("scheduled", ["pause_one", "finish_one"]),
        ("active", ["pause_one", "finish_one"]),
        ("paused", ["resume_one", "finish_one"]),
        ("finished", []),
    ],
)
def test_the_page_shows_the_moves_its_status_allows(marketer_client, draft_offer, status, buttons):
    Campaign.objects.filter(pk=draft_offer.pk).update(status=status)

    html = marketer_client.get(reverse(CHANGE, args=[draft_offer.pk])).content.decode()

    shown = [
        name
        for name in ("schedule_one", "pause_one", "resume_one", "finish_one")
        if _action(name, draft_offer) in html
    ]
    assert shown == buttons


def test_schedule_button_posts_with_the_csrf_token(marketer, draft_offer):
    # given a browser-like client that checks CSRF, on the campaign page
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    client.cookies["django_language"] = "en"
    page_url = reverse(CHANGE, args=[draft_offer.pk])
    html = client.get(page_url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    # when the dialog is confirmed
    response = client.post(
        _action("schedule_one", draft_offer),
        {"_form_submitted": "on", "csrfmiddlewaretoken": token},
        headers={"HX-Request": "true"},
    )

    # then
    assert response["HX-Redirect"] == page_url
    assert _status(draft_offer) == "scheduled"
    start = formats.date_format(timezone.localtime(draft_offer.starts_at), "SHORT_DATETIME_FORMAT")
    assert flash(response) == [f"«Весна −30%» is scheduled: it starts on {start}."]


def test_a_move_without_the_csrf_token_or_by_get_changes_nothing(marketer, draft_offer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)

    without_token = client.post(_action("schedule_one", draft_offer), {"_form_submitted": "on"})
    by_get = client.get(_action("schedule_one", draft_offer), {"_form_submitted": "on"})

    assert without_token.status_code == 403
    assert by_get.status_code == 200  # the dialog, asking to confirm
    assert _status(draft_offer) == "draft"
    assert draft_offer.history.count() == 1


def test_schedule_with_the_start_passed_says_the_beat_activates_it(marketer_client, draft_offer):
    Campaign.objects.filter(pk=draft_offer.pk).update(
        starts_at=timezone.now() - dt.timedelta(hours=1)
    )

    response = marketer_client.post(_action("schedule_one", draft_offer), {"_form_submitted": "on"})

    assert response.status_code == 302
    assert flash(response) == [
        "«Весна −30%» is scheduled. Its start has passed, so it becomes active within a minute."
    ]


def test_schedule_of_an_incomplete_campaign_shows_what_it_lacks(marketer_client):
    # given a draft offer saved without its dates (made outside the form)
    campaign = factories.CampaignFactory(
        name="Неполная", kind="offer", reward_kind="percent", reward_value=30
    )

    # when
    response = marketer_client.post(_action("schedule_one", campaign), {"_form_submitted": "on"})

    # then
    assert flash(response) == [
        "«Неполная»: A time-limited offer needs its start and end: its offers burn at the end."
    ]
    assert _status(campaign) == "draft"


def test_a_closed_sale_without_a_segment_is_scheduled_with_a_warning(marketer_client):
    sale = factories.ClosedSaleFactory(name="Распродажа", status="draft")

    response = marketer_client.post(_action("schedule_one", sale), {"_form_submitted": "on"})

    messages = flash(response)
    assert _status(sale) == "scheduled"
    assert messages[1:] == ["The closed sale has no segment: every member is invited."]


def test_a_click_on_a_stale_page_is_refused_with_a_message(marketer_client, active_offer):
    # given the page showed "Resume", and the campaign was resumed meanwhile (still active)
    response = marketer_client.post(_action("resume_one", active_offer), {"_form_submitted": "on"})

    assert response.status_code == 302
    assert flash(response) == ["«Лето −30%»: The campaign cannot move to this status now."]
    assert _status(active_offer) == "active"


def test_pause_resume_and_finish_from_the_page(marketer_client, marketer, active_offer):
    factories.CampaignOfferFactory.create_batch(2, campaign=active_offer)
    confirm = {"_form_submitted": "on"}

    paused = marketer_client.post(_action("pause_one", active_offer), confirm, follow=True)
    resumed = marketer_client.post(_action("resume_one", active_offer), confirm, follow=True)
    finished = marketer_client.post(_action("finish_one", active_offer), confirm, follow=True)

    assert flash(paused) == ["«Лето −30%» is paused: it gives nothing until it is resumed."]
    assert flash(resumed) == ["«Лето −30%» is active again."]
    assert flash(finished) == ["«Лето −30%» is finished. 2 unused offers burnt."]
    assert [(h.status, h.history_user) for h in active_offer.history.order_by("history_id")] == [
        ("active", None),
        ("paused", marketer),
        ("active", marketer),
        ("finished", marketer),
    ]


def test_the_history_page_lists_the_moves(marketer_client, draft_offer):
    marketer_client.post(_action("schedule_one", draft_offer), {"_form_submitted": "on"})

    response = marketer_client.get(
        reverse("admin:campaigns_campaign_history", args=[draft_offer.pk])
    )

    assert response.status_code == 200
    assert "marketer" in response.content.decode()


# --- list actions -----------------------------------------------------------------------


def test_list_action_schedules_the_drafts_and_names_the_refused(
    marketer_client, draft_offer, active_offer
):
    # given two complete drafts and an active campaign selected
    second = factories.NthPurchaseCampaignFactory(name="Каждая пятая", status="draft")

    # when
    response = marketer_client.post(
        reverse(CHANGELIST),
        {
            "action": "schedule_selected",
            "_selected_action": [draft_offer.pk, second.pk, active_offer.pk],
        },
    )

    # then
    assert response.status_code == 302
    assert flash(response) == [
        "«Лето −30%»: The campaign cannot move to this status now.",
        "2 campaigns scheduled.",
    ]
    assert [_status(c) for c in (draft_offer, second, active_offer)] == [
        "scheduled",
        "scheduled",
        "active",
    ]


def test_list_actions_pause_resume_finish(marketer_client, active_offer):
    other = factories.NthPurchaseCampaignFactory(name="Каждая пятая")
    selected = [active_offer.pk, other.pk]

    for name, expected in (
        ("pause_selected", "2 campaigns paused."),
        ("resume_selected", "2 campaigns resumed."),
        ("finish_selected", "2 campaigns finished."),
    ):
        response = marketer_client.post(
            reverse(CHANGELIST), {"action": name, "_selected_action": selected}, follow=True
        )
        assert flash(response) == [expected]

    assert {_status(active_offer), _status(other)} == {"finished"}


# --- results ----------------------------------------------------------------------------


def _purchase(member, store, *, total: str, discount: str = "0", at: dt.datetime, refunded=False):
    total_, discount_ = Decimal(total), Decimal(discount)
    return Purchase.objects.create(
        member=member,
        store=store,
        receipt_number=f"R-{Purchase.objects.count() + 1}",
        total=total_,
        base_rate=Decimal(25),
        base_discount=discount_,
        code_discount=Decimal(0),
        points_max=0,
        points_spent=0,
        paid=total_ - discount_,
        tier=Tier.objects.order_by("threshold").first(),
        earn_percent=Decimal(1),
        points_earned=0,
        tier_spend=total_ - discount_,
        request_fingerprint="test",
        channel="cashier",
        is_fully_refunded=refunded,
        created_at=at,
    )


@pytest.fixture
def sale_with_results(store):
    """A closed sale open since two days ago: A, B, C invited, D held out. A bought twice
    in the sale (1,000 and 2,000 ₽, 25% off each), B only before it, C's one purchase was
    fully refunded, D bought once meanwhile; and one grant was rolled back."""
    now = timezone.now()
    sale = factories.ClosedSaleFactory(
        name="Закрытая распродажа",
        status="active",
        starts_at=now - dt.timedelta(days=2),
        ends_at=now + dt.timedelta(days=1),
        budget=Decimal(5000),
        spent=Decimal(750),
        holdout_percent=Decimal(10),
    )
    a, b, c, d = factories.MemberFactory.create_batch(4)
    for member, held in ((a, False), (b, False), (c, False), (d, True)):
        Participant.objects.create(campaign=sale, member=member, is_holdout=held, created_at=now)
    inside = now - dt.timedelta(days=1)
    first = _purchase(a, store, total="1000", discount="250", at=inside)
    second = _purchase(a, store, total="2000", discount="500", at=inside)
    _purchase(b, store, total="700", at=now - dt.timedelta(days=3))
    refunded = _purchase(c, store, total="400", discount="100", at=inside, refunded=True)
    _purchase(d, store, total="900", at=inside)
    for purchase in (first, second):
        Grant.objects.create(
            campaign=sale,
            member=a,
            event_key=f"sale:{purchase.pk}",
            purchase=purchase,
            discount=purchase.base_discount,
            cost=purchase.base_discount,
            created_at=inside,
        )
    Grant.objects.create(
        campaign=sale,
        member=c,
        event_key=f"sale:{refunded.pk}",
        purchase=refunded,
        discount=Decimal(100),
        cost=Decimal(100),
        created_at=inside,
        rolled_back_at=now,
    )
    return sale


def test_closed_sale_results_are_exact(sale_with_results, django_assert_max_num_queries):
    # when
    with django_assert_max_num_queries(5):
        figures = campaign_results(sale_with_results)

    # then
    assert (figures.reached, figures.held_out) == (3, 1)
    assert figures.window.reached_came == 1
    assert figures.window.reached_purchases == 2
    assert figures.window.reached_revenue == Decimal("2250.00")
    assert figures.window.held_out_came == 1
    assert (figures.grants, figures.grant_members, figures.discount) == (2, 1, Decimal("750.00"))
    assert (figures.grant_purchases, figures.grant_revenue) == (2, Decimal("2250.00"))


def test_closed_sale_page_shows_invited_came_revenue_and_discount(
    marketer_client, sale_with_results
):
    response = marketer_client.get(reverse(CHANGE, args=[sale_with_results.pk]))

    text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))
    assert "invited 3 " in text
    assert "held out (not invited, the control group) 1 " in text
    assert "came (bought at the sale's price) 1 of 3 (33.3%)" in text
    assert "purchases at the sale's price 2 " in text
    assert "revenue (money paid, refunds deducted) 2,250.00 ₽" in text
    assert "discount given 750.00 ₽" in text
    assert "invited who bought anything in the sale's dates 1 of 3 (33.3%)" in text
    assert "held out who bought anything in the sale's dates 1 of 1 (100%)" in text
    assert "spent of the budget 750.00 ₽ / 5,000.00 ₽" in text


def test_offer_results_count_offers_rewards_and_points(active_offer, store):
    # given 3 members reached (one held out), offers in each status, one used on a purchase
    now = timezone.now()
    members = factories.MemberFactory.create_batch(3)
    for member, held in zip(members, (False, False, True), strict=True):
        Participant.objects.create(
            campaign=active_offer, member=member, is_holdout=held, created_at=now
        )
    purchase = _purchase(
        members[0], store, total="1000", discount="0", at=now - dt.timedelta(minutes=5)
    )
    used = factories.CampaignOfferFactory(
        campaign=active_offer, member=members[0], status="used", purchase=purchase, used_at=now
    )
    factories.CampaignOfferFactory(campaign=active_offer, member=members[1], status="expired")
    factories.CampaignOfferFactory(campaign=active_offer, member=factories.MemberFactory())
    Grant.objects.create(
        campaign=active_offer,
        member=members[0],
        event_key=f"offer:{used.pk}",
        purchase=purchase,
        offer=used,
        discount=Decimal(300),
        points=0,
        cost=Decimal(300),
        created_at=now,
    )
    Grant.objects.create(
        campaign=active_offer,
        member=members[1],
        event_key="bonus",
        points=40,
        cost=Decimal(40),
        created_at=now,
    )

    # when
    figures = campaign_results(active_offer)

    # then
    assert (figures.reached, figures.held_out) == (2, 1)
    assert (
        figures.offers_issued,
        figures.offers_used,
        figures.offers_burnt,
        figures.offers_active,
    ) == (3, 1, 1, 1)
    assert (figures.grants, figures.grant_members) == (2, 2)
    assert (figures.discount, figures.points, figures.cost) == (
        Decimal("300.00"),
        40,
        Decimal("340.00"),
    )
    assert (figures.grant_purchases, figures.grant_revenue) == (1, Decimal("1000.00"))
    assert (figures.window.reached_came, figures.window.held_out_came) == (1, 0)


def test_a_live_segment_campaign_has_no_window_comparison(store):
    campaign = factories.NthPurchaseCampaignFactory(name="Каждая пятая")

    assert campaign_results(campaign).window is None


# --- the list ---------------------------------------------------------------------------


def test_campaign_list_costs_the_same_queries_for_1_and_10_campaigns(
    marketer_client, django_assert_num_queries
):
    # given one campaign with a segment, a budget and a promo code batch
    def make(n):
        for _ in range(n):
            campaign = factories.OfferCampaignFactory(
                segment=factories.SegmentFactory(), budget=Decimal(1000), holdout_percent=Decimal(5)
            )
            factories.CodeBatchFactory(campaign=campaign)

    make(1)
    url = reverse(CHANGELIST)
    marketer_client.get(url)  # warms per-process caches (content types, templates)
    with CaptureQueriesContext(connection) as one:
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 1

    # when there are 10
    make(9)

    # then the page costs exactly as many queries
    with django_assert_num_queries(len(one.captured_queries)):
        response = marketer_client.get(url)
    assert len(response.context["cl"].result_list) == 10


def test_campaign_list_filters_by_kind_and_status(marketer_client, draft_offer, active_offer):
    sale = factories.ClosedSaleFactory(name="Распродажа")

    def listed(**params):
        response = marketer_client.get(reverse(CHANGELIST), params)
        return sorted(c.name for c in response.context["cl"].result_list)

    assert listed(kind__exact="offer") == ["Весна −30%", "Лето −30%"]
    assert listed(status__exact="scheduled") == [sale.name]
    assert listed(q="Лето") == ["Лето −30%"]


# --- who may open what ------------------------------------------------------------------


@pytest.fixture
def pages(active_offer) -> dict[str, str]:
    offer = factories.CampaignOfferFactory(campaign=active_offer)
    participant = Participant.objects.create(
        campaign=active_offer, member=offer.member, created_at=timezone.now()
    )
    grant = Grant.objects.create(
        campaign=active_offer,
        member=offer.member,
        event_key="x",
        cost=Decimal(0),
        created_at=timezone.now(),
    )
    return {
        "campaigns": reverse(CHANGELIST),
        "campaign add": reverse("admin:campaigns_campaign_add"),
        "campaign page": reverse(CHANGE, args=[active_offer.pk]),
        "campaign history": reverse("admin:campaigns_campaign_history", args=[active_offer.pk]),
        "pause dialog": _action("pause_one", active_offer),
        "offers": reverse("admin:campaigns_offer_changelist"),
        "offer page": reverse("admin:campaigns_offer_change", args=[offer.pk]),
        "grants": reverse("admin:campaigns_grant_changelist"),
        "grant page": reverse("admin:campaigns_grant_change", args=[grant.pk]),
        "participants": reverse("admin:campaigns_participant_changelist"),
        "participant page": reverse("admin:campaigns_participant_change", args=[participant.pk]),
    }


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("marketer", 200), ("cashier", 302), ("outsider", 302), ("staff", 403), ("anonymous", 302)],
)
def test_each_persona_on_each_campaign_page(request, pages, persona, expected):
    # given (302: the admin login; 403: staff without campaign rights)
    if persona == "anonymous":
        client = Client()
    elif persona == "staff":
        client = staff_client(factories.UserFactory(username="support", is_staff=True))
    else:
        client = staff_client(request.getfixturevalue(persona))

    # when
    statuses = {name: client.get(url).status_code for name, url in pages.items()}

    # then
    assert statuses == dict.fromkeys(pages, expected)


@pytest.mark.parametrize("persona", ["cashier", "outsider", "staff"])
def test_no_one_but_marketing_moves_a_campaign(request, active_offer, persona):
    # given
    if persona == "staff":
        user = factories.UserFactory(username="support", is_staff=True)
    else:
        user = request.getfixturevalue(persona)
    client = staff_client(user)

    # when
    detail = client.post(_action("finish_one", active_offer), {"_form_submitted": "on"})
    listed = client.post(
        reverse(CHANGELIST), {"action": "finish_selected", "_selected_action": [active_offer.pk]}
    )

    # then
    assert detail.status_code in (302, 403)
    assert listed.status_code in (302, 403)
    assert detail.status_code == (403 if persona == "staff" else 302)
    assert _status(active_offer) == "active"


def test_staff_who_may_only_view_campaigns_see_no_buttons(active_offer):
    from django.contrib.auth.models import Permission

    user = factories.UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = staff_client(user)

    page = client.get(reverse(CHANGE, args=[active_offer.pk]))
    finish = client.post(_action("finish_one", active_offer), {"_form_submitted": "on"})

    assert page.status_code == 200
    assert _action("finish_one", active_offer) not in page.content.decode()
    assert finish.status_code == 403
    assert _status(active_offer) == "active"


def test_marketing_cannot_delete_a_campaign(marketer_client, draft_offer):
    page = marketer_client.get(reverse("admin:campaigns_campaign_delete", args=[draft_offer.pk]))
    post = marketer_client.post(
        reverse("admin:campaigns_campaign_delete", args=[draft_offer.pk]), {"post": "yes"}
    )
    bulk = marketer_client.post(
        reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [draft_offer.pk]}
    )

    assert (page.status_code, post.status_code) == (403, 403)
    assert flash(bulk) == ["No action selected."]  # deleting is not offered to marketing
    assert Campaign.objects.filter(pk=draft_offer.pk).exists()


def test_marketing_only_reads_offers_grants_and_participants(marketer_client, pages, active_offer):
    offer = Offer.objects.get(campaign=active_offer)
    before = Offer.objects.values().get(pk=offer.pk)
    adds = [
        marketer_client.get(reverse(f"admin:campaigns_{model}_add")).status_code
        for model in ("offer", "grant", "participant")
    ]
    change = marketer_client.post(pages["offer page"], {"status": "used"})
    delete = marketer_client.post(
        reverse("admin:campaigns_offer_delete", args=[offer.pk]), {"post": "yes"}
    )

    assert adds == [403, 403, 403]
    assert (change.status_code, delete.status_code) == (403, 403)
    assert Offer.objects.values().get(pk=offer.pk) == before


def test_offers_are_found_by_the_exact_card_and_filtered_by_campaign(marketer_client, active_offer):
    # given two offers of the campaign and one of another
    mine, theirs = factories.CampaignOfferFactory.create_batch(2, campaign=active_offer)
    other = factories.CampaignOfferFactory()
    url = reverse("admin:campaigns_offer_changelist")

    def listed(**params):
        response = marketer_client.get(url, params)
        assert response.status_code == 200
        return sorted(o.pk for o in response.context["cl"].result_list)

    # then
    assert listed(q=mine.member.card_number) == [mine.pk]
    assert listed(q=mine.member.card_number[:6]) == []
    assert listed(campaign__id__exact=active_offer.pk) == sorted([mine.pk, theirs.pk])
    assert listed(status__exact="active") == sorted([mine.pk, theirs.pk, other.pk])


def test_scheduling_from_the_list_never_happens_by_get(marketer_client, draft_offer):
    response = marketer_client.get(
        reverse(CHANGELIST), {"action": "schedule_selected", "_selected_action": [draft_offer.pk]}
    )

    assert response.status_code == 302  # the list again, with its lookup refused
    assert _status(draft_offer) == "draft"
