"""NPS surveys with the NPS of a period above the list, and members' push devices."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from loyalty.admin_base import DayRangeFilter, ReadOnlyModelAdmin, badge, day_parse, day_start
from messaging.admin.common import member_link, member_search
from messaging.models import PushDevice, Survey
from messaging.selectors import nps_for_period

# The NPS above the survey list covers this many days unless a period of answers is chosen.
NPS_DEFAULT_DAYS = 30
# Where a period chosen with only its last day starts: before any answer.
_EARLIEST = dt.date(2000, 1, 1)
GROUPS = {
    "promoter": (_("promoter"), Q(score__gte=9)),
    "passive": (_("passive"), Q(score__in=[7, 8])),
    "detractor": (_("detractor"), Q(score__lte=6)),
}
GROUP_LABELS = {"promoter": "success", "passive": "warning", "detractor": "danger"}
COMMENT_EXCERPT = 80


class AnsweredFilter(admin.SimpleListFilter):
    title = _("answered")
    parameter_name = "answered"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")), ("no", _("No")))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(score__isnull=self.value() == "no")
        return queryset


class GroupFilter(admin.SimpleListFilter):
    title = _("group")
    parameter_name = "group"

    def lookups(self, request, model_admin):
        return (
            ("promoter", _("Promoters (9–10)")),
            ("passive", _("Passives (7–8)")),
            ("detractor", _("Detractors (0–6)")),
        )

    def queryset(self, request, queryset):
        if self.value() in GROUPS:
            return queryset.filter(GROUPS[self.value()][1])
        return queryset


@admin.register(Survey)
class SurveyAdmin(ReadOnlyModelAdmin):
    list_display = (
        "member_link",
        "created_at",
        "channel",
        "score",
        "group_label",
        "answered_at",
        "comment_excerpt",
    )
    list_display_links = ("created_at",)
    list_select_related = ("member",)
    list_filter = (
        AnsweredFilter,
        GroupFilter,
        "channel",
        ("created_at", DayRangeFilter),
        ("answered_at", DayRangeFilter),
    )
    list_filter_submit = True
    # The search itself is get_search_results; this turns the search box on.
    search_fields = ("member__card_number",)
    search_help_text = _("The member's exact card number, phone or e-mail.")
    list_before_template = "admin/messaging/survey/nps.html"
    fields = (
        "member_link",
        "purchase",
        "channel",
        "created_at",
        "score",
        "group_badge",
        "answered_at",
        "comment",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        return member_search(queryset, search_term)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        first, last, is_chosen = nps_period(request.GET)
        start = day_start(first or _EARLIEST)
        end = day_start(last + dt.timedelta(days=1))
        extra_context = {
            **(extra_context or {}),
            "nps": nps_for_period(start=start, end=end),
            "nps_first_day": first,
            "nps_last_day": last,
            "nps_is_chosen": is_chosen,
            "nps_default_days": NPS_DEFAULT_DAYS,
        }
        return super().changelist_view(request, extra_context)

    @display(description=_("member"))
    def member_link(self, obj: Survey) -> str:
        return member_link(obj)

    @display(description=_("group"), label=GROUP_LABELS)
    def group_label(self, obj: Survey):
        if not obj.group:
            return None
        return obj.group, GROUPS[obj.group][0]

    @display(description=_("group"))
    def group_badge(self, obj: Survey) -> str:
        if not obj.group:
            return "—"
        return badge(GROUPS[obj.group][0], GROUP_LABELS[obj.group])

    @display(description=_("comment"))
    def comment_excerpt(self, obj: Survey) -> str:
        return Truncator(obj.comment).chars(COMMENT_EXCERPT)


def nps_period(params) -> tuple[dt.date | None, dt.date, bool]:
    """The first and last day of the answers the NPS above the list counts (no first
    day: from the first answer), and whether they were chosen: the days of the
    "answered" filter, else the last NPS_DEFAULT_DAYS days, today included."""
    first = day_parse(params.get("answered_at_from"))
    last = day_parse(params.get("answered_at_to"))
    today = timezone.localdate()
    if first is None and last is None:
        return today - dt.timedelta(days=NPS_DEFAULT_DAYS - 1), today, False
    return first, last or today, True


@admin.register(PushDevice)
class PushDeviceAdmin(ReadOnlyModelAdmin):
    list_display = ("token_short", "member_link", "platform", "is_active", "created_at")
    list_display_links = ("token_short",)
    list_select_related = ("member",)
    list_filter = ("platform", "is_active", ("created_at", DayRangeFilter))
    list_filter_submit = True
    search_fields = ("=token",)
    search_help_text = _("The exact device token, or the member's card number, phone or e-mail.")
    fields = ("member_link", "platform", "token", "is_active", "created_at")
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        return member_search(queryset, search_term, extra=Q(token=search_term.strip()))

    @display(description=_("member"))
    def member_link(self, obj: PushDevice) -> str:
        return member_link(obj)

    @display(description=_("device token"), ordering="token")
    def token_short(self, obj: PushDevice) -> str:
        return Truncator(obj.token).chars(24)
