"""Pieces the member admins share: a day-range filter, dialogs, tables."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, mark_safe
from unfold.contrib.filters.admin import RangeDateFilter

from loyalty.admin_base import LINK_CLASSES


class DayRangeFilter(RangeDateFilter):
    """Days from–to on a date-time column, turned into aware bounds the index can use
    (the stock filter compares a datetime with a bare date and drops the last day)."""

    def queryset(self, request, queryset):
        name = self.parameter_name
        start = _parse_day(self.used_parameters.get(f"{name}_from"))
        end = _parse_day(self.used_parameters.get(f"{name}_to"))
        if start:
            queryset = queryset.filter(**{f"{name}__gte": _day_start(start)})
        if end:
            queryset = queryset.filter(**{f"{name}__lt": _day_start(end + dt.timedelta(days=1))})
        return queryset


def _parse_day(value) -> dt.date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    for fmt in [*formats.get_format("DATE_INPUT_FORMATS"), "%Y-%m-%d"]:
        try:
            return dt.datetime.strptime(value.strip(), fmt).date()  # noqa: DTZ007 - a day
        except ValueError:
            continue
    return None


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def dialog_done(request, url: str) -> HttpResponse:
    """End a dialog action: htmx follows HX-Redirect, a plain form post a redirect."""
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)


def dialog_again(request, dialog: dict, form) -> HttpResponse:
    return render(
        request,
        "unfold/helpers/dialog.html",
        {"dialog": dialog, "form": form, "form_submit_text": dialog.get("form_submit_text", "")},
    )


def admin_link(url_name: str, obj, text=None) -> str:
    return format_html(
        '<a href="{}" class="{}">{}</a>',
        reverse(url_name, args=[obj.pk]),
        LINK_CLASSES,
        obj if text is None else text,
    )


def html_table(headers: list, rows: list, *, more_url: str = "", more_text: str = "") -> str:
    html = render_to_string(
        "unfold/components/table.html", {"table": {"headers": headers, "rows": rows}}
    )
    if more_url:
        html += format_html(
            '<p class="mt-2"><a href="{}" class="{}">{}</a></p>', more_url, LINK_CLASSES, more_text
        )
    # Safe: rendered by a template with autoescaping, plus format_html.
    return mark_safe(html)
