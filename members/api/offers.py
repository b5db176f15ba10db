"""A member's campaigns: offers usable now, closed-sale invitations and N-th purchase
counters. The counters also show in the member view and after a checkout."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign, CampaignKind, Offer, RewardChoices
from campaigns.services.core import offer_reward
from loyalty.api.schema import errors_common
from loyalty.models import Partner
from members import selectors
from members.cards import card_number_clean
from members.models import Member

TAG = "Members"
MONEY = {"max_digits": 12, "decimal_places": 2}


# --- Serializers -----------------------------------------------------------------------


class CounterSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(help_text=_("The campaign's id."))
    name = serializers.CharField(help_text=_("The campaign's name."))
    count = serializers.IntegerField(help_text=_("Purchases counted in the current round."))
    every_n = serializers.IntegerField(help_text=_("N: every N-th purchase gets the reward."))
    remaining = serializers.IntegerField(
        help_text=_(
            "Purchases still to make up to the rewarded one, itself included: "
            "`every_n − count`; 1 means the next purchase gets the reward."
        )
    )
    reference = serializers.CharField(
        help_text=_(
            "Send it as checkout's `choice` on the rewarded purchase to apply this reward "
            "rather than another offer worth more."
        )
    )
    label = serializers.CharField(help_text=_("What to show the member."))

    class Meta:
        ref_name = "PurchaseCounter"


class ProgressSerializer(serializers.Serializer):
    counters = CounterSerializer(
        many=True,
        help_text=_(
            "Progress in every running “every N-th purchase” campaign the member takes part in."
        ),
    )

    class Meta:
        ref_name = "CampaignProgress"


def counter_data(campaign: Campaign, *, count: int) -> dict:
    progress = campaign_selectors.nth_progress(campaign, count=count)
    return {
        "campaign": campaign.pk,
        "name": campaign.name,
        "count": progress.count,
        "every_n": progress.every_n,
        "remaining": progress.remaining,
        "reference": campaign_selectors.nth_reference(campaign),
        "label": progress.label,
    }


def progress_data(member: Member, *, at: dt.datetime) -> dict:
    """The member's N-th purchase counters now."""
    return {
        "counters": [
            counter_data(p.campaign, count=p.count)
            for p in campaign_selectors.member_counters(member, at=at)
        ]
    }


def progress_projected_data(member: Member, *, at: dt.datetime, result) -> dict:
    """The counters as they would be once the evaluated receipt is committed.

    Mirrors the purchase hook (campaigns.services.purchases): a receipt of at least the
    campaign's minimum counts, up to N-1; the rewarded purchase starts a new round.
    """
    chosen = result.chosen.reward if result.chosen is not None else None
    counters = []
    for p in campaign_selectors.member_counters(member, at=at):
        if (
            chosen is not None
            and chosen.source == campaign_selectors.NTH_SOURCE
            and chosen.reference == campaign_selectors.nth_reference(p.campaign)
        ):
            count = 0
        elif result.breakdown.total >= p.campaign.min_receipt:
            count = min(p.count + 1, p.every_n - 1)
        else:
            count = p.count
        counters.append(counter_data(p.campaign, count=count))
    return {"counters": counters}


class OfferRewardSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RewardChoices.choices)
    value = serializers.DecimalField(
        **MONEY, help_text=_("Percent, roubles or bonus points, by `kind` (0.00 for a gift).")
    )
    cap = serializers.DecimalField(
        **MONEY,
        allow_null=True,
        help_text=_("The most a percent discount takes off, in roubles; null: no cap."),
    )
    gift = serializers.CharField(allow_blank=True, help_text=_("The gift of a `gift` offer."))

    class Meta:
        ref_name = "OfferReward"


class OfferCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=CampaignKind.choices)

    class Meta:
        ref_name = "OfferCampaign"


class OfferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField(
        help_text=_(
            "Send it as checkout's `choice` to apply this offer rather than the one worth "
            "most. A gift applies only when chosen."
        )
    )
    title = serializers.CharField(help_text=_("What to show the member."))
    reward = OfferRewardSerializer()
    min_receipt = serializers.DecimalField(
        **MONEY, help_text=_("The smallest receipt total (before discounts) it applies to.")
    )
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(
        help_text=_("The offer burns at this moment: usable strictly before it.")
    )
    campaign = OfferCampaignSerializer()

    class Meta:
        ref_name = "MemberOffer"


def offer_data(offer: Offer) -> dict:
    return {
        "id": offer.pk,
        "reference": offer_reward(offer).reference,
        "title": offer.title,
        "reward": {
            "kind": offer.reward_kind,
            "value": offer.reward_value,
            "cap": offer.reward_cap,
            "gift": offer.gift_name,
        },
        "min_receipt": offer.min_receipt,
        "valid_from": offer.valid_from,
        "valid_until": offer.valid_until,
        "campaign": {
            "id": offer.campaign.pk,
            "name": offer.campaign.name,
            "kind": offer.campaign.kind,
        },
    }


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The closed sale's id: checkout's `sale`."))
    name = serializers.CharField()
    percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text=_("The sale's discount, percent.")
    )
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    is_open = serializers.BooleanField(
        help_text=_("True when the sale price applies now (checkout applies it by itself).")
    )

    class Meta:
        ref_name = "SaleInvitation"


def invitation_data(invitation: campaign_selectors.SaleInvitation) -> dict:
    sale = invitation.campaign
    return {
        "id": sale.pk,
        "name": sale.name,
        "percent": sale.reward_value,
        "starts_at": sale.starts_at,
        "ends_at": sale.ends_at,
        "is_open": invitation.is_open,
    }


class MemberOffersSerializer(serializers.Serializer):
    card_number = serializers.CharField()
    offers = OfferSerializer(
        many=True,
        help_text=_(
            "Personal offers, coupons and gifts usable now, soonest deadline first. "
            "Checkout applies the one worth most by itself (never a gift)."
        ),
    )
    invitations = InvitationSerializer(
        many=True,
        help_text=_("Closed sales the member is invited to that have not ended, soonest first."),
    )
    counters = CounterSerializer(many=True)

    class Meta:
        ref_name = "MemberOffers"


# --- Views -------------------------------------------------------------------------------

COUNTER_EXAMPLE = {
    "campaign": 7,
    "name": "Каждая 5-я покупка −50%",
    "count": 3,
    "every_n": 5,
    "remaining": 2,
    "reference": "nth-7",
    "label": "2 more purchases to the reward",
}
OFFERS_EXAMPLE = {
    "card_number": "2712345678902",
    "offers": [
        {
            "id": 4121,
            "reference": "offer-4121",
            "title": "Весенняя коллекция: 30%",
            "reward": {"kind": "percent", "value": "30.00", "cap": "1500.00", "gift": ""},
            "min_receipt": "1000.00",
            "valid_from": "2026-05-01T00:00:00+03:00",
            "valid_until": "2026-06-01T00:00:00+03:00",
            "campaign": {"id": 5, "name": "Весенняя коллекция", "kind": "offer"},
        },
        {
            "id": 4188,
            "reference": "offer-4188",
            "title": "С днём рождения: Букет тюльпанов",
            "reward": {"kind": "gift", "value": "0.00", "cap": None, "gift": "Букет тюльпанов"},
            "min_receipt": "0.00",
            "valid_from": "2026-05-10T00:00:00+03:00",
            "valid_until": "2026-05-24T00:00:00+03:00",
            "campaign": {"id": 2, "name": "С днём рождения", "kind": "birthday"},
        },
    ],
    "invitations": [
        {
            "id": 9,
            "name": "Закрытая распродажа для своих",
            "percent": "25.00",
            "starts_at": "2026-05-20T10:00:00+03:00",
            "ends_at": "2026-05-22T22:00:00+03:00",
            "is_open": False,
        }
    ],
    "counters": [COUNTER_EXAMPLE],
}


@extend_schema(
    tags=[TAG],
    parameters=[
        OpenApiParameter(
            "card_number",
            str,
            OpenApiParameter.PATH,
            description=_("The member's 13-digit card number."),
        )
    ],
)
class MemberOffersView(APIView):
    required_scope = Partner.Scope.MEMBERS_READ

    @extend_schema(
        operation_id="member_offers",
        summary=_("List a member's offers"),
        description=_(
            "What campaigns hold for the member now: personal offers, coupons and gifts "
            "usable now (send one's `reference` as checkout's `choice` to apply it), "
            "closed sales the member is invited to (`is_open`: the sale price applies "
            "by itself now), and progress towards every N-th purchase reward. Personal "
            "promo codes are listed by GET /members/{card_number}/promocodes/. "
            "Needs `members:read`."
        ),
        responses={
            200: MemberOffersSerializer,
            **errors_common({400: ["bad_card_number"], 404: ["member_not_found"]}),
        },
        examples=[OpenApiExample("Offers", value=OFFERS_EXAMPLE, response_only=True)],
    )
    def get(self, request, card_number: str):
        member = selectors.member_get(card_number=card_number_clean(card_number))
        at = timezone.now()
        data = {
            "card_number": member.card_number,
            "offers": [
                offer_data(o) for o in campaign_selectors.member_offers_usable(member, at=at)
            ],
            "invitations": [
                invitation_data(i) for i in campaign_selectors.member_invitations(member, at=at)
            ],
            **progress_data(member, at=at),
        }
        return Response(MemberOffersSerializer(data).data)
