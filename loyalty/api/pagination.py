"""Cursor pages, newest first: stable under inserts, and no COUNT(*) over big tables."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers
from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a mangled cursor with 404; it is bad input, like any other.
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise serializers.ValidationError(
                {"cursor": [_("Invalid cursor: follow the `next` and `previous` links as given.")]}
            ) from None
