"""What campaigns gave members: offers, rewards given and participants. Written only by
the campaign mechanics, read-only here for everyone.

These tables grow with every member a campaign reaches: the lists neither count them (a
"next page" link) nor search them by joins (a member's card, phone or e-mail becomes
their id first, through the members' unique indexes).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import AutocompleteSelectFilter
from unfold.decorators import display

from campaigns.models import Grant, Offer, Participant
from loyalty.admin_base import DayRangeFilter, ReadOnlyModelAdmin, admin_link
from members.models import Member
from members.selectors import member_lookup_condition

# At most this many members match one search term (a card, phone and e-mail are unique;
# the limit only bounds the IN list).
MEMBERS_MATCHED = 20

OFFER_LABELS = {
    Offer.Status.ACTIVE: "success",
    Offer.Status.USED: "info",
    Offer.Status.EXPIRED: "",
    Offer.Status.CANCELLED: "warning",
}


def member_search(queryset, search_term: str):
    """get_search_results of a table with a member: the member's exact card number,
    phone or e-mail, as a condition on the table's own member column."""
    term = search_term.strip()
    if not term:
        return queryset, False
    members, condition = member_lookup_condition(term, Member.objects.all())
    if not condition:
        return queryset.none(), False
    ids = list(members.filter(condition).values_list("pk", flat=True)[:MEMBERS_MATCHED])
    return queryset.filter(Q(member_id__in=ids)), False


class CampaignRecordAdmin(ReadOnlyModelAdmin):
    # The newest first through the primary key: no sort of the whole table.
    ordering = ("-pk",)
    list_filter_submit = True
    # The search itself is get_search_results; this turns the search box on.
    search_fields = ("member__card_number",)
    search_help_text = _("The member's exact card number, phone or e-mail.")

    def get_search_results(self, request, queryset, search_term):
        return member_search(queryset, search_term)

    @display(description=_("member"))
    def member_link(self, obj) -> str:
        return admin_link("admin:members_member_change", obj.member, obj.member.card_number)

    @display(description=_("campaign"))
    def campaign_link(self, obj) -> str:
        return admin_link("admin:campaigns_campaign_change", obj.campaign)


@admin.register(Offer)
class OfferAdmin(CampaignRecordAdmin):
    list_display = (
        "title",
        "member_link",
        "status_label",
        "valid_until",
        "purchase_link",
        "used_at",
    )
    list_display_links = ("title",)
    list_select_related = ("member", "purchase")
    list_filter = (
        ("campaign", AutocompleteSelectFilter),
        "status",
        ("valid_until", DayRangeFilter),
    )
    fields = (
        "title",
        "campaign_link",
        "member_link",
        "status_label",
        "event_key",
        "reward_kind",
        "reward_value",
        "reward_cap",
        "min_receipt",
        "gift_name",
        "valid_from",
        "valid_until",
        "source_purchase_link",
        "purchase_link",
        "used_at",
        "created_at",
    )
    readonly_fields = fields

    @display(description=_("status"), ordering="status", label=OFFER_LABELS)
    def status_label(self, obj: Offer) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description=_("earned on"))
    def source_purchase_link(self, obj: Offer) -> str:
        return _purchase_link(obj.source_purchase)

    @display(description=_("used on"))
    def purchase_link(self, obj: Offer) -> str:
        return _purchase_link(obj.purchase)


@admin.register(Grant)
class GrantAdmin(CampaignRecordAdmin):
    list_display = (
        "created_at",
        "campaign",
        "member_link",
        "event_key",
        "discount",
        "points",
        "cost",
        "rolled_back_at",
    )
    list_display_links = ("created_at",)
    list_select_related = ("campaign", "member")
    list_filter = (("campaign", AutocompleteSelectFilter), ("created_at", DayRangeFilter))
    fields = (
        "campaign_link",
        "member_link",
        "event_key",
        "discount",
        "points",
        "cost",
        "purchase_link",
        "offer",
        "created_at",
        "rolled_back_at",
    )
    readonly_fields = fields

    @display(description=_("purchase"))
    def purchase_link(self, obj: Grant) -> str:
        return _purchase_link(obj.purchase)


@admin.register(Participant)
class ParticipantAdmin(CampaignRecordAdmin):
    list_display = ("campaign", "member_link", "is_holdout", "created_at")
    list_display_links = ("campaign",)
    list_select_related = ("campaign", "member")
    list_filter = (("campaign", AutocompleteSelectFilter), "is_holdout")
    fields = ("campaign_link", "member_link", "is_holdout", "created_at")
    readonly_fields = fields


def _purchase_link(purchase) -> str:
    if purchase is None:
        return "—"
    return admin_link("admin:members_purchase_change", purchase, purchase.receipt_number)
