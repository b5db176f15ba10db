"""Campaigns at the cashier desk: the member page lists offers and gifts to pick from,
N-th purchase progress and closed-sale invitations; the breakdown and the receipt name
the rule behind every discount and show what the purchase earned."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import formats, timezone, translation

from campaigns.models import Campaign, Grant, Offer, Participant, PurchaseCounter
from loyalty.actors import Actor
from members.models import Channel, Purchase
from members.services import checkout_commit
from tests import factories
from tests.cashier.desk import confirm, evaluate, receipt, rows_of
from tests.cashier.html import amounts

pytestmark = pytest.mark.django_db


def short_datetime(moment: dt.datetime) -> str:
    with translation.override("en"):
        return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def member_page(desk, member):
    return desk.get(reverse("cashier:member", args=[member.card_number]))


def invite(sale, member):
    return Participant.objects.create(
        campaign=sale, member=member, is_holdout=False, created_at=timezone.now()
    )


def open_sale(name="Для своих", percent="25"):
    now = timezone.now()
    return factories.ClosedSaleFactory(
        name=name,
        status=Campaign.Status.ACTIVE,
        reward_value=Decimal(percent),
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=1),
    )


def offer(member, *, name, title, kind="percent", value="30", **kwargs):
    campaign = factories.OfferCampaignFactory(
        name=name,
        reward_kind=kind,
        reward_value=Decimal(value),
        gift_name=kwargs.get("gift_name", ""),
    )
    return factories.CampaignOfferFactory(
        campaign=campaign,
        member=member,
        title=title,
        reward_kind=kind,
        reward_value=Decimal(value),
        **kwargs,
    )


def nth_campaign(name="Каждая 5-я покупка", value="50", **kwargs):
    return factories.NthPurchaseCampaignFactory(name=name, reward_value=Decimal(value), **kwargs)


def count_purchases(campaign, member, count: int):
    PurchaseCounter.objects.create(
        campaign=campaign, member=member, count=count, updated_at=timezone.now()
    )


@pytest.fixture
def ring_up(store, cashier):
    """Commit `count` receipts of 100 ₽ for the member at the desk's store."""
    actor = Actor.for_user(cashier, Channel.CASHIER)

    def ring_up(member, count: int):
        for n in range(count):
            checkout_commit(
                member=member,
                store=store,
                receipt_number=f"P-{n}",
                total="100.00",
                actor=actor,
            )

    return ring_up


# --- The member page --------------------------------------------------------------------


def test_member_page_lists_offers_and_gifts_to_pick_from(desk, silver_member, store):
    # given two usable offers, a gift, and offers that cannot be used now
    spring = offer(
        silver_member,
        name="Весна",
        title="Весна: 30%",
        valid_until=timezone.now() + dt.timedelta(days=7),
    )
    coupon = offer(
        silver_member,
        name="Купон",
        title="Купон: 500 ₽",
        kind="fixed",
        value="500",
        min_receipt=Decimal("1000"),
        valid_until=timezone.now() + dt.timedelta(days=3),
    )
    gift = offer(
        silver_member,
        name="День рождения",
        title="С днём рождения: букет",
        kind="gift",
        value="0",
        gift_name="Букет тюльпанов",
        valid_until=timezone.now() + dt.timedelta(days=10),
    )
    offer(silver_member, name="Сгорело", title="Сгорело: 30%", valid_until=timezone.now())
    offer(
        silver_member,
        name="Использовано",
        title="Использовано: 30%",
        status=Offer.Status.CANCELLED,
    )
    offer(factories.MemberFactory(tier=silver_member.tier), name="Чужое", title="Чужое: 30%")

    # when
    response = member_page(desk, silver_member)

    # then the usable ones are listed in the pick list, soonest deadline first
    assert [p.offer for p in response.context["offers"]] == [coupon, spring, gift]
    html = response.content.decode()
    assert "<legend>Offers and gifts</legend>" in html
    picks = html[html.index('id="offers-and-gifts"') : html.index('id="errors-choice"')]
    assert " ".join(picks.split()).count('<input type="radio" name="choice"') == 5
    for pick, reward in [
        (coupon, "500.00 ₽"),
        (spring, "30%"),
        (gift, "gift: Букет тюльпанов"),
    ]:
        assert f'<label class="personal-code" data-reference="offer-{pick.pk}">' in html
        assert f'<input type="radio" name="choice" value="offer-{pick.pk}">' in html
        assert f"<strong>{pick.title}</strong> · {reward}" in " ".join(html.split())
    assert f"on receipts from 1,000.00 ₽ · until {short_datetime(coupon.valid_until)}" in html
    assert f"until {short_datetime(spring.valid_until)}</span>" in html
    assert "Сгорело" not in html
    assert "Использовано" not in html
    assert "Чужое" not in html
    # and the checkout's own choice is the default
    assert '<input type="radio" name="choice" value="" checked>' in html


def test_member_page_shows_progress_towards_every_nth_purchase(desk, silver_member, store, ring_up):
    # given two running campaigns: three purchases counted in one, none yet in the other
    fifth = nth_campaign()
    eighth = nth_campaign(
        name="Подарок за 8-ю покупку", every_n=8, reward_kind="gift", gift_name="Кофе"
    )
    ring_up(silver_member, 3)

    # when
    response = member_page(desk, silver_member)

    # then
    html = " ".join(response.content.decode().split())
    assert [(r.campaign, r.progress.count, r.to_go) for r in response.context["counters"]] == [
        (fifth, 3, 2),
        (eighth, 3, 5),
    ]
    assert (
        f'<li class="counter" data-campaign="{fifth.pk}"> '
        '<strong class="counter-count">3/5</strong> '
        '<progress max="5" value="3" aria-hidden="true"></progress> '
        "<span>2 more purchases to «Каждая 5-я покупка» · 50%</span> </li>"
    ) in html
    assert "<span>5 more purchases to «Подарок за 8-ю покупку» · Кофе</span>" in html
    assert "this purchase gets the reward" not in html


def test_the_nth_purchase_is_announced_picked_and_named_on_the_receipt(
    desk, silver_member, store, ring_up
):
    # given four purchases counted in "every 5th purchase 50% off"
    fifth = nth_campaign()
    ring_up(silver_member, 4)

    # when
    page = member_page(desk, silver_member)

    # then the cashier is told this purchase gets the reward, and can pick it
    html = " ".join(page.content.decode().split())
    assert (
        f'<li class="counter" data-campaign="{fifth.pk}" data-due> '
        '<strong class="counter-count">4/5</strong> '
        '<progress max="5" value="4" aria-hidden="true"></progress> '
        "<span>1 more purchase to «Каждая 5-я покупка» · 50%</span> "
        '<strong class="counter-due">this purchase gets the reward</strong> </li>'
    ) in html
    assert (
        f'<label class="personal-code" data-reference="nth-{fifth.pk}"> '
        f'<input type="radio" name="choice" value="nth-{fifth.pk}"> '
        "<strong>Каждая 5-я покупка</strong> · 50% "
        '<span class="muted">this purchase gets the reward</span> </label>'
    ) in html

    # when the receipt is typed, the reward applies by itself, named
    preview = evaluate(desk, silver_member, receipt(store, receipt_number="R-5"))

    # then
    assert [(r.key, r.label, r.amount) for r in preview.context["rows"][:3]] == [
        ("total", "Receipt total", Decimal("3000.00")),
        ("base-tier", "Tier discount: Серебряный", Decimal("150.00")),
        ("reward", "Reward for every 5 purchases: Каждая 5-я покупка", Decimal("1425.00")),
    ]

    # when confirmed
    response = confirm(desk, silver_member, receipt(store, receipt_number="R-5"))

    # then the receipt names the reward and shows the counter starting again
    purchase = Purchase.objects.get(receipt_number="R-5")
    assert response.status_code == 302
    assert (purchase.reward_source, purchase.reward_reference) == (
        "nth_purchase",
        f"nth-{fifth.pk}",
    )
    summary = desk.get(reverse("cashier:purchase", args=[purchase.pk]))
    html = " ".join(summary.content.decode().split())
    assert amounts(summary.content.decode())["reward"] == "−1,425.00&nbsp;₽"
    assert (
        '<tr data-row="reward"> <th scope="row">Reward for every 5 purchases: '
        "Каждая 5-я покупка</th>"
    ) in html
    assert "<span>5 more purchases to «Каждая 5-я покупка» · 50%</span>" in html
    assert "data-due" not in html


def test_member_page_lists_closed_sale_invitations(desk, silver_member):
    # given an open sale and an upcoming one the member is invited to, and one not
    now_open = open_sale()
    upcoming = factories.ClosedSaleFactory(name="Скоро")
    invite(now_open, silver_member)
    invite(upcoming, silver_member)
    factories.ClosedSaleFactory(name="Не для нас")

    # when
    response = member_page(desk, silver_member)

    # then
    html = " ".join(response.content.decode().split())
    assert [(i.campaign, i.is_open) for i in response.context["invitations"]] == [
        (now_open, True),
        (upcoming, False),
    ]
    assert (
        f'<li data-sale="{now_open.pk}" data-open> <strong>Для своих</strong> · −25% '
        f"<span>open now, until {short_datetime(now_open.ends_at)}</span> "
        '<strong class="sale-open">the sale price applies automatically</strong> </li>'
    ) in html
    assert (
        f'<li data-sale="{upcoming.pk}"> <strong>Скоро</strong> · −25% '
        f'<span class="muted">from {short_datetime(upcoming.starts_at)} to '
        f"{short_datetime(upcoming.ends_at)}</span> </li>"
    ) in html
    assert "Не для нас" not in html


def test_member_page_without_campaigns_says_so(desk, silver_member):
    # when
    response = member_page(desk, silver_member)

    # then
    html = response.content.decode()
    assert "No purchase counters." in html
    assert "No invitations." in html
    assert 'id="offers-and-gifts"' not in html


# --- Picking and applying ---------------------------------------------------------------


def test_the_best_offer_applies_by_itself_and_a_picked_one_instead(desk, silver_member, store):
    # given 30% off and 500 ₽ off: on 3,000 ₽ the 30% is worth 855 ₽ after the tier's 5%
    spring = offer(silver_member, name="Весна", title="Весна: 30%")
    coupon = offer(silver_member, name="Купон", title="Купон: 500 ₽", kind="fixed", value="500")

    # when nothing is picked
    best = evaluate(desk, silver_member, receipt(store))

    # then the one worth most applies, named by its title
    assert [(r.key, r.label, r.amount) for r in best.context["rows"][2:3]] == [
        ("reward", "Весна: 30%", Decimal("855.00"))
    ]

    # when the cashier picks the coupon and confirms
    picked = evaluate(desk, silver_member, receipt(store, choice=f"offer-{coupon.pk}"))
    response = confirm(desk, silver_member, receipt(store, choice=f"offer-{coupon.pk}"))

    # then the coupon applies and is used up; the better offer stays for another day
    assert rows_of(picked)["reward"] == Decimal("500.00")
    assert response.status_code == 302
    purchase = Purchase.objects.get()
    assert (purchase.reward_source, purchase.reward_reference, purchase.code_discount) == (
        "offer",
        f"offer-{coupon.pk}",
        Decimal("500.00"),
    )
    coupon.refresh_from_db()
    spring.refresh_from_db()
    assert (coupon.status, coupon.purchase) == (Offer.Status.USED, purchase)
    assert spring.status == Offer.Status.ACTIVE
    summary = desk.get(reverse("cashier:purchase", args=[purchase.pk]))
    assert '<tr data-row="reward">\n      <th scope="row">Купон: 500 ₽</th>' in (
        summary.content.decode()
    )
    # and the member page no longer offers it
    assert [p.offer for p in member_page(desk, silver_member).context["offers"]] == [spring]


def test_an_offer_used_meanwhile_is_a_form_error_by_the_list(desk, silver_member, store):
    # given the page was opened with the coupon, then it was cancelled elsewhere
    coupon = offer(silver_member, name="Купон", title="Купон: 500 ₽", kind="fixed", value="500")
    Offer.objects.filter(pk=coupon.pk).update(status=Offer.Status.CANCELLED)

    # when
    response = confirm(desk, silver_member, receipt(store, choice=f"offer-{coupon.pk}"))

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "choice": ["The chosen code or offer is not available for this receipt."]
    }
    assert Purchase.objects.count() == 0


def test_an_open_closed_sale_is_the_base_rate_named_on_the_receipt(desk, silver_member, store):
    # given the member is invited to an open 25% sale (the tier gives 5%)
    sale = open_sale()
    invite(sale, silver_member)

    # when
    preview = evaluate(desk, silver_member, receipt(store))
    confirm(desk, silver_member, receipt(store))

    # then
    assert [(r.key, r.label, r.amount) for r in preview.context["rows"][1:2]] == [
        (f"base-sale-{sale.pk}", "Closed sale: Для своих", Decimal("750.00"))
    ]
    purchase = Purchase.objects.get()
    summary = desk.get(reverse("cashier:purchase", args=[purchase.pk])).content.decode()
    assert amounts(summary)[f"base-sale-{sale.pk}"] == "−750.00&nbsp;₽"
    assert (
        f'<tr data-row="base-sale-{sale.pk}">\n      <th scope="row">Closed sale: Для своих '
        '<span class="muted">25%</span></th>'
    ) in summary


# --- The receipt ------------------------------------------------------------------------


def test_receipt_shows_what_the_purchase_earned(desk, silver_member, store):
    # given a confirmed purchase that earned a coupon and bonus points of campaigns
    confirm(desk, silver_member, receipt(store))
    purchase = Purchase.objects.get()
    coupon_campaign = factories.OfferCampaignFactory(
        name="Купон за покупку", kind="threshold", reward_kind="fixed", reward_value=150
    )
    coupon = factories.CampaignOfferFactory(
        campaign=coupon_campaign,
        member=silver_member,
        title="Купон за покупку: 150 ₽",
        reward_kind="fixed",
        reward_value=Decimal("150"),
        min_receipt=Decimal("500"),
        source_purchase=purchase,
    )
    welcome = factories.OfferCampaignFactory(name="Добро пожаловать", kind="welcome")
    grant = Grant.objects.create(
        campaign=welcome,
        member=silver_member,
        event_key=f"purchase-{purchase.pk}",
        purchase=purchase,
        points=200,
        cost=Decimal("200"),
        created_at=timezone.now(),
    )
    offer(silver_member, name="Чужая покупка", title="Не с этой покупки")
    # and the points of the purchase's own step-3 reward, a line of the breakdown already
    points_offer = offer(
        silver_member, name="Баллы", title="Баллы: 100", kind="points", value="100"
    )
    Grant.objects.create(
        campaign=points_offer.campaign,
        member=silver_member,
        event_key=f"purchase-{purchase.pk}",
        purchase=purchase,
        offer=points_offer,
        points=100,
        cost=Decimal("100"),
        created_at=timezone.now(),
    )

    # when
    response = desk.get(reverse("cashier:purchase", args=[purchase.pk]))

    # then
    html = " ".join(response.content.decode().split())
    assert '<h2 id="earned-title">Earned with this purchase</h2>' in html
    assert (
        f'<li data-offer="offer-{coupon.pk}"><strong>Купон за покупку: 150 ₽</strong> · '
        f'150.00 ₽ <span class="muted">on receipts from 500.00 ₽ · from '
        f"{short_datetime(coupon.valid_from)} to {short_datetime(coupon.valid_until)}</span></li>"
    ) in html
    assert (
        f'<li data-grant="{grant.pk}"><strong>Добро пожаловать</strong> · +200 points</li>'
    ) in html
    assert "Не с этой покупки" not in html
    assert [g.pk for g in response.context["earned_points"]] == [grant.pk]


def test_receipt_without_campaigns_shows_no_earned_section(desk, silver_member, store):
    # given
    confirm(desk, silver_member, receipt(store))
    purchase = Purchase.objects.get()

    # when
    html = desk.get(reverse("cashier:purchase", args=[purchase.pk])).content.decode()

    # then
    assert "Earned with this purchase" not in html
    assert 'data-testid="counters"' not in html


# --- Speed ------------------------------------------------------------------------------


def _seed_campaigns(member, *, offers: int, sales: int, counters: int) -> None:
    for n in range(offers):
        offer(member, name=f"Оффер {offers}-{n}", title=f"Оффер {n}: 30%")
    for n in range(sales):
        invite(open_sale(name=f"Распродажа {sales}-{n}"), member)
    for n in range(counters):
        count_purchases(nth_campaign(name=f"Каждая 5-я {counters}-{n}"), member, n % 5)


def test_member_page_costs_the_same_queries_for_few_and_many_campaigns(
    desk, silver_member, store, django_assert_num_queries
):
    # given one of each
    url = reverse("cashier:member", args=[silver_member.card_number])
    _seed_campaigns(silver_member, offers=1, sales=1, counters=1)
    with django_assert_num_queries(17) as few:
        assert desk.get(url).status_code == 200

    # when many of each
    _seed_campaigns(silver_member, offers=12, sales=6, counters=5)

    # then
    with django_assert_num_queries(len(few.captured_queries)):
        response = desk.get(url)
    assert len(response.context["offers"]) == 13
    assert len(response.context["invitations"]) == 7
    assert len(response.context["counters"]) == 6
