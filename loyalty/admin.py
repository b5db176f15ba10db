"""Admin of the program's configuration (Unfold), plus the third-party models the back
office shows: users and groups, the Celery schedule and task results.

Configuration models keep their history (simple-history); the API keys follow
rest_framework_api_key's admin: the key is shown once, on creation, then only its prefix.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_celery_beat.admin import ClockedScheduleAdmin as BaseClockedScheduleAdmin
from django_celery_beat.admin import CrontabScheduleAdmin as BaseCrontabScheduleAdmin
from django_celery_beat.admin import PeriodicTaskAdmin as BasePeriodicTaskAdmin
from django_celery_beat.admin import PeriodicTaskForm, TaskSelectWidget
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from django_celery_results.admin import GroupResultAdmin as BaseGroupResultAdmin
from django_celery_results.admin import TaskResultAdmin as BaseTaskResultAdmin
from django_celery_results.models import GroupResult, TaskResult
from rest_framework_api_key.models import APIKey
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from loyalty.forms import PartnerForm, ProgramSettingsForm, TierForm, tier_moves_text
from loyalty.models import (
    BeneficiaryCategory,
    IdempotencyRecord,
    Partner,
    PartnerAPIKey,
    ProgramSettings,
    Store,
    Tier,
)

# --- The program ----------------------------------------------------------------------


@admin.register(Store)
class StoreAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("code", "name", "city", "is_active")
    list_filter = ("is_active", "city")
    search_fields = ("code", "name", "city")


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(SimpleHistoryAdmin, ModelAdmin):
    """The one row of program rules: no list, no second row, never deleted."""

    form = ProgramSettingsForm
    fieldsets = (
        (
            _("Tiers"),
            {"fields": ("tier_basis", "tier_window", "tier_window_months", "confirm_moves")},
        ),
        (
            _("Points"),
            {"fields": ("points_cap_percent", "points_life_days", "points_expiry_notice_days")},
        ),
        (_("Discounts"), {"fields": ("stacking_policy", "stacking_cap_percent")}),
    )

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not ProgramSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings_pk = ProgramSettings.objects.values_list("pk", flat=True).first()
        if settings_pk is None:
            return HttpResponseRedirect(reverse("admin:loyalty_programsettings_add"))
        return HttpResponseRedirect(
            reverse("admin:loyalty_programsettings_change", args=[settings_pk])
        )


@admin.register(Tier)
class TierAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = TierForm
    list_display = ("name", "threshold", "discount_percent", "earn_percent", "members_count")
    ordering = ("threshold",)
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "threshold", "discount_percent", "earn_percent")}),
        (_("Effect of a threshold change"), {"fields": ("confirm_moves",)}),
    )

    def get_queryset(self, request):
        # One grouped count for the whole list instead of a count per row.
        return super().get_queryset(request).annotate(members_total=Count("members"))

    @display(description=_("members"), ordering="members_total")
    def members_count(self, obj: Tier) -> int:
        return obj.members_total

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Deleting goes one tier at a time, so the lowest tier's guard below holds.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.threshold == 0:
            return False  # every member must fall into a tier: the lowest one stays.
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.moves is not None and (form.moves.up or form.moves.down):
            self.message_user(request, tier_moves_text(form.moves), messages.WARNING)


@admin.register(BeneficiaryCategory)
class BeneficiaryCategoryAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("name", "code", "discount_percent", "is_proof_required", "is_active")
    list_filter = ("is_active", "is_proof_required")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}


# --- Partners ---------------------------------------------------------------------------


@admin.register(Partner)
class PartnerAdmin(ModelAdmin):
    form = PartnerForm
    list_display = ("name", "is_active", "scope_list", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("created_at", "api_keys")

    def get_fields(self, request, obj=None):
        fields = ["name", "is_active", "scopes"]
        if obj is not None:
            fields.append("created_at")
            if request.user.has_perm("loyalty.view_partnerapikey"):
                fields.append("api_keys")
        return fields

    @display(description=_("scopes"))
    def scope_list(self, obj: Partner) -> str:
        labels = dict(Partner.Scope.choices)
        return ", ".join(str(labels.get(s, s)) for s in obj.scopes or [])

    @display(description=_("API keys"))
    def api_keys(self, obj: Partner) -> str:
        keys = format_html_join(
            "",
            '<li><a href="{}" class="text-primary-600 dark:text-primary-500">{}</a> {} {}</li>',
            (
                (
                    reverse("admin:loyalty_partnerapikey_change", args=[key.pk]),
                    key.prefix,
                    key.name,
                    _("(revoked)") if key.revoked else _("(expired)") if key.has_expired else "",
                )
                for key in obj.api_keys.order_by("-created")
            ),
        )
        return format_html(
            '<ul>{}</ul><p class="mt-2"><a href="{}?partner={}" '
            'class="text-primary-600 dark:text-primary-500">{}</a></p>',
            keys,
            reverse("admin:loyalty_partnerapikey_add"),
            obj.pk,
            _("Create a key"),
        )


@admin.register(PartnerAPIKey)
class PartnerAPIKeyAdmin(ModelAdmin):
    """Like rest_framework_api_key's APIKeyModelAdmin: hashed keys shown once, revocable
    (never un-revoked), optional expiry."""

    list_display = ("prefix", "name", "partner", "created", "expiry_date", "has_expired", "revoked")
    list_filter = ("revoked", "partner", "created")
    list_select_related = ("partner",)
    search_fields = ("name", "prefix", "partner__name")
    autocomplete_fields = ("partner",)
    fields = ("partner", "name", "prefix", "expiry_date", "revoked", "created")
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        fields = ("prefix", "created")
        if obj is not None:
            fields += ("partner",)
            if obj.revoked:
                fields += ("name", "revoked", "expiry_date")
        return fields

    @display(description=_("has expired"), boolean=True)
    def has_expired(self, obj: PartnerAPIKey) -> bool:
        return obj.has_expired

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        key = PartnerAPIKey.objects.assign_key(obj)
        obj.save()
        self.message_user(
            request,
            _(
                "The API key for %(partner)s (%(name)s) is: %(key)s — store it somewhere "
                "safe: it will not be shown again."
            )
            % {"partner": obj.partner, "name": obj.name, "key": key},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        count = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", count) % {"count": count},
            messages.SUCCESS,
        )


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ModelAdmin):
    list_display = ("key", "partner", "endpoint", "response_status", "created_at")
    list_filter = ("partner", "endpoint", "response_status", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True
    list_select_related = ("partner",)
    search_fields = ("=key",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# The plain APIKey model of rest_framework_api_key is unused: partners have PartnerAPIKey.
admin.site.unregister(APIKey)


# --- Users and groups (Unfold's forms, as its docs describe) ------------------------------

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


# --- The Celery schedule (django-celery-beat) and task results ---------------------------

for _model in (PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
    admin.site.unregister(_model)
for _model in (TaskResult, GroupResult):
    admin.site.unregister(_model)


class UnfoldTaskSelectWidget(UnfoldAdminSelectWidget, TaskSelectWidget):
    pass


class UnfoldPeriodicTaskForm(PeriodicTaskForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task"].widget = UnfoldAdminTextInputWidget()
        self.fields["regtask"].widget = UnfoldTaskSelectWidget()


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BasePeriodicTaskAdmin, ModelAdmin):
    form = UnfoldPeriodicTaskForm


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(ModelAdmin):
    pass


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(BaseCrontabScheduleAdmin, ModelAdmin):
    pass


@admin.register(SolarSchedule)
class SolarScheduleAdmin(ModelAdmin):
    pass


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(BaseClockedScheduleAdmin, ModelAdmin):
    pass


@admin.register(TaskResult)
class TaskResultAdmin(BaseTaskResultAdmin, ModelAdmin):
    list_filter = (
        ("status", ChoicesDropdownFilter),
        "periodic_task_name",
        "task_name",
        ("date_done", RangeDateTimeFilter),
    )
    list_filter_submit = True


@admin.register(GroupResult)
class GroupResultAdmin(BaseGroupResultAdmin, ModelAdmin):
    pass
