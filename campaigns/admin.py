"""Campaigns: a name and a description that promo code batches (and later offers) share."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import display

from campaigns.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(ModelAdmin):
    list_display = ("name", "batches_count", "created_at")
    search_fields = ("name",)
    fields = ("name", "description", "created_at")
    readonly_fields = ("created_at",)

    def get_queryset(self, request):
        # One grouped count for the whole list instead of a count per row.
        return super().get_queryset(request).annotate(batches_total=Count("code_batches"))

    @display(description=_("promo code batches"), ordering="batches_total")
    def batches_count(self, obj: Campaign) -> int:
        return obj.batches_total
