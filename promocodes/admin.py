"""Admin of promo code batches, codes, redemptions and generation jobs (Unfold).

Codes, redemptions and jobs are written only by the services (generation, checkout,
refund, import) and are read-only here for everyone. The code and redemption lists stay
fast with millions of rows: no COUNT(*) of the table (a "next page" paginator), exact
indexed search only, and related filters that do not load every batch.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import AutocompleteSelectFilter, RangeDateTimeFilter
from unfold.decorators import action, display

from loyalty.actors import Actor
from loyalty.admin_base import LINK_CLASSES, ReadOnlyModelAdmin
from members.cards import CARD_LENGTH, card_number_clean
from members.models import Channel, Member
from promocodes import codes, views
from promocodes.forms import FORMAT_FIELDS, CodeBatchForm
from promocodes.models import CodeBatch, GenerationJob, PromoCode, Redemption
from promocodes.services import batch_generation_start


def _number(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def _day(value) -> str:
    return formats.date_format(timezone.localtime(value), "SHORT_DATE_FORMAT")


def _link(url: str, text) -> str:
    return format_html('<a href="{}" class="{}">{}</a>', url, LINK_CLASSES, text)


def _object_id(object_id) -> int:
    try:
        return int(object_id)
    except (TypeError, ValueError):
        raise Http404 from None


def code_search(queryset, search_term: str, *, code_path: str, member_path: str):
    """Exact code (typed any way codes.normalise reads) or exact card number.

    Both become conditions on the table's own indexed columns (the code's or member's
    id), never an OR across a join, which would make the planner scan millions of rows.
    """
    term = search_term.strip()
    if not term:
        return queryset, False
    condition = Q()
    digits = card_number_clean(term)
    if len(digits) == CARD_LENGTH and digits.isdigit():
        member_ids = list(Member.objects.filter(card_number=digits).values_list("pk", flat=True))
        if member_ids:
            condition |= Q(**{f"{member_path}__in": member_ids})
    try:
        canonical = codes.normalise(term, imported=True)  # the looser form finds every code
    except codes.CodeFormatError:
        canonical = None
    if canonical:
        if code_path == "code":
            condition |= Q(code=canonical)
        else:
            condition |= Q(**{f"{code_path}__in": PromoCode.objects.filter(code=canonical)})
    if not condition:
        return queryset.none(), False
    return queryset.filter(condition), False


# --- Batches ----------------------------------------------------------------------------


@admin.register(CodeBatch)
class CodeBatchAdmin(ModelAdmin):
    form = CodeBatchForm
    list_display = (
        "name",
        "campaign",
        "reward",
        "window",
        "is_active",
        "issued",
        "redeemed",
        "expired_count",
    )
    list_select_related = ("campaign",)
    list_filter = ("is_active", "source", "is_personal", "reward_kind", "campaign")
    search_fields = ("name",)
    autocomplete_fields = ("campaign",)
    actions_detail = ["export_csv", "export_xlsx", "import_codes"]
    # Only between fields that are editable on both the add and the change page.
    conditional_fields = {
        "reward_value": "reward_kind != 'gift'",
        "reward_cap": "reward_kind == 'percent'",
        "gift_name": "reward_kind == 'gift'",
        "recipients": "is_personal",
    }
    COMPUTED = ("generation", "totals", "recipients_count", "creator", "created_at")

    def get_queryset(self, request):
        # Counts for the whole page in the one list query. Issued codes come from the jobs'
        # `generated` (or the import's count), never from counting millions of codes; only
        # a personal batch counts its codes, through the (batch, member) unique index.
        jobs = (
            GenerationJob.objects.filter(batch=OuterRef("pk"))
            .order_by()
            .values("batch")
            .annotate(total=Sum("generated"))
            .values("total")
        )
        personal = (
            PromoCode.objects.filter(batch=OuterRef("pk"), member__isnull=False)
            .order_by()
            .values("batch")
            .annotate(total=Count("pk"))
            .values("total")
        )
        redeemed = (
            Redemption.objects.filter(batch=OuterRef("pk"), rolled_back_at__isnull=True)
            .order_by()
            .values("batch")
            .annotate(total=Count("pk"))
            .values("total")
        )
        number = IntegerField()
        return (
            super()
            .get_queryset(request)
            .annotate(
                issued_total=Case(
                    When(source=CodeBatch.Source.IMPORTED, then=F("count")),
                    When(
                        is_personal=True,
                        then=Coalesce(Subquery(personal), 0, output_field=number),
                    ),
                    default=Coalesce(Subquery(jobs), 0, output_field=number),
                    output_field=number,
                ),
                redeemed_total=Coalesce(Subquery(redeemed), 0, output_field=number),
            )
        )

    def get_fieldsets(self, request, obj=None):
        codes_fields = ["count", "is_personal", "alphabet", "prefix", "length", "uses_per_code"]
        first = ["name", "campaign", "source", "is_active"]
        if obj is None:
            codes_fields.insert(2, "recipients")
        else:
            first += ["creator", "created_at"]
            codes_fields = ["generation", "totals", *codes_fields]
            if obj.is_personal:
                codes_fields.insert(4, "recipients_count")
        return (
            (None, {"fields": first}),
            (_("Codes"), {"fields": codes_fields}),
            (_("Validity"), {"fields": ["valid_from", "valid_until", "min_receipt"]}),
            (_("Reward"), {"fields": ["reward_kind", "reward_value", "reward_cap", "gift_name"]}),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # The format is fixed once codes exist: they were made (and printed) with it.
        return (*FORMAT_FIELDS, *self.COMPUTED)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # the recipients
        batch = form.instance
        if change or batch.source != CodeBatch.Source.GENERATED:
            return
        job = batch_generation_start(batch=batch, actor=Actor.for_user(request.user, Channel.ADMIN))
        self.message_user(
            request,
            ngettext(
                "Generating %(count)s code; the progress is shown on the batch page.",
                "Generating %(count)s codes; the progress is shown on the batch page.",
                job.requested,
            )
            % {"count": _number(job.requested)},
        )

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        if "_addanother" in request.POST or IS_POPUP_VAR in request.POST:
            return response
        # To the batch page, where the generation's progress is.
        return HttpResponseRedirect(reverse("admin:promocodes_codebatch_change", args=[obj.pk]))

    # --- list and page displays -------------------------------------------------------

    @display(description=_("reward"), ordering="reward_kind")
    def reward(self, obj: CodeBatch) -> str:
        value = obj.reward_value
        if obj.reward_kind == CodeBatch.Reward.PERCENT:
            text = _("%(value)s%%") % {"value": formats.localize(value.normalize())}
            if obj.reward_cap is not None:
                text += " " + _("(at most %(cap)s ₽)") % {"cap": formats.localize(obj.reward_cap)}
            return text
        if obj.reward_kind == CodeBatch.Reward.FIXED:
            return _("%(value)s ₽") % {"value": formats.localize(value)}
        if obj.reward_kind == CodeBatch.Reward.POINTS:
            points = int(value)
            return ngettext("%(count)s point", "%(count)s points", points) % {
                "count": _number(points)
            }
        return _("Gift: %(name)s") % {"name": obj.gift_name}

    @display(description=_("valid"), ordering="valid_from")
    def window(self, obj: CodeBatch) -> str:
        return f"{_day(obj.valid_from)} – {_day(obj.valid_until)}"

    @display(description=_("issued"), ordering="issued_total")
    def issued(self, obj: CodeBatch) -> str:
        return _number(obj.issued_total)

    @display(description=_("redeemed"), ordering="redeemed_total")
    def redeemed(self, obj: CodeBatch) -> str:
        return _number(obj.redeemed_total)

    @display(description=_("codes"))
    def totals(self, obj: CodeBatch) -> str:
        return format_html(
            "{} · {} · {} · {}",
            _("issued %(count)s") % {"count": _number(obj.issued_total)},
            _("redeemed %(count)s") % {"count": _number(obj.redeemed_total)},
            _("expired %(count)s") % {"count": _number(obj.expired_count)},
            _link(
                reverse("admin:promocodes_promocode_changelist") + f"?batch__id__exact={obj.pk}",
                _("Show the codes"),
            ),
        )

    @display(description=_("generation"))
    def generation(self, obj: CodeBatch) -> str:
        if obj.source == CodeBatch.Source.IMPORTED:
            return _("Imported codes: use “Import codes” above to add them.")
        job = obj.jobs.order_by("-created_at", "-id").first()
        if job is None:
            return _("No generation job yet.")
        # Safe: a template with autoescaping, fed with numbers and choice labels.
        return render_to_string("admin/promocodes/job_progress.html", views.progress_context(job))

    @display(description=_("created by"))
    def creator(self, obj: CodeBatch) -> str:
        # Plain text: a link would lead marketing to the users admin, which is closed to it.
        return obj.created_by.get_username() if obj.created_by_id else "—"

    @display(description=_("recipients"))
    def recipients_count(self, obj: CodeBatch) -> str:
        return _number(obj.recipients.count())

    # --- actions on the batch page ----------------------------------------------------

    # Permission methods, not dotted names: Unfold checks dotted ones against the database
    # at system-check time, which fails before the first migrate.
    def has_export_codes_permission(self, request, object_id=None) -> bool:
        return views.may_export(request.user)

    def has_import_codes_permission(self, request, object_id=None) -> bool:
        if not views.may_import(request.user):
            return False
        if object_id is None or not str(object_id).isdigit():
            return True
        return CodeBatch.objects.filter(pk=object_id, source=CodeBatch.Source.IMPORTED).exists()

    @action(
        description=_("Export CSV"),
        url_path="export-csv",
        permissions=["export_codes"],
        icon="download",
    )
    def export_csv(self, request, object_id):
        url = reverse("promocodes_admin:batch_export_csv", args=[_object_id(object_id)])
        return HttpResponseRedirect(url)

    @action(
        description=_("Export XLSX"),
        url_path="export-xlsx",
        permissions=["export_codes"],
        icon="table_view",
    )
    def export_xlsx(self, request, object_id):
        url = reverse("promocodes_admin:batch_export_xlsx", args=[_object_id(object_id)])
        return HttpResponseRedirect(url)

    @action(
        description=_("Import codes"),
        url_path="import",
        permissions=["import_codes"],
        icon="upload",
    )
    def import_codes(self, request, object_id):
        url = reverse("promocodes_admin:batch_import", args=[_object_id(object_id)])
        return HttpResponseRedirect(url)


# --- Codes ------------------------------------------------------------------------------


@admin.register(PromoCode)
class PromoCodeAdmin(ReadOnlyModelAdmin):
    list_display = ("code_text", "batch", "member_card", "uses", "max_uses", "status")
    list_select_related = ("batch", "member")
    list_filter = ("status", ("batch", AutocompleteSelectFilter))
    list_filter_submit = True
    # The search itself is get_search_results; this turns the search box on.
    search_fields = ("code",)
    search_help_text = _("The exact code (case, spaces and dashes do not matter) or a card number.")
    fields = (
        "code_text",
        "batch_link",
        "member_link",
        "uses",
        "max_uses",
        "status",
        "request_id",
        "redemptions_table",
    )
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        return code_search(queryset, search_term, code_path="code", member_path="member_id")

    @display(description=_("code"), ordering="code")
    def code_text(self, obj: PromoCode) -> str:
        return codes.display(obj.code)

    @display(description=_("card number"))
    def member_card(self, obj: PromoCode) -> str:
        return obj.member.card_number if obj.member_id else ""

    @display(description=_("batch"))
    def batch_link(self, obj: PromoCode) -> str:
        return _link(reverse("admin:promocodes_codebatch_change", args=[obj.batch_id]), obj.batch)

    @display(description=_("member"))
    def member_link(self, obj: PromoCode) -> str:
        if obj.member_id is None:
            return "—"
        return _link(reverse("admin:members_member_change", args=[obj.member_id]), obj.member)

    @display(description=_("redemptions"))
    def redemptions_table(self, obj: PromoCode) -> str:
        rows = obj.redemptions.select_related("purchase").order_by("-created_at", "-id")[:50]
        return render_to_string(
            "unfold/components/table.html",
            {
                "table": {
                    "headers": [_("redeemed"), _("receipt"), _("discount"), _("rolled back")],
                    "rows": [
                        [
                            formats.date_format(
                                timezone.localtime(r.created_at), "SHORT_DATETIME_FORMAT"
                            ),
                            _link(
                                reverse("admin:promocodes_redemption_change", args=[r.pk]),
                                r.purchase.receipt_number,
                            ),
                            formats.localize(r.discount),
                            _day(r.rolled_back_at) if r.rolled_back_at else "",
                        ]
                        for r in rows
                    ],
                }
            },
        )


# --- Redemptions and jobs ---------------------------------------------------------------


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "code_text",
        "batch",
        "member_card",
        "receipt",
        "discount",
        "points",
        "rolled_back_at",
        "is_code_returned",
    )
    list_select_related = ("code", "batch", "member", "purchase")
    list_filter = (
        ("batch", AutocompleteSelectFilter),
        ("created_at", RangeDateTimeFilter),
        "is_code_returned",
    )
    list_filter_submit = True
    search_fields = ("code__code",)
    search_help_text = _("The exact code or a card number.")

    def get_search_results(self, request, queryset, search_term):
        return code_search(queryset, search_term, code_path="code_id", member_path="member_id")

    @display(description=_("code"), ordering="code__code")
    def code_text(self, obj: Redemption) -> str:
        return codes.display(obj.code.code)

    @display(description=_("card number"))
    def member_card(self, obj: Redemption) -> str:
        return obj.member.card_number

    @display(description=_("receipt"))
    def receipt(self, obj: Redemption) -> str:
        return obj.purchase.receipt_number


@admin.register(GenerationJob)
class GenerationJobAdmin(ReadOnlyModelAdmin):
    list_display = (
        "batch",
        "status",
        "requested",
        "generated",
        "collisions",
        "percent_done",
        "created_at",
        "finished_at",
    )
    list_select_related = ("batch",)
    list_filter = ("status", ("batch", AutocompleteSelectFilter))
    list_filter_submit = True
    fields = (
        "batch",
        "progress",
        "status",
        "requested",
        "generated",
        "collisions",
        "error",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    )
    readonly_fields = fields

    @display(description=_("done"))
    def percent_done(self, obj: GenerationJob) -> str:
        return f"{obj.percent}%"

    @display(description=_("progress"))
    def progress(self, obj: GenerationJob) -> str:
        return render_to_string("admin/promocodes/job_progress.html", views.progress_context(obj))
