"""Admin-side promo code pages that are not model pages (see views.py), mounted under
/admin/promocodes/tools/ and wrapped like admin pages: staff login, never cached."""

from django.contrib import admin
from django.urls import path

from promocodes import views

app_name = "promocodes_admin"

urlpatterns = [
    path(
        "jobs/<int:job_id>/progress/",
        admin.site.admin_view(views.job_progress),
        name="job_progress",
    ),
    path(
        "batches/<int:batch_id>/export.csv",
        admin.site.admin_view(views.batch_export_csv),
        name="batch_export_csv",
    ),
    path(
        "batches/<int:batch_id>/export.xlsx",
        admin.site.admin_view(views.batch_export_xlsx),
        name="batch_export_xlsx",
    ),
    path(
        "batches/<int:batch_id>/import/",
        admin.site.admin_view(views.batch_import),
        name="batch_import",
    ),
]
