from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from health_check.views import HealthCheckView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="cashier:home", permanent=False)),
    # Before admin.site.urls, whose catch-all would take these paths.
    path("admin/promocodes/tools/", include("promocodes.urls")),
    path("admin/", admin.site.urls),
    path("cashier/", include("loyalty.cashier.urls")),
    path("api/v1/", include("loyalty.api.urls")),
    path("m/", include("messaging.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path(
        "health/",
        # Listed explicitly: the defaults include DNS and mail, which say nothing here.
        HealthCheckView.as_view(
            checks=["health_check.checks.Database", "health_check.checks.Cache"]
        ),
        name="health",
    ),
]
