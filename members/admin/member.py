"""The member page: search, card codes, ledger and purchases, points and consent dialogs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RelatedDropdownFilter
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from loyalty.actors import Actor
from loyalty.admin_base import (
    DayRangeFilter,
    admin_link,
    dialog_again,
    dialog_done,
    html_table,
)
from loyalty.errors import DomainError
from loyalty.models import ProgramSettings
from members.cards import card_barcode_svg, card_qr_svg
from members.forms import (
    ConsentChangeForm,
    MemberAddForm,
    MemberChangeForm,
    PointsAdjustForm,
)
from members.models import Channel, Member
from members.selectors import member_lookup_condition, member_progress
from members.services import member_consent_set, points_adjust
from members.services.enrollment import member_details_update
from members.services.referrals import member_referral_code
from messaging.selectors import member_nps_latest

# Rows of the ledger and purchases shown on the member page; the rest are one link away.
MEMBER_PAGE_ROWS = 50

ADJUST_DIALOG = {
    "title": _("Adjust points manually"),
    "description": _(
        "Enter the points to add (or, with a minus, to take away) and the reason. "
        "You will see the effect and confirm it with a second submit."
    ),
    "form_class": PointsAdjustForm,
    "form_submit_text": _("Continue"),
}
CONSENT_DIALOG = {
    "title": _("Record consent"),
    "description": _("Consent given or withdrawn is recorded with its time and source."),
    "form_class": ConsentChangeForm,
    "form_submit_text": _("Record"),
}


@admin.register(Member)
class MemberAdmin(ModelAdmin):
    form = MemberChangeForm
    list_display = (
        "card_number",
        "full_name",
        "phone",
        "tier",
        "points_balance",
        "joined_store",
        "created_at",
    )
    list_display_links = ("card_number", "full_name")
    list_select_related = ("tier", "joined_store")
    list_filter = (
        "tier",
        ("joined_store", RelatedDropdownFilter),
        ("created_at", DayRangeFilter),
        "beneficiary_category",
        "consent_email",
        "consent_sms",
        "consent_push",
    )
    list_filter_submit = True
    # The search itself is get_search_results; this turns the search box on.
    search_fields = ("card_number",)
    search_help_text = _("Card number, phone, e-mail, or the beginning of a name.")
    show_full_result_count = False
    autocomplete_fields = ("joined_store", "beneficiary_category")
    actions_detail = ["points_adjust_dialog", "consent_change_dialog"]
    warn_unsaved_form = True

    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "phone",
                    "first_name",
                    "last_name",
                    "email",
                    "birth_date",
                    "joined_store",
                    "consents",
                )
            },
        ),
    )
    fieldsets = (
        (
            _("Member"),
            {
                "classes": ["tab"],
                "fields": (
                    "card_number",
                    "card_codes",
                    "first_name",
                    "last_name",
                    "phone",
                    "email",
                    "birth_date",
                    "birth_date_changed_at",
                    "joined_store",
                    "created_at",
                    "referral_code_display",
                    "referred_by_link",
                ),
            },
        ),
        (
            _("Points and tier"),
            {"classes": ["tab"], "fields": ("points_balance", "tier", "tier_progress")},
        ),
        (
            _("Consents"),
            {
                "classes": ["tab"],
                "fields": ("consent_email", "consent_sms", "consent_push", "consent_history"),
            },
        ),
        (
            _("Beneficiary"),
            {
                "classes": ["tab"],
                "fields": (
                    "beneficiary_category",
                    "beneficiary_proof",
                    "beneficiary_verified_until",
                ),
            },
        ),
        (
            _("Messages"),
            {
                "classes": ["tab"],
                "fields": ("nps_latest_score", "messages_table", "push_devices_table"),
            },
        ),
        (_("Points ledger"), {"classes": ["tab"], "fields": ("ledger_table",)}),
        (_("Purchases"), {"classes": ["tab"], "fields": ("purchases_table",)}),
    )
    readonly_fields = (
        "card_number",
        "card_codes",
        "created_at",
        "birth_date_changed_at",
        "referral_code_display",
        "referred_by_link",
        "points_balance",
        "tier",
        "tier_progress",
        "consent_email",
        "consent_sms",
        "consent_push",
        "consent_history",
        "nps_latest_score",
        "messages_table",
        "push_devices_table",
        "ledger_table",
        "purchases_table",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(nps_latest=member_nps_latest())

    # --- forms and saving ------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MemberAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.actor = Actor.for_user(request.user, Channel.ADMIN)
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            return  # MemberAddForm.save() enrolled the member through member_enroll.
        # Only what the form changed: balance, tier and consents move in services under
        # the member's row lock and must not be overwritten with what this page read; the
        # service also notes a changed birth date (the birthday gift waits 30 days).
        member_details_update(
            member=obj,
            changes={name: form.cleaned_data[name] for name in form.changed_data},
            actor=Actor.for_user(request.user, Channel.ADMIN),
        )

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as error:
            # The form checked phone and e-mail; a concurrent enrolment took them since.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # --- search -----------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        """Exact, indexed lookups only: card number, phone (normalised), e-mail (through
        the lower(email) index), and names by their beginning."""
        term = " ".join(search_term.split())
        if not term:
            return queryset, False
        queryset, condition = member_lookup_condition(term, queryset)
        if "@" not in term and not any(ch.isdigit() for ch in term):
            condition |= _name_condition(term)
        if not condition:
            return queryset.none(), False
        return queryset.filter(condition), False

    # --- read-only displays -----------------------------------------------------------

    @display(description=pgettext_lazy("person", "name"), ordering="first_name")
    def full_name(self, obj: Member) -> str:
        return obj.full_name

    @display(description=_("card"))
    def card_codes(self, obj: Member) -> str:
        # The SVGs are generated here from the card's digits: nothing user-typed in them.
        return format_html(
            '<div class="flex flex-row flex-wrap items-center gap-6">'
            '<div class="card-qr bg-white p-2 rounded-default">{}</div>'
            '<div class="card-barcode bg-white p-2 rounded-default">{}</div></div>',
            mark_safe(card_qr_svg(obj.card_number)),
            mark_safe(card_barcode_svg(obj.card_number)),
        )

    @display(description=_("referral code"))
    def referral_code_display(self, obj: Member) -> str:
        return member_referral_code(obj)  # generated on first use

    @display(description=_("invited by"))
    def referred_by_link(self, obj: Member) -> str:
        if obj.referred_by_id is None:
            return "—"
        return admin_link("admin:members_member_change", obj.referred_by)

    @display(description=_("progress"))
    def tier_progress(self, obj: Member) -> str:
        progress = member_progress(obj)
        places = 0 if progress.tier_basis == ProgramSettings.TierBasis.PURCHASES else 2

        def number(value) -> str:
            return formats.number_format(value, decimal_pos=places, force_grouping=True)

        parts = [_("Qualifying value: %(value)s.") % {"value": number(progress.qualifying)}]
        if progress.next_tier is not None:
            parts.append(
                _("%(remaining)s more to %(tier)s.")
                % {
                    "remaining": number(progress.next_tier_remaining),
                    "tier": progress.next_tier.name,
                }
            )
        if progress.expiring is not None:
            parts.append(
                _("%(points)s points burn on %(date)s.")
                % {
                    "points": progress.expiring.amount,
                    "date": formats.date_format(progress.expiring.date, "SHORT_DATE_FORMAT"),
                }
            )
        return " ".join(str(p) for p in parts)

    @display(description=_("consent history"))
    def consent_history(self, obj: Member) -> str:
        records = obj.consents.all()[:MEMBER_PAGE_ROWS]
        return html_table(
            [_("time"), _("channel"), _("granted"), _("source"), _("recorded by")],
            [
                [
                    formats.date_format(timezone.localtime(r.created_at), "SHORT_DATETIME_FORMAT"),
                    r.get_channel_display(),
                    _("yes") if r.is_granted else _("no"),
                    r.source,
                    r.actor,
                ]
                for r in records
            ],
        )

    @display(description=_("latest NPS score"))
    def nps_latest_score(self, obj: Member) -> str:
        score = getattr(obj, "nps_latest", None)
        return "—" if score is None else str(score)

    @display(description=_("latest messages"))
    def messages_table(self, obj: Member) -> str:
        messages_sent = obj.messages.order_by("-created_at", "-id")[:MEMBER_PAGE_ROWS]
        return html_table(
            [_("queued"), _("kind"), _("channel"), _("status")],
            [
                [
                    admin_link(
                        "admin:messaging_message_change",
                        m,
                        formats.date_format(
                            timezone.localtime(m.created_at), "SHORT_DATETIME_FORMAT"
                        ),
                    ),
                    m.get_kind_display(),
                    m.get_channel_display(),
                    m.get_status_display(),
                ]
                for m in messages_sent
            ],
            more_url=reverse("admin:messaging_message_changelist") + f"?member__id__exact={obj.pk}",
            more_text=_("All the member's messages"),
        )

    @display(description=_("push devices"))
    def push_devices_table(self, obj: Member) -> str:
        devices = obj.push_devices.order_by("-created_at", "-id")[:MEMBER_PAGE_ROWS]
        return html_table(
            [_("registered"), _("platform"), _("device token"), _("active")],
            [
                [
                    formats.date_format(timezone.localtime(d.created_at), "SHORT_DATETIME_FORMAT"),
                    d.get_platform_display(),
                    d.token,
                    _("yes") if d.is_active else _("no"),
                ]
                for d in devices
            ],
        )

    @display(description=_("latest ledger entries"))
    def ledger_table(self, obj: Member) -> str:
        entries = obj.ledger.select_related("purchase").order_by("-created_at", "-id")[
            :MEMBER_PAGE_ROWS
        ]
        rows = [
            [
                admin_link(
                    "admin:members_ledgerentry_change",
                    e,
                    formats.date_format(timezone.localtime(e.created_at), "SHORT_DATETIME_FORMAT"),
                ),
                e.get_kind_display(),
                f"{e.amount:+d}",
                admin_link("admin:members_purchase_change", e.purchase) if e.purchase else "",
                e.reason,
                e.actor,
            ]
            for e in entries
        ]
        return html_table(
            [_("time"), _("kind"), _("points"), _("purchase"), _("reason"), _("by")],
            rows,
            more_url=reverse("admin:members_ledgerentry_changelist")
            + f"?member__id__exact={obj.pk}",
            more_text=_("The member's whole ledger"),
        )

    @display(description=_("latest purchases"))
    def purchases_table(self, obj: Member) -> str:
        purchases = obj.purchases.select_related("store").order_by("-created_at", "-id")[
            :MEMBER_PAGE_ROWS
        ]
        rows = [
            [
                admin_link(
                    "admin:members_purchase_change",
                    p,
                    formats.date_format(timezone.localtime(p.created_at), "SHORT_DATETIME_FORMAT"),
                ),
                p.store.code,
                p.receipt_number,
                p.total,
                p.paid,
                p.points_spent,
                p.points_earned,
                _("yes") if p.is_fully_refunded else (p.refunded_paid or ""),
            ]
            for p in purchases
        ]
        return html_table(
            [
                _("time"),
                _("store"),
                _("receipt"),
                _("total"),
                _("paid"),
                _("points spent"),
                _("points earned"),
                _("refunded"),
            ],
            rows,
            more_url=reverse("admin:members_purchase_changelist") + f"?member__id__exact={obj.pk}",
            more_text=_("All the member's purchases"),
        )

    # --- actions on the member page ---------------------------------------------------

    # Unfold checks dotted permissions against the database at system-check time, which
    # fails before the first migrate; methods are checked without it.
    def has_adjust_points_permission(self, request, object_id=None) -> bool:
        return request.user.has_perm("members.adjust_points")

    @action(
        description=_("Adjust points"),
        url_path="adjust-points",
        permissions=["adjust_points"],
        icon="toll",
        variant=ActionVariant.PRIMARY,
        dialog=ADJUST_DIALOG,
    )
    def points_adjust_dialog(self, request, form: PointsAdjustForm, object_id):
        try:
            points_adjust(
                member=form.member,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                actor=Actor.for_user(request.user, Channel.ADMIN),
                expected_balance=form.member.points_balance,
            )
        except DomainError as error:
            form.add_error(None, error.message)
            return dialog_again(request, ADJUST_DIALOG, form)
        self.message_user(
            request,
            _("%(amount)+d points recorded for %(member)s.")
            % {"amount": form.cleaned_data["amount"], "member": form.member},
            messages.SUCCESS,
        )
        return dialog_done(request, reverse("admin:members_member_change", args=[object_id]))

    @action(
        description=_("Record consent"),
        url_path="consent",
        permissions=["change"],
        icon="mark_email_read",
        dialog=CONSENT_DIALOG,
    )
    def consent_change_dialog(self, request, form: ConsentChangeForm, object_id):
        record = member_consent_set(
            member=form.member,
            channel=form.cleaned_data["channel"],
            is_granted=form.cleaned_data["is_granted"],
            source=form.cleaned_data["source"],
            actor=Actor.for_user(request.user, Channel.ADMIN),
        )
        self.message_user(
            request,
            _("Consent recorded: %(channel)s — %(state)s.")
            % {
                "channel": record.get_channel_display(),
                "state": _("given") if record.is_granted else _("withdrawn"),
            },
            messages.SUCCESS,
        )
        return dialog_done(request, reverse("admin:members_member_change", args=[object_id]))


def _name_condition(term: str) -> Q:
    """Names starting with the term; "Иван Петров" also as first and last name.

    SQLite compares only ASCII letters case-insensitively, so the capitalised form of
    each word is tried too ("иван" finds "Иван" there as on PostgreSQL).
    """
    words = term.split(" ")
    condition = Q()
    for variant in {tuple(words), tuple(w.capitalize() for w in words)}:
        if len(variant) == 1:
            condition |= Q(first_name__istartswith=variant[0])
            condition |= Q(last_name__istartswith=variant[0])
        else:
            first, rest = variant[0], " ".join(variant[1:])
            condition |= Q(first_name__istartswith=first, last_name__istartswith=rest)
            condition |= Q(last_name__istartswith=first, first_name__istartswith=rest)
    return condition
