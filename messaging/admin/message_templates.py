"""Message templates: edited here in Russian and English, checked before they are saved,
previewed on a real member and sent to oneself as a test."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import AutocompleteSelectFilter
from unfold.decorators import action, display

from loyalty.actors import Actor
from loyalty.errors import DomainError
from members.models import Channel as ActorChannel
from messaging.admin.forms import MessageTemplateForm, TemplatePreviewForm, TemplateTestSendForm
from messaging.backends import DeliveryError
from messaging.models import Channel, MessageTemplate, is_marketing
from messaging.render import VARIABLES
from messaging.services.templates import template_preview, template_test_send

PREVIEW_TEMPLATE = "admin/messaging/messagetemplate/preview.html"


@admin.register(MessageTemplate)
class MessageTemplateAdmin(SimpleHistoryAdmin, ModelAdmin):
    form = MessageTemplateForm
    list_display = ("kind", "channel", "campaign", "is_active", "updated_at")
    list_select_related = ("campaign",)
    list_filter = ("kind", "channel", "is_active", ("campaign", AutocompleteSelectFilter))
    list_filter_submit = True
    autocomplete_fields = ("campaign",)
    readonly_fields = ("variables", "updated_at")
    actions_detail = ["preview"]
    fieldsets = (
        (None, {"fields": ("kind", "channel", "campaign", "is_active")}),
        (_("Russian"), {"fields": ("subject_ru", "body_ru")}),
        (_("English"), {"fields": ("subject_en", "body_en")}),
        (_("What a text may use"), {"fields": ("variables",)}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        first, *rest = fieldsets
        return ((first[0], {"fields": (*first[1]["fields"], "updated_at")}), *rest)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        help_text = _(
            "Template language: %(value)s puts in a value, %(condition)s shows a part only "
            "when there is a value. The values are listed below."
        ) % {"value": "{{ first_name }}", "condition": "{% if code %}…{% endif %}"}
        for name in ("body_ru", "body_en"):
            if name in form.base_fields:
                own = form.base_fields[name].help_text
                form.base_fields[name].help_text = f"{own} {help_text}".strip()
        return form

    @display(description=_("variables"))
    def variables(self, obj=None) -> str:
        rows = [
            [format_html("<code>{{{{ {} }}}}</code>", name), text]
            for name, text in VARIABLES.items()
        ]
        html = render_to_string(
            "unfold/components/table.html",
            {"table": {"headers": [_("variable"), _("what it holds")], "rows": rows}},
        )
        # Safe: rendered by a template with autoescaping, from format_html cells.
        return mark_safe(html)

    # --- preview and test send ----------------------------------------------------------

    # Methods, not dotted names: Unfold checks dotted ones against the database at
    # system-check time, which fails before the first migrate.
    def has_preview_permission(self, request, object_id=None) -> bool:
        return self.has_view_permission(request)

    @action(
        description=_("Preview and test send"),
        url_path="preview",
        permissions=["preview"],
        icon="preview",
    )
    def preview(self, request, object_id):
        """The template on a chosen member (GET) and its test send (POST, which needs
        the right to change templates)."""
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404
        may_send = self.has_change_permission(request, template)
        send_form = None
        if request.method == "POST":
            if not may_send:
                raise PermissionDenied
            send_form = TemplateTestSendForm(request.POST, channel=template.channel)
            if send_form.is_valid():
                response = self._test_send(request, template, send_form)
                if response is not None:
                    return response
            data = {key: send_form.data.get(key, "") for key in ("member", "language")}
            preview_form = TemplatePreviewForm(data)
        else:
            preview_form = TemplatePreviewForm(request.GET or None)
        member = rendered = None
        if preview_form.is_bound and preview_form.is_valid():
            member = preview_form.cleaned_data["member"]
            language = preview_form.cleaned_data["language"]
            try:
                rendered = template_preview(template=template, member=member, language=language)
            except DomainError as error:
                preview_form.add_error(None, str(error.message))
        if rendered is not None and may_send and send_form is None:
            send_form = TemplateTestSendForm(
                initial={
                    "member": preview_form.data.get("member", ""),
                    "language": language,
                    "to": request.user.email if template.channel == Channel.EMAIL else "",
                },
                channel=template.channel,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Preview and test send"),
            "subtitle": str(template),
            "original": template,
            "change_url": reverse("admin:messaging_messagetemplate_change", args=[template.pk]),
            "preview_form": preview_form,
            "send_form": send_form,
            "rendered": rendered,
            "member": member,
            "has_subject": template.channel != Channel.SMS,
            "is_email": template.channel == Channel.EMAIL,
            "is_marketing": is_marketing(template.kind),
        }
        return render(request, PREVIEW_TEMPLATE, context)

    def _test_send(self, request, template: MessageTemplate, form: TemplateTestSendForm):
        """Send; None (with the error on the form or in the messages) if it did not go."""
        data = form.cleaned_data
        try:
            template_test_send(
                template=template,
                member=data["member"],
                to=data["to"],
                language=data["language"],
                actor=Actor.for_user(request.user, ActorChannel.ADMIN),
            )
        except DomainError as error:
            form.add_error(None, str(error.message))
            return None
        except DeliveryError as error:
            self.message_user(
                request,
                _("The test message was not sent: %(error)s") % {"error": error},
                messages.ERROR,
            )
            return None
        self.message_user(
            request,
            _("The test message was sent to %(to)s.") % {"to": data["to"]},
            messages.SUCCESS,
        )
        query = urlencode({"member": form.data.get("member", ""), "language": data["language"]})
        url = reverse("admin:messaging_messagetemplate_preview", args=[template.pk])
        return HttpResponseRedirect(f"{url}?{query}")
