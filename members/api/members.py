"""Members: enrol, list, read one with progress and expiring points."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from loyalty.actors import Actor
from loyalty.api.filters import UtcDateTimeFilter
from loyalty.api.pagination import NewestFirstPagination
from loyalty.api.schema import errors_common
from loyalty.models import Partner, ProgramSettings, Tier
from members import selectors
from members.api.offers import COUNTER_EXAMPLE, ProgressSerializer, progress_data
from members.models import Member
from members.services import member_enroll
from members.services.referrals import member_referral_code

TAG = "Members"


# --- Serializers -----------------------------------------------------------------------


class TierSerializer(serializers.Serializer):
    name = serializers.CharField()
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, help_text=_("Discount of the tier, percent.")
    )
    earn_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        help_text=_("Points earned per 100 of money paid (1 point = 1 ruble)."),
    )


class NextTierSerializer(serializers.Serializer):
    name = serializers.CharField()
    basis = serializers.ChoiceField(
        choices=ProgramSettings.TierBasis.choices,
        help_text=_("What counts towards tiers: money spent or number of purchases."),
    )
    remaining = serializers.CharField(
        help_text=_(
            'What is still missing to reach the tier: money (`"1150.00"`) with basis '
            '`spend`, a number of purchases (`"3"`) with basis `purchases`.'
        )
    )


class ExpiringPointsSerializer(serializers.Serializer):
    amount = serializers.IntegerField(help_text=_("Points that burn on `date`."))
    date = serializers.DateField(help_text=_("The day of the member's next burn."))


class ConsentsSerializer(serializers.Serializer):
    email = serializers.BooleanField(source="consent_email")
    sms = serializers.BooleanField(source="consent_sms")
    push = serializers.BooleanField(source="consent_push")


class ConsentsInputSerializer(serializers.Serializer):
    email = serializers.BooleanField(required=False, default=False)
    sms = serializers.BooleanField(required=False, default=False)
    push = serializers.BooleanField(required=False, default=False)

    class Meta:
        ref_name = "Consents"


def next_tier_data(progress: selectors.MemberProgress) -> dict | None:
    if progress.next_tier is None:
        return None
    remaining = progress.next_tier_remaining
    if progress.tier_basis == ProgramSettings.TierBasis.PURCHASES:
        remaining_text = str(int(remaining))
    else:
        remaining_text = f"{remaining:.2f}"
    return {
        "name": progress.next_tier.name,
        "basis": progress.tier_basis,
        "remaining": remaining_text,
    }


class MemberSerializer(serializers.ModelSerializer):
    """A member as the list shows them."""

    tier = TierSerializer(read_only=True)
    consents = ConsentsSerializer(source="*", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Member
        fields = [
            "card_number",
            "first_name",
            "last_name",
            "tier",
            "points_balance",
            "consents",
            "joined_at",
        ]
        read_only_fields = fields


class MemberDetailSerializer(MemberSerializer):
    """A member with their progress to the next tier and their next burn of points."""

    # Needs `progress` (selectors.member_progress) in the serializer context.

    next_tier = serializers.SerializerMethodField(
        help_text=_("The tier above the member's and what is missing to reach it; null at the top.")
    )
    expiring_points = serializers.SerializerMethodField(
        help_text=_("The member's next burn of points; null when no points will burn.")
    )
    referral_code = serializers.CharField(
        read_only=True,
        help_text=_(
            "The member's code for inviting friends: a friend enrols with it, and both "
            "get points after the friend's first purchase."
        ),
    )

    class Meta(MemberSerializer.Meta):
        fields = [
            *MemberSerializer.Meta.fields,
            "next_tier",
            "expiring_points",
            "referral_code",
            "progress",
        ]
        read_only_fields = fields

    # Campaigns: N-th purchase counters; needs `campaign_progress` (offers.progress_data)
    # in the context.
    progress = serializers.SerializerMethodField(
        help_text=_("Progress in campaigns: counters towards every N-th purchase reward.")
    )

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, member) -> dict:
        return self.context["campaign_progress"]

    @extend_schema_field(NextTierSerializer(allow_null=True))
    def get_next_tier(self, member) -> dict | None:
        return next_tier_data(self.context["progress"])

    @extend_schema_field(ExpiringPointsSerializer(allow_null=True))
    def get_expiring_points(self, member) -> dict | None:
        expiring = self.context["progress"].expiring
        if expiring is None:
            return None
        return {"amount": expiring.amount, "date": expiring.date}


class MemberEnrolSerializer(serializers.Serializer):
    phone = serializers.CharField(
        max_length=32,
        help_text=_("Russian or international, as people type it: “8 912 345-67-89”."),
    )
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100, required=False, default="")
    email = serializers.EmailField(max_length=254, required=False, default="", allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    store = serializers.CharField(
        max_length=20,
        required=False,
        default="",
        allow_blank=True,
        help_text=_("Code of the store where the member joined, if any (e.g. MSK-01)."),
    )
    consents = ConsentsInputSerializer(
        required=False,
        help_text=_("Consent to messages per channel; a channel left out is not consented."),
    )
    referral_code = serializers.CharField(
        max_length=32,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "The referral code of the member who invited this one, if any; spaces, "
            "dashes and case do not matter."
        ),
    )

    def validate_phone(self, value: str) -> str:
        e164 = selectors.phone_normalise(value)
        if e164 is None:
            raise serializers.ValidationError(
                _("Enter a valid phone number, e.g. +7 912 345-67-89.")
            )
        return e164

    def validate_birth_date(self, value: dt.date | None) -> dt.date | None:
        if value is not None and not dt.date(1900, 1, 1) <= value <= timezone.localdate():
            raise serializers.ValidationError(_("Enter a birth date between 1900 and today."))
        return value


# --- Filters -----------------------------------------------------------------------------


class MemberFilter(django_filters.FilterSet):
    phone = django_filters.CharFilter(
        method="filter_phone",
        max_length=32,
        help_text=_("Exact phone, in any usual format (normalised like on enrolment)."),
    )
    email = django_filters.CharFilter(
        field_name="email",
        lookup_expr="iexact",
        max_length=254,
        help_text=_("Exact e-mail, case-insensitive."),
    )
    tier = django_filters.CharFilter(
        method="filter_tier",
        max_length=100,
        help_text=_("Tier name as in `tier.name`, case-insensitive."),
    )
    created_after = UtcDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text=_("Joined at or after this ISO 8601 time."),
    )
    created_before = UtcDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        help_text=_("Joined before this ISO 8601 time."),
    )

    class Meta:
        model = Member
        fields = ["phone", "email", "tier", "created_after", "created_before"]

    def filter_phone(self, queryset, name, value):
        e164 = selectors.phone_normalise(value)
        if e164 is None:
            raise serializers.ValidationError({"phone": [_("Enter a valid phone number.")]})
        return queryset.filter(phone=e164)

    def filter_tier(self, queryset, name, value):
        # Compared in Python: SQLite's case-insensitive matching knows only ASCII, and
        # tier names are Russian. A program has a handful of tiers.
        wanted = value.strip().casefold()
        ids = [t.pk for t in Tier.objects.only("name") if t.name.casefold() == wanted]
        return queryset.filter(tier_id__in=ids)


# --- Views -------------------------------------------------------------------------------

NEW_COUNTER_EXAMPLE = {
    **COUNTER_EXAMPLE,
    "count": 0,
    "remaining": 5,
    "label": "5 more purchases to the reward",
}
MEMBER_EXAMPLE = {
    "card_number": "2712345678902",
    "first_name": "Анна",
    "last_name": "Смирнова",
    "tier": {"name": "Серебряный", "discount_percent": "5.00", "earn_percent": "2.00"},
    "points_balance": 500,
    "consents": {"email": True, "sms": False, "push": False},
    "joined_at": "2026-03-01T12:00:00+03:00",
    "next_tier": {"name": "Золотой", "basis": "spend", "remaining": "17150.00"},
    "expiring_points": {"amount": 120, "date": "2026-12-01"},
    "referral_code": "KX7M2PQA",
    "progress": {"counters": [COUNTER_EXAMPLE]},
}


@extend_schema(tags=[TAG])
class MemberViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Member.objects.select_related("tier")
    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    pagination_class = NewestFirstPagination
    lookup_field = "card_number"
    lookup_value_regex = "[^/]+"

    def get_required_scope(self, request) -> str:
        if self.action == "create":
            return Partner.Scope.MEMBERS_WRITE
        return Partner.Scope.MEMBERS_READ

    def member_response(self, member: Member, *, status_code: int = 200, **kwargs) -> Response:
        member_referral_code(member)  # generated on first use
        progress = selectors.member_progress(member)
        context = {
            "progress": progress,
            "campaign_progress": progress_data(member, at=timezone.now()),
        }
        data = MemberDetailSerializer(member, context=context).data
        return Response(data, status=status_code, **kwargs)

    @extend_schema(
        operation_id="member_enrol",
        summary=_("Enrol a member"),
        description=_(
            "Creates a member on the lowest tier with a new card number and records the "
            "consents given on your site. The phone and e-mail must not belong to "
            "another member. With `referral_code`, the member who owns it invited this "
            "one: both get points after this member's first purchase; an unknown code "
            "refuses the enrolment (400 `referral_code_unknown`). Needs the scope "
            "`members:write`."
        ),
        request=MemberEnrolSerializer,
        responses={
            201: MemberDetailSerializer,
            **errors_common(
                {400: ["store_not_found", "referral_code_unknown"], 409: ["member_exists"]},
                has_body=True,
            ),
        },
        examples=[
            OpenApiExample(
                "Enrol",
                request_only=True,
                value={
                    "phone": "8 912 345-67-89",
                    "first_name": "Анна",
                    "last_name": "Смирнова",
                    "email": "anna@example.ru",
                    "birth_date": "1990-05-17",
                    "consents": {"email": True, "sms": False, "push": False},
                },
            ),
            OpenApiExample(
                "Enrolled",
                response_only=True,
                status_codes=["201"],
                value={
                    **MEMBER_EXAMPLE,
                    "tier": {"name": "Базовый", "discount_percent": "0.00", "earn_percent": "1.00"},
                    "points_balance": 0,
                    "next_tier": {"name": "Серебряный", "basis": "spend", "remaining": "2000.00"},
                    "expiring_points": None,
                    # A new member takes part in running N-th purchase campaigns at once.
                    "progress": {"counters": [NEW_COUNTER_EXAMPLE]},
                },
            ),
        ],
    )
    def create(self, request):
        serializer = MemberEnrolSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = member_enroll(
            phone=data["phone"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            email=data["email"],
            birth_date=data["birth_date"],
            joined_store=selectors.store_get(code=data["store"]) if data["store"] else None,
            consents=data.get("consents") or {},
            referral_code=data["referral_code"],
            actor=Actor.for_partner(request.partner),
        )
        member = Member.objects.select_related("tier").get(pk=member.pk)
        location = reverse("api-member-detail", kwargs={"card_number": member.card_number})
        return self.member_response(
            member, status_code=status.HTTP_201_CREATED, headers={"Location": location}
        )

    @extend_schema(
        operation_id="member_list",
        summary=_("List members"),
        description=_(
            "Newest first, 50 a page (`page_size` up to 200); follow `next` for more. "
            "Find a member's card by phone with `?phone=89123456789`. Needs `members:read`."
        ),
        responses={200: MemberSerializer(many=True), **errors_common({400: ["invalid"]})},
        examples=[
            OpenApiExample(
                "A page",
                # drf-spectacular puts it in a page
                value={
                    k: v
                    for k, v in MEMBER_EXAMPLE.items()
                    if k not in ("next_tier", "expiring_points", "referral_code", "progress")
                },
                response_only=True,
            )
        ],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="member_get",
        summary=_("Read a member"),
        description=_(
            "Tier with its discount and earn rate, points balance, progress to the next "
            "tier, the next burn of points and, in `progress.counters`, progress towards "
            "every N-th purchase reward (offers and invitations: GET "
            "/members/{card_number}/offers/). A 13-digit card number whose check digit "
            "does not match is refused as a typo (400 `bad_card_number`). "
            "Needs `members:read`."
        ),
        responses={
            200: MemberDetailSerializer,
            **errors_common({400: ["bad_card_number"], 404: ["member_not_found"]}),
        },
        examples=[OpenApiExample("Silver member", value=MEMBER_EXAMPLE, response_only=True)],
    )
    def retrieve(self, request, card_number: str):
        return self.member_response(selectors.member_get(card_number=card_number))
