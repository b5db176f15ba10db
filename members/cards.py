"""Card numbers: EAN-13 with an in-store prefix (20-29) and a check digit, so a
mistyped digit or two swapped neighbours are caught before the database is asked."""

import io
import secrets

import barcode
import segno
from barcode.writer import SVGWriter
from django.conf import settings

CARD_LENGTH = 13


def ean13_check_digit(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def card_number_generate() -> str:
    prefix = settings.LOYALTY_CARD_PREFIX
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(12 - len(prefix)))
    return body + ean13_check_digit(body)


def card_number_clean(value: str) -> str:
    """A card number as printed or typed, without its spaces and dashes:
    "2 712345 678903" and "2712-3456-78903" are the same card."""
    return "".join(value.split()).replace("-", "")


def card_number_is_valid(value: str) -> bool:
    return (
        len(value) == CARD_LENGTH
        and value.isascii()
        and value.isdigit()
        and ean13_check_digit(value[:12]) == value[12]
    )


def card_qr_svg(card_number: str) -> str:
    out = io.BytesIO()
    segno.make(card_number, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def card_barcode_svg(card_number: str) -> str:
    out = io.BytesIO()
    barcode.get("ean13", card_number, writer=SVGWriter()).write(
        out, options={"module_height": 12.0, "font_size": 8, "text_distance": 4}
    )
    svg = out.getvalue().decode()
    return svg[svg.index("<svg") :]
