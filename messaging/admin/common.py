"""Pieces the message admins share: member search, links, the last days."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from loyalty.admin_base import admin_link, day_start
from members.models import Member
from members.selectors import member_lookup_condition

# At most this many members match one search term (an e-mail, phone and card are unique;
# the limit only bounds the IN list).
MEMBERS_MATCHED = 20


def member_ids_matching(term: str) -> list[int]:
    """Members whose card number, phone or e-mail is exactly `term`, through the
    members' unique indexes (never a join or LIKE on a table of millions of messages)."""
    members, condition = member_lookup_condition(term.strip(), Member.objects.all())
    if not condition:
        return []
    return list(members.filter(condition).values_list("pk", flat=True)[:MEMBERS_MATCHED])


def member_search(queryset, search_term: str, *, extra: Q | None = None):
    """get_search_results of a table with a member: the member's exact card number,
    phone or e-mail (or the `extra` condition, e.g. an exact token)."""
    if not search_term.strip():
        return queryset, False
    condition = Q()
    member_ids = member_ids_matching(search_term)
    if member_ids:
        condition |= Q(member_id__in=member_ids)
    if extra is not None:
        condition |= extra
    if not condition:
        return queryset.none(), False
    return queryset.filter(condition), False


def last_days(days: int) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the last `days` local days, today included."""
    today = timezone.localdate()
    return day_start(today - dt.timedelta(days=days - 1)), day_start(today + dt.timedelta(days=1))


def member_link(obj) -> str:
    """The row's member, linked to the member page (member must be select_related)."""
    return admin_link("admin:members_member_change", obj.member)
