"""Admin-side pages of promo code batches that are not model pages: the generation
progress fragment the batch page polls, the CSV/XLSX export and the code import.

Every view sits behind admin.site.admin_view (staff login, no caching; see urls.py) and
checks its own permission.
"""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from loyalty.actors import Actor
from loyalty.errors import DomainError
from members.models import Channel
from promocodes import codes, exports, services
from promocodes.forms import CodesImportForm
from promocodes.models import CodeBatch, GenerationJob

log = logging.getLogger(__name__)

PROGRESS_PERMISSIONS = ("promocodes.view_codebatch",)
# Who may read the codes one by one may also take them as a file.
EXPORT_PERMISSIONS = ("promocodes.view_codebatch", "promocodes.view_promocode")
# Importing adds codes to a batch.
IMPORT_PERMISSIONS = ("promocodes.change_codebatch", "promocodes.add_promocode")
# Codes shown as a sample when a file is checked or imported.
SAMPLE_SIZE = 20
# Errors of an import listed on the page; the rest are counted.
ERRORS_LISTED = 100
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _require(request, permissions: tuple[str, ...]) -> None:
    if not request.user.has_perms(permissions):
        raise PermissionDenied


def may_export(user) -> bool:
    return user.has_perms(EXPORT_PERMISSIONS)


def may_import(user) -> bool:
    return user.has_perms(IMPORT_PERMISSIONS)


def progress_context(job: GenerationJob) -> dict:
    return {
        "job": job,
        "percent": job.percent,
        "is_finished": job.status in (GenerationJob.Status.DONE, GenerationJob.Status.FAILED),
        "url": reverse("promocodes_admin:job_progress", args=[job.pk]),
    }


@require_GET
def job_progress(request, job_id: int):
    """The job's progress bar (HTML for htmx, which swaps it in every 2 s until the job
    has finished), or its numbers as JSON when asked for with Accept: application/json."""
    _require(request, PROGRESS_PERMISSIONS)
    job = get_object_or_404(GenerationJob, pk=job_id)
    context = progress_context(job)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {
                "id": job.pk,
                "batch": job.batch_id,
                "status": job.status,
                "requested": job.requested,
                "generated": job.generated,
                "collisions": job.collisions,
                "percent": context["percent"],
                "is_finished": context["is_finished"],
            }
        )
    return render(request, "admin/promocodes/job_progress.html", context)


def _export_filename(batch: CodeBatch, extension: str) -> str:
    return f"promocodes-{batch.pk}.{extension}"


@require_GET
def batch_export_csv(request, batch_id: int):
    """The batch's codes as CSV, streamed: rows leave as they are read (server-side
    cursor), so a million codes never sit in memory."""
    _require(request, EXPORT_PERMISSIONS)
    batch = get_object_or_404(CodeBatch, pk=batch_id)
    log.info("codes exported", extra={"batch": batch.pk, "format": "csv", "user": request.user.pk})
    response = StreamingHttpResponse(
        exports.csv_stream(batch), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=_export_filename(batch, "csv")
    )
    return response


@require_GET
def batch_export_xlsx(request, batch_id: int):
    """The batch's codes as an XLSX workbook (written row by row to a temporary file)."""
    _require(request, EXPORT_PERMISSIONS)
    batch = get_object_or_404(CodeBatch, pk=batch_id)
    if batch.codes.count() > exports.XLSX_MAX_ROWS:
        messages.error(
            request,
            _(
                "An Excel sheet holds at most %(max)s rows and this batch has more codes: "
                "export it as CSV (Excel opens CSV files too)."
            )
            % {"max": f"{exports.XLSX_MAX_ROWS:,}".replace(",", "\u00a0")},
        )
        return HttpResponseRedirect(reverse("admin:promocodes_codebatch_change", args=[batch.pk]))
    log.info("codes exported", extra={"batch": batch.pk, "format": "xlsx", "user": request.user.pk})
    return FileResponse(
        exports.xlsx_file(batch),
        as_attachment=True,
        filename=_export_filename(batch, "xlsx"),
        content_type=XLSX_TYPE,
    )


@require_http_methods(["GET", "POST"])
def batch_import(request, batch_id: int):
    """Upload or paste codes into an imported batch: "Check" shows what would be imported
    (a dry run of the import), "Import" imports; all or nothing."""
    _require(request, IMPORT_PERMISSIONS)
    batch = get_object_or_404(CodeBatch, pk=batch_id)
    batch_url = reverse("admin:promocodes_codebatch_change", args=[batch.pk])
    if batch.source != CodeBatch.Source.IMPORTED:
        messages.error(request, _("Codes can be imported only into an imported batch."))
        return HttpResponseRedirect(batch_url)
    form = CodesImportForm(request.POST or None, request.FILES or None)
    result = None
    is_check = "check" in request.POST
    if request.method == "POST" and form.is_valid():
        actor = Actor.for_user(request.user, Channel.ADMIN)
        try:
            result = services.codes_import(
                batch=batch, texts=form.cleaned_data["texts"], actor=actor, dry_run=is_check
            )
        except DomainError as exc:  # codes added concurrently: nothing was imported
            form.add_error(None, str(exc.message))
            result = None
        if result is not None and result.imported and not is_check:
            messages.success(
                request,
                ngettext(
                    "%(count)d code imported into “%(batch)s”.",
                    "%(count)d codes imported into “%(batch)s”.",
                    result.imported,
                )
                % {"count": result.imported, "batch": batch.name},
            )
            return HttpResponseRedirect(batch_url)
    context = {
        **admin.site.each_context(request),
        "title": _("Import codes"),
        "subtitle": batch.name,
        "batch": batch,
        "batch_url": batch_url,
        "form": form,
        "result": result,
        "is_check": is_check,
        "is_htmx": bool(request.headers.get("HX-Request")),
    }
    if result is not None:
        context.update(_result_context(result, form.cleaned_data["texts"]))
    template = (
        "admin/promocodes/codes_import_result.html"
        if context["is_htmx"]
        else "admin/promocodes/codes_import.html"
    )
    # 200 also for a refused file: htmx swaps in only 2xx responses.
    return render(request, template, context)


def _result_context(result: services.ImportResult, texts: list[str]) -> dict:
    sample = []
    if result.imported:
        for text in texts:
            if text.strip():
                sample.append(codes.display(codes.normalise(text, imported=True)))
            if len(sample) >= SAMPLE_SIZE:
                break
    return {
        "sample": sample,
        "invalid": result.invalid[:ERRORS_LISTED],
        "invalid_more": max(0, len(result.invalid) - ERRORS_LISTED),
        "duplicates": [codes.display(c) for c in result.duplicates[:ERRORS_LISTED]],
        "duplicates_more": max(0, len(result.duplicates) - ERRORS_LISTED),
    }
