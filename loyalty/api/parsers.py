"""The API's JSON parser: exact decimals, bounded bodies, every bad body a 400.

Numbers with a fraction are parsed as Decimal, so `3000.10` never passes through a
float; NaN and Infinity literals become Decimal NaN/Infinity that the amount fields
refuse with a field error. Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE are refused before
they are read into memory.
"""

import codecs
import json
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, parsers, status


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge()
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            codecs.lookup(encoding)
            text = raw.decode(encoding)
            return json.loads(text, parse_float=Decimal, parse_constant=Decimal)
        except (ValueError, LookupError, RecursionError) as exc:
            raise exceptions.ParseError(
                _("The body is not valid JSON: %(error)s") % {"error": exc}
            ) from None
