"""OpenAPI helpers: the error body and each endpoint's documented error responses.

`error_responses({404: ["member_not_found"], ...})` gives the `responses` entries of
`extend_schema` for the codes an endpoint returns, each with an example body; the
errors every endpoint can give (authentication, scope, throttling, bad JSON) are
added by `errors_common`.
"""

from __future__ import annotations

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from loyalty.api.errors import ERROR_CODE_CHOICES, ERROR_CODES

STATUS_TEXT = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Idempotency key reused",
    429: "Too many requests",
}

EXAMPLE_EXTRAS = {
    "invalid": {"errors": {"total": ["Use at most two decimal places."]}},
    "points_over_limit": {"allowed": 500},
}


class ErrorSerializer(serializers.Serializer):
    """Every error: a stable machine-readable `code` and a human `detail`.

    Branch on `code`, show `detail` to people (it may be translated and reworded).
    """

    code = serializers.ChoiceField(
        choices=ERROR_CODE_CHOICES, help_text=_("Stable error code; see the list.")
    )
    detail = serializers.CharField(help_text=_("Human-readable message."))
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text=_(
            "Only with `invalid`: the messages per field, e.g. "
            '`{"total": ["Use at most two decimal places."]}`; nested fields nest.'
        ),
    )
    allowed = serializers.IntegerField(
        required=False,
        help_text=_("Only with `points_over_limit`: how many points may pay this receipt."),
    )

    class Meta:
        ref_name = "Error"


def _example(code: str, status: int) -> OpenApiExample:
    body = {"code": code, "detail": ERROR_CODES[code], **EXAMPLE_EXTRAS.get(code, {})}
    return OpenApiExample(code, value=body, status_codes=[str(status)], response_only=True)


def error_responses(codes_by_status: dict[int, list[str]]) -> dict[int, OpenApiResponse]:
    responses = {}
    for status, codes in sorted(codes_by_status.items()):
        unknown = [c for c in codes if c not in ERROR_CODES]
        if unknown:
            raise ValueError(f"undocumented error codes: {unknown}")
        # Lazy, so the schema is rendered in the language of the request.
        template = "\n".join(["{}.\n"] + [f"- `{c}`: {{}}" for c in codes])
        responses[status] = OpenApiResponse(
            ErrorSerializer,
            description=format_lazy(
                template, STATUS_TEXT.get(status, "Error"), *(ERROR_CODES[c] for c in codes)
            ),
            examples=[_example(c, status) for c in codes],
        )
    return responses


def errors_common(
    codes_by_status: dict[int, list[str]] | None = None, *, has_body: bool = False
) -> dict[int, OpenApiResponse]:
    """The endpoint's own error codes plus those every endpoint can return."""
    merged: dict[int, list[str]] = {
        401: ["not_authenticated", "authentication_failed"],
        403: ["permission_denied"],
        429: ["throttled"],
    }
    if has_body:
        merged[400] = ["invalid", "parse_error"]
        merged[413] = ["request_too_large"]
        merged[415] = ["unsupported_media_type"]
    for status, codes in (codes_by_status or {}).items():
        merged.setdefault(status, [])
        merged[status] += [c for c in codes if c not in merged[status]]
    return error_responses(merged)
