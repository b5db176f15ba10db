"""Admin building blocks every app's admin may use (apps never import each other's admin)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.paginator import InfinitePaginator

LINK_CLASSES = "text-primary-600 dark:text-primary-500"


class ReadOnlyModelAdmin(ModelAdmin):
    """Viewable with the view permission; nobody adds, changes or deletes rows here.

    These tables are written by the services and grow with every receipt: the list pages
    neither count the whole table nor the filtered rows (a "next page" link instead of
    page numbers).
    """

    paginator = InfinitePaginator
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class DayRangeFilter(RangeDateFilter):
    """Days from–to on a date-time column, as aware bounds the index can use (the stock
    filter compares a date-time with a bare date and drops the last day)."""

    def queryset(self, request, queryset):
        start, end = self.bounds()
        if start:
            queryset = queryset.filter(**{f"{self.parameter_name}__gte": start})
        if end:
            queryset = queryset.filter(**{f"{self.parameter_name}__lt": end})
        return queryset

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """[start, end) of the chosen days; None where a side is open."""
        name = self.parameter_name
        first = day_parse(self.used_parameters.get(f"{name}_from"))
        last = day_parse(self.used_parameters.get(f"{name}_to"))
        return (
            day_start(first) if first else None,
            day_start(last + dt.timedelta(days=1)) if last else None,
        )


def day_parse(value) -> dt.date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    for fmt in [*formats.get_format("DATE_INPUT_FORMATS"), "%Y-%m-%d"]:
        try:
            return dt.datetime.strptime(value.strip(), fmt).date()  # noqa: DTZ007 - a day
        except ValueError:
            continue
    return None


def day_start(day: dt.date) -> dt.datetime:
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


def badge(text, variant: str) -> str:
    """Unfold's label on a change page (@display(label=...) styles list cells only)."""
    # Safe: Unfold's template with autoescaping.
    return mark_safe(render_to_string("unfold/helpers/label.html", {"type": variant, "text": text}))
