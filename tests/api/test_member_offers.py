"""Campaigns in the partner API: a member's offers, invitations and N-th purchase
counters; the counters in the member view and after a checkout; a named closed sale
(`sale`) and an offer chosen by its reference in evaluate and commit."""

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext
from rest_framework import serializers

from campaigns.models import Campaign, Offer, Participant, PurchaseCounter
from members.cards import card_number_generate
from members.models import Purchase
from tests import factories
from tests.api.conftest import client_with_key


def in_api_language(translate, *args) -> str:
    """A text as the API answers it: in the program's language (no Accept-Language)."""
    with translation.override(settings.LANGUAGE_CODE):
        return translate(*args)


def to_reward(remaining: int) -> str:
    if remaining <= 1:
        return in_api_language(gettext, "The next purchase gets the reward")
    return in_api_language(
        ngettext,
        "%(count)s more purchase to the reward",
        "%(count)s more purchases to the reward",
        remaining,
    ) % {"count": remaining}


EVALUATE = "/api/v1/checkout/evaluate/"
COMMIT = "/api/v1/checkout/commit/"

pytestmark = pytest.mark.django_db


def offers_url(member) -> str:
    return f"/api/v1/members/{member.card_number}/offers/"


def iso(moment: dt.datetime | None) -> str | None:
    """A time as the API writes it."""
    return None if moment is None else serializers.DateTimeField().to_representation(moment)


def invite(sale, member, *, is_holdout=False):
    return Participant.objects.create(
        campaign=sale, member=member, is_holdout=is_holdout, created_at=timezone.now()
    )


def open_sale(name="Для своих", **kwargs):
    now = timezone.now()
    return factories.ClosedSaleFactory(
        name=name,
        status=Campaign.Status.ACTIVE,
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=1),
        **kwargs,
    )


def counted(campaign, member, count: int):
    PurchaseCounter.objects.create(
        campaign=campaign, member=member, count=count, updated_at=timezone.now()
    )


@pytest.fixture
def fifth():
    return factories.NthPurchaseCampaignFactory(name="Каждая 5-я покупка", every_n=5)


@pytest.fixture
def spring(silver_member):
    campaign = factories.OfferCampaignFactory(
        name="Весна", reward_cap=Decimal("1500"), min_receipt=Decimal("1000")
    )
    return factories.CampaignOfferFactory(
        campaign=campaign,
        member=silver_member,
        title="Весна: 30%",
        reward_cap=Decimal("1500"),
        min_receipt=Decimal("1000"),
    )


@pytest.fixture
def gift(silver_member):
    campaign = factories.OfferCampaignFactory(
        name="С днём рождения", kind="birthday", reward_kind="gift", gift_name="Букет"
    )
    return factories.CampaignOfferFactory(
        campaign=campaign,
        member=silver_member,
        title="С днём рождения: Букет",
        reward_kind="gift",
        reward_value=Decimal("0"),
        gift_name="Букет",
        valid_until=timezone.now() + dt.timedelta(days=14),
    )


# --- GET /members/{card}/offers/ --------------------------------------------------------


def test_offers_lists_usable_offers_invitations_and_counters(
    api, silver_member, spring, gift, fifth
):
    # given an open sale and an upcoming one the member is invited to, a counter at 3/5,
    # and what must not show: a used offer, a sale the member is held out of, an ended one
    sale = open_sale(reward_value=Decimal("20"))
    upcoming = factories.ClosedSaleFactory(name="Скоро")
    invite(sale, silver_member)
    invite(upcoming, silver_member)
    invite(open_sale(name="Контроль"), silver_member, is_holdout=True)
    ended = factories.ClosedSaleFactory(
        name="Прошла",
        status=Campaign.Status.FINISHED,
        starts_at=timezone.now() - dt.timedelta(days=3),
        ends_at=timezone.now() - dt.timedelta(days=1),
    )
    invite(ended, silver_member)
    factories.CampaignOfferFactory(member=silver_member, status=Offer.Status.CANCELLED)
    counted(fifth, silver_member, 3)

    # when
    response = api.get(offers_url(silver_member))

    # then
    assert response.status_code == 200
    assert response.json() == {
        "card_number": silver_member.card_number,
        "offers": [
            {
                "id": spring.pk,
                "reference": f"offer-{spring.pk}",
                "title": "Весна: 30%",
                "reward": {"kind": "percent", "value": "30.00", "cap": "1500.00", "gift": ""},
                "min_receipt": "1000.00",
                "valid_from": iso(spring.valid_from),
                "valid_until": iso(spring.valid_until),
                "campaign": {"id": spring.campaign_id, "name": "Весна", "kind": "offer"},
            },
            {
                "id": gift.pk,
                "reference": f"offer-{gift.pk}",
                "title": "С днём рождения: Букет",
                "reward": {"kind": "gift", "value": "0.00", "cap": None, "gift": "Букет"},
                "min_receipt": "0.00",
                "valid_from": iso(gift.valid_from),
                "valid_until": iso(gift.valid_until),
                "campaign": {
                    "id": gift.campaign_id,
                    "name": "С днём рождения",
                    "kind": "birthday",
                },
            },
        ],
        "invitations": [
            {
                "id": sale.pk,
                "name": "Для своих",
                "percent": "20.00",
                "starts_at": iso(sale.starts_at),
                "ends_at": iso(sale.ends_at),
                "is_open": True,
            },
            {
                "id": upcoming.pk,
                "name": "Скоро",
                "percent": "25.00",
                "starts_at": iso(upcoming.starts_at),
                "ends_at": iso(upcoming.ends_at),
                "is_open": False,
            },
        ],
        "counters": [
            {
                "campaign": fifth.pk,
                "name": "Каждая 5-я покупка",
                "count": 3,
                "every_n": 5,
                "remaining": 2,
                "reference": f"nth-{fifth.pk}",
                "label": to_reward(2),
            }
        ],
    }


def test_offers_of_a_member_without_campaigns_are_empty_lists(api, silver_member):
    # when
    response = api.get(offers_url(silver_member))

    # then
    assert response.status_code == 200
    assert response.json() == {
        "card_number": silver_member.card_number,
        "offers": [],
        "invitations": [],
        "counters": [],
    }


def test_the_counter_before_the_rewarded_purchase_says_the_next_one_gets_it(
    api, silver_member, fifth
):
    # given
    counted(fifth, silver_member, 4)

    # when
    counters = api.get(offers_url(silver_member)).json()["counters"]

    # then
    assert [(c["count"], c["remaining"], c["label"]) for c in counters] == [(4, 1, to_reward(1))]


def test_offers_accepts_the_card_number_as_printed(api, silver_member):
    # given
    printed = f"{silver_member.card_number[:4]} {silver_member.card_number[4:]}"

    # when
    response = api.get(f"/api/v1/members/{printed}/offers/")

    # then
    assert response.status_code == 200
    assert response.json()["card_number"] == silver_member.card_number


def test_offers_of_an_unknown_card_is_404(api, silver_member):
    # when
    response = api.get(f"/api/v1/members/{card_number_generate()}/offers/")

    # then
    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"


def test_offers_of_a_mistyped_card_is_400(api, silver_member):
    # given the member's card with a wrong check digit
    number = silver_member.card_number
    mistyped = number[:-1] + str((int(number[-1]) + 1) % 10)

    # when
    response = api.get(f"/api/v1/members/{mistyped}/offers/")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "bad_card_number"


def test_offers_needs_the_members_read_scope(silver_member):
    # given a key whose partner may only check out
    checkout_only = factories.partner_key(factories.PartnerFactory(scopes=["checkout"]))

    # when
    forbidden = client_with_key(checkout_only).get(offers_url(silver_member))
    anonymous = client_with_key(None).get(offers_url(silver_member))
    reader = client_with_key(
        factories.partner_key(factories.PartnerFactory(scopes=["members:read"]))
    ).get(offers_url(silver_member))

    # then
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "permission_denied")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert reader.status_code == 200


def _seed(member, *, n: int) -> None:
    for i in range(n):
        factories.CampaignOfferFactory(
            campaign=factories.OfferCampaignFactory(name=f"Оффер {n}-{i}"), member=member
        )
        invite(open_sale(name=f"Распродажа {n}-{i}"), member)
        counted(factories.NthPurchaseCampaignFactory(name=f"Каждая 5-я {n}-{i}"), member, i % 5)


def test_offers_costs_the_same_queries_for_1_and_10_of_each(
    api, silver_member, django_assert_num_queries
):
    # given one offer, invitation and counter
    _seed(silver_member, n=1)

    # when / then: the key with its partner, the member, the offers with their campaigns,
    # the counters with their campaigns, the invitations
    with django_assert_num_queries(5):
        assert len(api.get(offers_url(silver_member)).json()["offers"]) == 1

    # given ten of each
    _seed(silver_member, n=10)

    # when / then
    with django_assert_num_queries(5):
        body = api.get(offers_url(silver_member)).json()
    assert [len(body[k]) for k in ("offers", "invitations", "counters")] == [11, 11, 11]


# --- The member view ---------------------------------------------------------------------


def test_member_view_shows_the_counters(api, silver_member, fifth):
    # given
    counted(fifth, silver_member, 2)

    # when
    body = api.get(f"/api/v1/members/{silver_member.card_number}/").json()

    # then
    assert body["progress"] == {
        "counters": [
            {
                "campaign": fifth.pk,
                "name": "Каждая 5-я покупка",
                "count": 2,
                "every_n": 5,
                "remaining": 3,
                "reference": f"nth-{fifth.pk}",
                "label": to_reward(3),
            }
        ]
    }


# --- Checkout ------------------------------------------------------------------------------


def test_evaluate_and_commit_show_the_counters_afterwards(api, checkout_body, silver_member, fifth):
    # given four purchases counted: this receipt is the 5th and gets 50% off
    counted(fifth, silver_member, 4)
    body = {**checkout_body, "points_to_spend": 0}

    # when
    evaluated = api.post(EVALUATE, body, format="json").json()
    committed = api.post(COMMIT, body, format="json").json()

    # then both name the reward and show the counter starting again
    for response in (evaluated, committed):
        step = next(s for s in response["steps"] if s["rule"] == "nth_purchase")
        assert step == {
            "rule": "nth_purchase",
            "label": in_api_language(
                ngettext,
                "Reward for every %(n)s purchase: %(name)s",
                "Reward for every %(n)s purchases: %(name)s",
                5,
            )
            % {"n": 5, "name": "Каждая 5-я покупка"},
            "amount": "1425.00",
            "unit": "money",
            "detail": f"nth-{fifth.pk}",
        }
        assert response["member"]["progress"] == {
            "counters": [
                {
                    "campaign": fifth.pk,
                    "name": "Каждая 5-я покупка",
                    "count": 0,
                    "every_n": 5,
                    "remaining": 5,
                    "reference": f"nth-{fifth.pk}",
                    "label": to_reward(5),
                }
            ]
        }


def test_evaluate_projects_a_counted_purchase(api, checkout_body, silver_member, fifth):
    # given two purchases counted
    counted(fifth, silver_member, 2)

    # when
    body = api.post(EVALUATE, checkout_body, format="json").json()

    # then
    assert [(c["count"], c["remaining"]) for c in body["member"]["progress"]["counters"]] == [
        (3, 2)
    ]
    assert PurchaseCounter.objects.get(campaign=fifth).count == 2


def test_an_offer_chosen_by_reference_applies(api, checkout_body, silver_member, spring):
    # given a 500 ₽ coupon worth less than the 30% offer on this receipt
    coupon_campaign = factories.OfferCampaignFactory(
        name="Купон", reward_kind="fixed", reward_value=Decimal("500")
    )
    coupon = factories.CampaignOfferFactory(
        campaign=coupon_campaign,
        member=silver_member,
        title="Купон: 500 ₽",
        reward_kind="fixed",
        reward_value=Decimal("500"),
    )
    body = {**checkout_body, "points_to_spend": 0}

    # when
    best = api.post(EVALUATE, body, format="json").json()
    chosen = api.post(COMMIT, {**body, "choice": f"offer-{coupon.pk}"}, format="json")

    # then
    assert [s for s in best["steps"] if s["rule"] == "offer"] == [
        {
            "rule": "offer",
            "label": "Весна: 30%",
            "amount": "855.00",
            "unit": "money",
            "detail": f"offer-{spring.pk}",
        }
    ]
    assert chosen.status_code == 201
    assert chosen.json()["code_discount"] == "500.00"
    coupon.refresh_from_db()
    assert (coupon.status, coupon.purchase_id) == ("used", chosen.json()["purchase_id"])


def test_a_named_open_sale_the_member_is_invited_to_applies(api, checkout_body, silver_member):
    # given
    sale = open_sale()
    invite(sale, silver_member)
    body = {**checkout_body, "points_to_spend": 0, "sale": sale.pk}

    # when
    evaluated = api.post(EVALUATE, body, format="json")
    committed = api.post(COMMIT, body, format="json")

    # then
    for response in (evaluated, committed):
        assert response.status_code in (200, 201)
        assert response.json()["base_discount"] == "750.00"
        assert response.json()["steps"][1] == {
            "rule": f"sale-{sale.pk}",
            "label": in_api_language(gettext, "Closed sale: %(name)s") % {"name": "Для своих"},
            "amount": "750.00",
            "unit": "money",
            "detail": "25.00%",
        }
    assert Purchase.objects.get().base_source == f"sale-{sale.pk}"


def _refusals(silver_member):
    uninvited = open_sale(name="Не для вас")
    closed = factories.ClosedSaleFactory(name="Скоро")
    invite(closed, silver_member)
    offer_campaign = factories.OfferCampaignFactory(name="Не распродажа")
    return [
        (uninvited.pk, 400, "sale_not_invited"),
        (closed.pk, 400, "sale_not_open"),
        (offer_campaign.pk, 404, "sale_not_found"),
        (2**62, 404, "sale_not_found"),
    ]


def test_a_named_sale_that_does_not_apply_is_refused_and_nothing_is_recorded(
    api, checkout_body, silver_member
):
    # given
    refusals = _refusals(silver_member)

    for sale, status, code in refusals:
        for url in (EVALUATE, COMMIT):
            # when
            response = api.post(url, {**checkout_body, "sale": sale}, format="json")

            # then
            assert (response.status_code, response.json()["code"]) == (status, code)
    assert Purchase.objects.count() == 0
    silver_member.refresh_from_db()
    assert silver_member.points_balance == 500


@pytest.mark.parametrize("sale", [0, -1, "abc", 2**63, True])
def test_a_malformed_sale_is_a_field_error(api, checkout_body, sale):
    # when
    response = api.post(EVALUATE, {**checkout_body, "sale": sale}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["errors"]) == ["sale"]


def test_sale_null_is_no_sale(api, checkout_body):
    # when
    response = api.post(EVALUATE, {**checkout_body, "sale": None}, format="json")

    # then
    assert response.status_code == 200
    assert response.json()["base_discount"] == "150.00"
