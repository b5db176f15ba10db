"""The API documentation pages (Swagger UI, Redoc), served from this server only.

drf-spectacular-sidecar ships the scripts; the stock Redoc template's Google Fonts are
left out (templates/api/redoc.html), and a Content-Security-Policy keeps the pages
from fetching anything elsewhere: the Redoc bundle shows its vendor's logo from a CDN,
which the policy blocks (the logo then hides itself).
"""

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        # Both pages start their bundle with an inline script; Redoc also runs a worker
        # from a blob: URL and styles itself inline.
        "script-src 'self' 'unsafe-inline' blob:",
        "worker-src 'self' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ]
)


class OfflineDocsMixin:
    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class SwaggerView(OfflineDocsMixin, SpectacularSwaggerView):
    permission_classes = []
    url_name = "api-schema"


class RedocView(OfflineDocsMixin, SpectacularRedocView):
    permission_classes = []
    url_name = "api-schema"
    # The stock template loads Google Fonts.
    template_name = "api/redoc.html"
