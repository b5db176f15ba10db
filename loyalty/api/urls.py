"""/api/v1/: the partner API, its OpenAPI schema and its documentation pages."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from loyalty.api.docs import RedocView, SwaggerView
from loyalty.api.errors import not_found_view

urlpatterns = [
    path("", include("members.api.urls")),
    path("", include("promocodes.api.urls")),
    path("", include("messaging.api.urls")),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path("docs/", SwaggerView.as_view(), name="api-docs"),
    path("redoc/", RedocView.as_view(), name="api-redoc"),
    # Last: every other path under /api/v1/ answers a JSON 404 like the endpoints do.
    re_path(r"^.*$", not_found_view),
]
