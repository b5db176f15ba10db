"""Campaigns in the admin: one form for every kind, the status buttons (schedule, pause,
resume, finish), the results, and the history of every change.

Marketing edits campaigns here; the moves between statuses go through
campaigns.services.lifecycle, so a stale or double click is refused and each move is in
the history with who made it. Once a campaign has run, what decided what members got
(kind, reward, segment, start…) is read-only; its end may still move later.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from campaigns.admin.results import Results, Window, campaign_results, window_results
from campaigns.forms import (
    DEFAULT_LEVELS,
    FIELDS,
    KIND_FIELDS,
    CampaignForm,
    RewardLevelForm,
    RewardLevelFormSet,
    conditional_fields,
    is_shown,
)
from campaigns.models import Campaign, Grant, RewardLevel
from campaigns.selectors import SaleResults, closed_sale_results
from campaigns.services import lifecycle
from campaigns.services.core import reward_text
from loyalty.actors import Actor
from loyalty.admin_base import badge, dialog_done, html_table
from loyalty.context_processors import currency_symbol
from loyalty.errors import DomainError
from members.models import Channel
from promocodes.models import CodeBatch

Kind = Campaign.Kind
Status = Campaign.Status

STATUS_LABELS = {
    Status.DRAFT: "",
    Status.SCHEDULED: "info",
    Status.ACTIVE: "success",
    Status.PAUSED: "warning",
    Status.FINISHED: "",
}
SCHEDULE_DIALOG = {
    "title": _("Schedule the campaign"),
    "description": _(
        "The campaign becomes active at its start (within a minute if the start has "
        "passed), and its messages go out on their dates. Its kind is fixed from now on."
    ),
    "form_submit_text": pgettext_lazy("campaign", "Schedule"),
}
PAUSE_DIALOG = {
    "title": _("Pause the campaign"),
    "description": _(
        "While paused, the campaign gives no rewards and its scheduled steps wait until "
        "it is resumed."
    ),
    "form_submit_text": pgettext_lazy("campaign", "Pause"),
}
RESUME_DIALOG = {
    "title": _("Resume the campaign"),
    "description": _("It becomes active again, or scheduled if its start is still ahead."),
    "form_submit_text": pgettext_lazy("campaign", "Resume"),
}
FINISH_DIALOG = {
    "title": _("Finish the campaign"),
    "description": _(
        "The campaign ends now, for good: it gives nothing more and its unused offers "
        "burn. This cannot be undone."
    ),
    "form_submit_text": pgettext_lazy("campaign", "Finish"),
}
# Everything but the name and description is read-only once a campaign is finished.
FINISHED_EDITABLE = ("name", "description")
COMPUTED = ("status_badge", "creator", "created_at", "spent_text", "results", "steps")


def _money(value) -> str:
    amount = formats.number_format(value, 2, use_l10n=True, force_grouping=True)
    return f"{amount} {currency_symbol()}"


def _number(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def _share(part: int, whole: int) -> str:
    """A part of a whole, like "12 of 40 (30%)"."""
    if not whole:
        return _number(part)
    share = round(100 * part / whole, 1)
    percent = formats.number_format(int(share) if share == int(share) else share, use_l10n=True)
    return _("%(part)s of %(whole)s (%(percent)s%%)") % {
        "part": _number(part),
        "whole": _number(whole),
        "percent": percent,
    }


def _moment(value) -> str:
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


class RewardLevelInline(TabularInline):
    """Threshold coupons' levels; read-only once the campaign has run."""

    model = RewardLevel
    form = RewardLevelForm
    formset = RewardLevelFormSet
    fields = ("threshold", "reward_value")
    extra = 3
    verbose_name_plural = _("threshold levels (threshold coupons only)")

    def get_extra(self, request, obj=None, **kwargs) -> int:
        # Empty rows to fill on a new campaign and on threshold coupons without levels.
        if obj is None or (obj.kind == Kind.THRESHOLD and not obj.levels.exists()):
            return self.extra
        return 0

    def _is_editable(self, obj) -> bool:
        return obj is None or not lifecycle.campaign_is_locked(obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._is_editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._is_editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._is_editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Campaign)
class CampaignAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = CampaignForm
    inlines = [RewardLevelInline]
    list_display = (
        "name",
        "kind",
        "status_label",
        "window",
        "segment_name",
        "reward",
        "budget_text",
        "holdout",
        "batches",
    )
    list_select_related = ("segment",)
    list_filter = ("kind", "status")
    search_fields = ("name",)
    actions = ["schedule_selected", "pause_selected", "resume_selected", "finish_selected"]
    actions_detail = ["schedule_one", "pause_one", "resume_one", "finish_one"]
    conditional_fields = conditional_fields()

    def get_queryset(self, request):
        # One subquery for the whole page instead of a count per row.
        batches = (
            CodeBatch.objects.filter(campaign=OuterRef("pk"))
            .order_by()
            .values("campaign")
            .annotate(total=Count("pk"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                batches_total=Coalesce(Subquery(batches), 0, output_field=IntegerField()),
                granted_total=Coalesce(Subquery(_granted(OuterRef("pk"))), Decimal(0)),
            )
        )

    # --- the form -----------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        sections = [
            (_("Campaign"), ["name", "description", "kind"]),
            (_("When"), ["starts_at", "ends_at"]),
            (_("Who"), ["segment", "is_segment_frozen", "holdout_percent"]),
            (
                _("Reward"),
                [
                    "reward_kind",
                    "reward_value",
                    "reward_cap",
                    "min_receipt",
                    "gift_name",
                    "every_n",
                    "offer_days",
                    "lead_days",
                    "last_chance_hours",
                    "referrer_points",
                ],
            ),
            (_("Budget"), ["budget"]),
            (_("Messages"), ["channel"]),
        ]
        if obj is None:
            return [(title, {"fields": fields}) for title, fields in sections]
        sections[0][1][2:2] = ["status_badge", "creator", "created_at"]
        sections[4][1].append("spent_text")
        readonly = set(self.get_readonly_fields(request, obj))
        result = []
        for title, fields in sections:
            # A read-only kind or reward cannot switch fields on and off in the page:
            # show what the saved ones use.
            shown = [name for name in fields if self._is_used(name, obj, readonly)]
            if shown:
                result.append((title, {"fields": shown}))
        result.append((_("Results"), {"fields": ["results", "steps"]}))
        return result

    @staticmethod
    def _is_used(name: str, obj: Campaign, readonly: set[str]) -> bool:
        if name not in FIELDS or "kind" not in readonly or name in ("name", "description"):
            return True
        if "reward_kind" in readonly:
            return is_shown(name, kind=obj.kind, reward_kind=obj.reward_kind)
        return name in KIND_FIELDS[obj.kind]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.status == Status.FINISHED:
            return (*(name for name in FIELDS if name not in FINISHED_EDITABLE), *COMPUTED)
        if lifecycle.campaign_is_locked(obj):
            return (*lifecycle.LOCKED_FIELDS, *COMPUTED)
        if obj.status != Status.DRAFT:
            return ("kind", *COMPUTED)
        return COMPUTED

    def get_inline_instances(self, request, obj=None):
        # A draft may still become threshold coupons; otherwise only they have levels.
        if obj is not None and obj.status != Status.DRAFT and obj.kind != Kind.THRESHOLD:
            return []
        return super().get_inline_instances(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            super().save_model(request, obj, form, change)
            return
        lifecycle.campaign_update(
            campaign=obj,
            fields=[name for name in FIELDS if name in form.fields],
            actor=_actor(request),
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        for formset in formsets:
            if getattr(formset, "use_defaults", False):
                RewardLevel.objects.bulk_create(
                    RewardLevel(campaign=form.instance, threshold=threshold, reward_value=value)
                    for threshold, value in DEFAULT_LEVELS
                )
                self.message_user(
                    request,
                    _("No levels were entered: the default ones were added."),
                    messages.INFO,
                )

    # --- list and page displays ---------------------------------------------------------

    @display(description=_("status"), ordering="status", label=STATUS_LABELS)
    def status_label(self, obj: Campaign) -> tuple[str, str]:
        return obj.status, obj.get_status_display()

    @display(description=_("status"))
    def status_badge(self, obj: Campaign) -> str:
        return badge(obj.get_status_display(), STATUS_LABELS[obj.status])

    @display(description=_("dates"), ordering="starts_at")
    def window(self, obj: Campaign) -> str:
        if obj.starts_at is None and obj.ends_at is None:
            return "—"
        start = _moment(obj.starts_at) if obj.starts_at else "…"
        end = _moment(obj.ends_at) if obj.ends_at else "…"
        return f"{start} – {end}"

    @display(description=_("segment"), ordering="segment__name")
    def segment_name(self, obj: Campaign) -> str:
        return obj.segment.name if obj.segment_id else _("every member")

    @display(description=_("reward"))
    def reward(self, obj: Campaign) -> str:
        if not obj.reward_kind:
            return "—"
        if obj.kind == Kind.THRESHOLD:
            return _("by levels")
        return reward_text(kind=obj.reward_kind, value=obj.reward_value, gift_name=obj.gift_name)

    @display(description=_("spent / budget"), ordering="spent")
    def budget_text(self, obj: Campaign) -> str:
        if obj.budget is None:
            # Without a cap the campaign's row keeps no running total (see core): the cost
            # is the sum of what it gave.
            granted = getattr(obj, "granted_total", None)
            if granted is None:
                granted = _granted_total(obj.pk)
            return _("%(spent)s (no cap)") % {"spent": _money(granted)}
        return f"{_money(obj.spent)} / {_money(obj.budget)}"

    @display(description=_("spent"))
    def spent_text(self, obj: Campaign) -> str:
        return self.budget_text(obj)

    @display(description=_("holdout"), ordering="holdout_percent")
    def holdout(self, obj: Campaign) -> str:
        if not obj.holdout_percent:
            return "—"
        return f"{formats.number_format(obj.holdout_percent.normalize(), use_l10n=True)}%"

    @display(description=_("code batches"), ordering="batches_total")
    def batches(self, obj: Campaign) -> str:
        return _number(obj.batches_total) if obj.batches_total else "—"

    @display(description=_("created by"))
    def creator(self, obj: Campaign) -> str:
        # Plain text: a link would lead marketing to the users admin, which is closed to it.
        return obj.created_by.get_username() if obj.created_by_id else "—"

    @display(description=_("steps done"))
    def steps(self, obj: Campaign) -> str:
        names = ("invited_at", "announced_at", "opened_at", "issued_at", "last_chance_at")
        rows = [
            [Campaign._meta.get_field(name).verbose_name, _moment(getattr(obj, name))]
            for name in (*names, "finished_at")
            if getattr(obj, name)
        ]
        if not rows:
            return "—"
        return html_table([_("step"), _("when")], rows)

    @display(description=_("results"))
    def results(self, obj: Campaign) -> str:
        if obj.pk is None:
            return "—"
        if obj.kind == Kind.PROMO:
            url = (
                reverse("admin:promocodes_codebatch_changelist") + f"?campaign__id__exact={obj.pk}"
            )
            return html_table(
                [_("figure"), _("value")],
                [[_("code batches"), _number(obj.code_batches.count())]],
                more_url=url,
                more_text=_("Show the batches and their redemptions"),
            )
        if obj.kind == Kind.CLOSED_SALE:
            rows = closed_sale_rows(
                obj, closed_sale_results(obj), window_results(obj, at=timezone.now())
            )
        else:
            rows = result_rows(obj, campaign_results(obj))
        return html_table([_("figure"), _("value")], rows)

    # --- status buttons on the campaign page --------------------------------------------

    # Methods, not dotted names: Unfold checks dotted ones against the database at
    # system-check time, which fails before the first migrate. A button shows only
    # where its move may start; its own request is let through, so that a click on a
    # page gone stale ends with the service's refusal rather than a bare 403.
    def _may_move(self, request, object_id, allowed, name: str) -> bool:
        if not self.has_change_permission(request):
            return False
        if object_id is None or not str(object_id).isdigit():
            return True
        match = request.resolver_match
        if match is not None and match.url_name == f"campaigns_campaign_{name}":
            return True
        return Campaign.objects.filter(pk=object_id, status__in=allowed).exists()

    def has_schedule_permission(self, request, object_id=None) -> bool:
        return self._may_move(request, object_id, lifecycle.SCHEDULE_FROM, "schedule_one")

    def has_pause_permission(self, request, object_id=None) -> bool:
        return self._may_move(request, object_id, lifecycle.PAUSE_FROM, "pause_one")

    def has_resume_permission(self, request, object_id=None) -> bool:
        return self._may_move(request, object_id, lifecycle.RESUME_FROM, "resume_one")

    def has_finish_permission(self, request, object_id=None) -> bool:
        return self._may_move(request, object_id, lifecycle.FINISH_FROM, "finish_one")

    def _move_one(self, request, object_id, move: Callable[[Campaign, Actor], str]):
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404
        try:
            text = move(campaign, _actor(request))
        except DomainError as error:
            self.message_user(request, _refusal(campaign, error), messages.ERROR)
        else:
            self.message_user(request, text, messages.SUCCESS)
            for warning in lifecycle.campaign_warnings(campaign):
                self.message_user(request, warning, messages.WARNING)
        return dialog_done(request, reverse("admin:campaigns_campaign_change", args=[campaign.pk]))

    @action(
        description=pgettext_lazy("campaign", "Schedule"),
        url_path="schedule",
        permissions=["schedule"],
        icon="event_upcoming",
        variant=ActionVariant.PRIMARY,
        dialog=SCHEDULE_DIALOG,
    )
    def schedule_one(self, request, form, object_id):
        return self._move_one(request, object_id, _schedule)

    @action(
        description=pgettext_lazy("campaign", "Pause"),
        url_path="pause",
        permissions=["pause"],
        icon="pause",
        dialog=PAUSE_DIALOG,
    )
    def pause_one(self, request, form, object_id):
        return self._move_one(request, object_id, _pause)

    @action(
        description=pgettext_lazy("campaign", "Resume"),
        url_path="resume",
        permissions=["resume"],
        icon="play_arrow",
        variant=ActionVariant.PRIMARY,
        dialog=RESUME_DIALOG,
    )
    def resume_one(self, request, form, object_id):
        return self._move_one(request, object_id, _resume)

    @action(
        description=pgettext_lazy("campaign", "Finish"),
        url_path="finish",
        permissions=["finish"],
        icon="stop",
        variant=ActionVariant.DANGER,
        dialog=FINISH_DIALOG,
    )
    def finish_one(self, request, form, object_id):
        return self._move_one(request, object_id, _finish)

    # --- the same moves on the selected campaigns of the list ---------------------------

    def _move_selected(self, request, queryset, move, done: Callable[[int], str]) -> None:
        moved = 0
        for campaign in queryset.order_by("pk"):
            try:
                move(campaign, _actor(request))
            except DomainError as error:
                self.message_user(request, _refusal(campaign, error), messages.ERROR)
            else:
                moved += 1
        if moved:
            self.message_user(request, done(moved), messages.SUCCESS)

    @action(description=_("Schedule the selected campaigns"), permissions=["schedule"])
    def schedule_selected(self, request, queryset):
        self._move_selected(
            request,
            queryset,
            _schedule,
            lambda n: (
                ngettext("%(count)d campaign scheduled.", "%(count)d campaigns scheduled.", n)
                % {"count": n}
            ),
        )

    @action(description=_("Pause the selected campaigns"), permissions=["pause"])
    def pause_selected(self, request, queryset):
        self._move_selected(
            request,
            queryset,
            _pause,
            lambda n: (
                ngettext("%(count)d campaign paused.", "%(count)d campaigns paused.", n)
                % {"count": n}
            ),
        )

    @action(description=_("Resume the selected campaigns"), permissions=["resume"])
    def resume_selected(self, request, queryset):
        self._move_selected(
            request,
            queryset,
            _resume,
            lambda n: (
                ngettext("%(count)d campaign resumed.", "%(count)d campaigns resumed.", n)
                % {"count": n}
            ),
        )

    @action(description=_("Finish the selected campaigns"), permissions=["finish"])
    def finish_selected(self, request, queryset):
        self._move_selected(
            request,
            queryset,
            _finish,
            lambda n: (
                ngettext("%(count)d campaign finished.", "%(count)d campaigns finished.", n)
                % {"count": n}
            ),
        )


def _actor(request) -> Actor:
    return Actor.for_user(request.user, Channel.ADMIN)


def _refusal(campaign: Campaign, error: DomainError) -> str:
    return _("«%(name)s»: %(reason)s") % {"name": campaign.name, "reason": error.message}


def _schedule(campaign: Campaign, actor: Actor) -> str:
    lifecycle.campaign_schedule(campaign=campaign, actor=actor)
    if campaign.starts_at is not None and campaign.starts_at > timezone.now():
        return _("«%(name)s» is scheduled: it starts on %(start)s.") % {
            "name": campaign.name,
            "start": _moment(campaign.starts_at),
        }
    if campaign.starts_at is None:
        return _("«%(name)s» is scheduled: it becomes active within a minute.") % {
            "name": campaign.name
        }
    return _(
        "«%(name)s» is scheduled. Its start has passed, so it becomes active within a minute."
    ) % {"name": campaign.name}


def _pause(campaign: Campaign, actor: Actor) -> str:
    lifecycle.campaign_pause(campaign=campaign, actor=actor)
    return _("«%(name)s» is paused: it gives nothing until it is resumed.") % {
        "name": campaign.name
    }


def _resume(campaign: Campaign, actor: Actor) -> str:
    lifecycle.campaign_resume(campaign=campaign, actor=actor)
    if campaign.status == Status.SCHEDULED:
        return _("«%(name)s» is scheduled again: it starts on %(start)s.") % {
            "name": campaign.name,
            "start": _moment(campaign.starts_at),
        }
    return _("«%(name)s» is active again.") % {"name": campaign.name}


def _finish(campaign: Campaign, actor: Actor) -> str:
    burnt = lifecycle.campaign_finish(campaign=campaign, actor=actor)
    text = _("«%(name)s» is finished.") % {"name": campaign.name}
    if burnt:
        text += " " + ngettext(
            "%(count)s unused offer burnt.", "%(count)s unused offers burnt.", burnt
        ) % {"count": _number(burnt)}
    return text


# --- results --------------------------------------------------------------------------


def _granted(campaign):
    """The cost of what a campaign gave and kept (a subquery of one value)."""
    return (
        Grant.objects.filter(campaign=campaign, rolled_back_at__isnull=True)
        .order_by()
        .values("campaign")
        .annotate(total=Sum("cost"))
        .values("total")
    )


def _granted_total(campaign_id: int) -> Decimal:
    total = Grant.objects.filter(campaign_id=campaign_id, rolled_back_at__isnull=True).aggregate(
        total=Sum("cost")
    )["total"]
    return total or Decimal(0)


def _budget_row(campaign: Campaign) -> list:
    spent = _money(campaign.spent)
    if campaign.budget is None:
        granted = _granted_total(campaign.pk)
        return [_("spent (no budget cap)"), _money(granted)]
    return [_("spent of the budget"), f"{spent} / {_money(campaign.budget)}"]


def closed_sale_rows(campaign: Campaign, sale: SaleResults, window: Window | None) -> list[list]:
    """Invited, came, revenue, discount given; and, for the uplift, how many of the
    invited and of the held-out members bought anything in the sale's dates."""
    rows = [
        [_("invited"), _number(sale.invited)],
        [_("came (bought at the sale's price)"), _share(sale.came, sale.invited)],
        [_("purchases at the sale's price"), _number(sale.purchases)],
        [_("revenue (money paid, refunds deducted)"), _money(sale.revenue)],
        [_("discount given"), _money(sale.discount)],
    ]
    if sale.held_out:
        rows.insert(1, [_("held out (not invited, the control group)"), _number(sale.held_out)])
        if window is not None:
            rows += [
                [
                    _("invited who bought anything in the sale's dates"),
                    _share(window.reached_came, sale.invited),
                ],
                [
                    _("held out who bought anything in the sale's dates"),
                    _share(window.held_out_came, sale.held_out),
                ],
            ]
    rows.append(_budget_row(campaign))
    return rows


def result_rows(campaign: Campaign, figures: Results) -> list[list]:
    """Reach, offers, rewards given and what the purchases behind them brought."""
    rows = [
        [_("members reached"), _number(figures.reached)],
        [_("held out (the control group)"), _number(figures.held_out)],
    ]
    window = figures.window
    if window is not None:
        rows.append(
            [_("reached who bought in the window"), _share(window.reached_came, figures.reached)]
        )
        if figures.held_out:
            rows.append(
                [
                    _("held out who bought in the window"),
                    _share(window.held_out_came, figures.held_out),
                ]
            )
    if figures.offers_issued or campaign.kind in (
        Kind.OFFER,
        Kind.THRESHOLD,
        Kind.WELCOME,
        Kind.BIRTHDAY,
    ):
        rows += [
            [_("offers issued"), _number(figures.offers_issued)],
            [_("offers used"), _share(figures.offers_used, figures.offers_issued)],
            [_("offers burnt"), _number(figures.offers_burnt)],
            [_("offers still usable"), _number(figures.offers_active)],
        ]
    rows += [
        [
            _("rewards given"),
            ngettext(
                "%(count)s to %(members)s member",
                "%(count)s to %(members)s members",
                figures.grant_members,
            )
            % {"count": _number(figures.grants), "members": _number(figures.grant_members)},
        ],
        [_("discount given"), _money(figures.discount)],
        [_("points given"), _number(figures.points)],
        [
            _("revenue of the purchases with a reward (receipts after discounts)"),
            _("%(revenue)s in %(count)s purchases")
            % {"revenue": _money(figures.grant_revenue), "count": _number(figures.grant_purchases)},
        ],
        _budget_row(campaign),
    ]
    return rows
