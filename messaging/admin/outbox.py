"""The outbox: every message with its delivery record, read-only; a failed message can
be sent again; delivery counts per day.

The table grows with every receipt: the list neither counts it (a "next page" link),
nor searches it by joins (a member's card, phone or e-mail becomes their id first).
"""

from __future__ import annotations

import datetime as dt
import json

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.contrib.filters.admin import AutocompleteSelectFilter
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from loyalty.actors import Actor
from loyalty.admin_base import DayRangeFilter, ReadOnlyModelAdmin, admin_link, badge, dialog_done
from members.models import Channel as ActorChannel
from messaging.admin.common import last_days, member_link, member_search
from messaging.admin.forms import DeliveryPeriodForm
from messaging.errors import MessageNotFailed
from messaging.models import Channel, Message
from messaging.selectors import delivery_counts_by_day
from messaging.services import message_resend, messages_resend

STATUS_LABELS = {
    Message.Status.PENDING: "info",
    Message.Status.SENDING: "warning",
    Message.Status.SENT: "success",
    Message.Status.FAILED: "danger",
    Message.Status.SUPPRESSED: "",
}
RESEND_DIALOG = {
    "title": _("Send the message again"),
    "description": _(
        "The message goes back to the queue with its attempts counted afresh and is sent "
        "with its current template, to the member's current address."
    ),
    "form_submit_text": _("Send again"),
}
DELIVERY_TEMPLATE = "admin/messaging/message/delivery_by_day.html"
# The statuses of the delivery figures, in the order of the table and the chart.
DELIVERY_SERIES = (
    ("sent", _("sent"), "#10b981"),
    ("failed", _("failed"), "#ef4444"),
    ("suppressed", _("suppressed"), "#9ca3af"),
    ("waiting", _("waiting"), "#3b82f6"),
)


@admin.register(Message)
class MessageAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "kind",
        "channel",
        "member_link",
        "status_label",
        "attempts",
        "sent_at",
    )
    list_display_links = ("created_at",)
    list_select_related = ("member",)
    list_filter = (
        "status",
        "channel",
        "kind",
        ("campaign", AutocompleteSelectFilter),
        ("created_at", DayRangeFilter),
    )
    list_filter_submit = True
    # The search itself is get_search_results; this turns the search box on.
    search_fields = ("member__card_number",)
    search_help_text = _("The member's exact card number, phone or e-mail.")
    actions = ["resend_selected"]
    actions_detail = ["resend_one"]
    actions_list = ["delivery_by_day"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "kind",
                    "channel",
                    "member_link",
                    "campaign_link",
                    "event_key",
                    "is_marketing",
                    "status_badge",
                    "suppressed_reason",
                    "attempts",
                    "send_after",
                    "created_at",
                    "sent_at",
                    "resent_by",
                )
            },
        ),
        (_("Content"), {"fields": ("recipient", "subject", "body", "context_json")}),
        (_("Provider"), {"fields": ("provider_id", "provider_response", "error")}),
    )
    # Every field shown is read-only: the outbox is written by the delivery service.
    readonly_fields = tuple(name for _title, options in fieldsets for name in options["fields"])

    def get_search_results(self, request, queryset, search_term):
        return member_search(queryset, search_term)

    # --- displays ---------------------------------------------------------------------

    @display(description=_("member"))
    def member_link(self, obj: Message) -> str:
        return member_link(obj)

    @display(description=_("campaign"))
    def campaign_link(self, obj: Message) -> str:
        if obj.campaign_id is None:
            return "—"
        return admin_link("admin:campaigns_campaign_change", obj.campaign)

    @display(description=_("status"), ordering="status", label=STATUS_LABELS)
    def status_label(self, obj: Message) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description=_("status"))
    def status_badge(self, obj: Message) -> str:
        return badge(obj.get_status_display(), STATUS_LABELS[obj.status])

    @display(description=_("context"))
    def context_json(self, obj: Message) -> str:
        if not obj.context:
            return "—"
        text = json.dumps(obj.context, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html('<pre class="whitespace-pre-wrap">{}</pre>', text)

    # --- send again -------------------------------------------------------------------

    # Methods, not dotted names: Unfold checks dotted ones against the database at
    # system-check time, which fails before the first migrate. On a message's page the
    # button shows only while the message is failed.
    def has_resend_permission(self, request, object_id=None) -> bool:
        if not request.user.has_perm("messaging.resend_message"):
            return False
        if object_id is None or not str(object_id).isdigit():
            return True
        return Message.objects.filter(pk=object_id, status=Message.Status.FAILED).exists()

    @action(description=_("Send the selected failed messages again"), permissions=["resend"])
    def resend_selected(self, request, queryset):
        selected = queryset.count()
        queued = messages_resend(
            messages=queryset, actor=Actor.for_user(request.user, ActorChannel.ADMIN)
        )
        self.message_user(request, resend_report(queued, selected - queued), messages.SUCCESS)

    @action(
        description=_("Send again"),
        url_path="resend",
        permissions=["resend"],
        icon="send",
        variant=ActionVariant.PRIMARY,
        dialog=RESEND_DIALOG,
    )
    def resend_one(self, request, form, object_id):
        message = self.get_object(request, unquote(object_id))
        if message is None:
            raise Http404
        try:
            message_resend(message=message, actor=Actor.for_user(request.user, ActorChannel.ADMIN))
        except MessageNotFailed as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, resend_report(1, 0), messages.SUCCESS)
        return dialog_done(request, reverse("admin:messaging_message_change", args=[message.pk]))

    # --- delivery by day --------------------------------------------------------------

    @action(
        description=_("Delivery by day"),
        url_path="delivery",
        permissions=["view"],
        icon="bar_chart",
    )
    def delivery_by_day(self, request):
        form = DeliveryPeriodForm(request.GET or None)
        days = form.days_chosen()
        if not form.is_bound:
            form = DeliveryPeriodForm(initial={"days": days})
        start, end = last_days(days)
        rows = delivery_counts_by_day(start=start, end=end, tz=timezone.get_current_timezone())
        channels = dict(Channel.choices)
        rows = [
            {**row, "channel_label": channels.get(row["channel"], row["channel"])} for row in rows
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Delivery by day"),
            "form": form,
            "days": days,
            "rows": rows,
            "totals": {
                key: sum(row[key] for row in rows) for key, _label, _colour in DELIVERY_SERIES
            },
            "series": [(key, label) for key, label, _colour in DELIVERY_SERIES],
            "chart": json.dumps(delivery_chart(rows, start=start, days=days)),
            "chart_options": json.dumps(CHART_OPTIONS),
            "outbox_url": reverse("admin:messaging_message_changelist"),
        }
        return render(request, DELIVERY_TEMPLATE, context)


def resend_report(queued: int, skipped: int) -> str:
    text = ngettext(
        "%(count)d message queued to be sent again.",
        "%(count)d messages queued to be sent again.",
        queued,
    ) % {"count": queued}
    if skipped:
        text += " " + ngettext(
            "%(count)d skipped: it had not failed.",
            "%(count)d skipped: they had not failed.",
            skipped,
        ) % {"count": skipped}
    return text


# Chart.js options of the stacked bars (Unfold renders a canvas with these; no functions
# can pass through its data attribute, so only plain values here).
CHART_OPTIONS = {
    "animation": False,
    "responsive": True,
    "maintainAspectRatio": False,
    "plugins": {"legend": {"display": True, "align": "end", "position": "top"}},
    "scales": {
        "x": {"stacked": True, "grid": {"display": False}},
        "y": {"stacked": True, "beginAtZero": True, "ticks": {"precision": 0}},
    },
}


def delivery_chart(rows: list[dict], *, start, days: int) -> dict:
    """Chart.js data: one bar per day of the period (days without messages too), each
    stacked from the statuses, all channels together."""
    first = timezone.localtime(start).date()
    dates = [first + dt.timedelta(days=n) for n in range(days)]
    totals = {day: dict.fromkeys((key for key, *_rest in DELIVERY_SERIES), 0) for day in dates}
    for row in rows:
        if row["day"] in totals:
            for key, *_rest in DELIVERY_SERIES:
                totals[row["day"]][key] += row[key]
    return {
        "labels": [formats.date_format(day, "SHORT_DATE_FORMAT") for day in dates],
        "datasets": [
            {
                "label": str(label),
                "data": [totals[day][key] for day in dates],
                "backgroundColor": colour,
                "stack": "messages",
            }
            for key, label, colour in DELIVERY_SERIES
        ],
    }
