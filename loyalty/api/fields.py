"""Serializer fields of the API contract."""

import re
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from loyalty.rules import money

MONEY_MAX = Decimal("9999999999.99")
# ASCII digits only: Decimal() would accept Arabic-Indic and other Unicode digits.
MONEY_RE = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
MONEY_INPUT_MAX_LENGTH = 32


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "pattern": r"^\d{1,10}(\.\d{1,2})?$", "example": "3000.00"},
            {"type": "number", "multipleOf": 0.01, "example": 3000},
        ]
    }
)
class MoneyField(serializers.Field):
    """An amount of money in: a decimal string ("1500.00") or a JSON number, at most two
    decimal places, 0 to 9,999,999,999.99. Out: always a string with two decimals.

    Booleans, NaN, Infinity, exponents in strings, commas, non-ASCII digits and long
    strings are refused with a field error rather than guessed at.
    """

    default_error_messages = {
        "invalid": _("Enter the amount as a decimal number, e.g. 1500.00."),
        "max_decimal_places": _("Use at most two decimal places."),
        "min_value": _("The amount must be at least %(min)s."),
        "max_value": _("The amount must be at most %(max)s."),
    }

    def __init__(self, *, min_value: Decimal = Decimal("0"), **kwargs):
        self.min_value = min_value
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        if isinstance(data, str):
            data = data.strip()
            if len(data) > MONEY_INPUT_MAX_LENGTH or not MONEY_RE.fullmatch(data):
                self.fail("invalid")
        try:
            amount = Decimal(data)
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not amount.is_finite():
            self.fail("invalid")
        if amount < self.min_value:
            self.fail("min_value", min=self.min_value)
        if amount > MONEY_MAX:
            self.fail("max_value", max=MONEY_MAX)
        # 1E+2 has a positive exponent; 1.005 has -3. Trailing zeros ("1.500") are fine.
        if amount != amount.quantize(Decimal("0.01"), rounding=ROUND_DOWN):
            self.fail("max_decimal_places")
        return money(amount) + 0  # "+ 0" turns "-0.00" into "0.00"

    def to_representation(self, value) -> str:
        return f"{money(value):.2f}"
