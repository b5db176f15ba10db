"""Filter fields of the API: bounded, time-zone safe date-time ranges."""

import datetime as dt

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


class UtcDateTimeField(forms.DateTimeField):
    """An ISO 8601 date-time (or date), turned into UTC.

    Python accepts offsets up to ±23:59 and years 1 to 9999; PostgreSQL refuses offsets
    past ±15:59 and converting year 1 to UTC can overflow, so the value is bounded and
    normalised here rather than failing in the database.
    """

    default_error_messages = {
        "out_of_range": _("Enter a date-time between 1900 and 9000."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", [django_filters.fields.IsoDateTimeField.ISO_8601])
        super().__init__(**kwargs)

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        if not EARLIEST <= parsed <= LATEST:
            raise forms.ValidationError(self.error_messages["out_of_range"], code="out_of_range")
        return parsed.astimezone(dt.UTC)


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField
