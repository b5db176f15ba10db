"""Forms of the message admin: the template form that refuses a broken template, the
preview and test send of a template, the period of the delivery figures."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from loyalty.errors import DomainError
from members.errors import MemberNotFound
from members.models import Member
from members.selectors import member_find
from messaging.errors import TemplateInvalid
from messaging.models import Channel, MessageTemplate
from messaging.render import template_check
from messaging.services.templates import staff_address_clean

TEXT_FIELDS = ("subject_ru", "body_ru", "subject_en", "body_en")
# Channels whose messages have a subject (an e-mail's subject, a push title).
CHANNELS_WITH_SUBJECT = frozenset({Channel.EMAIL, Channel.PUSH})


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ("kind", "channel", "campaign", "is_active", *TEXT_FIELDS)

    def clean(self):
        cleaned = super().clean()
        for name in TEXT_FIELDS:
            text = cleaned.get(name)
            if not text:
                continue
            try:
                template_check(text)
            except TemplateInvalid as error:
                self.add_error(name, str(error.message))
        if cleaned.get("channel") in CHANNELS_WITH_SUBJECT and not cleaned.get("subject_ru"):
            self.add_error(
                "subject_ru", _("An e-mail or a push message needs a subject (its title).")
            )
        return cleaned


def member_lookup(query: str) -> Member:
    """A member by card number, phone or e-mail, with the tier the preview needs.
    Raises MemberNotFound or BadCardNumber."""
    query = query.strip()
    if "@" not in query:
        return member_find(query)
    member = (
        Member.objects.select_related("tier")
        .alias(email_lower=Lower("email"))
        .filter(email_lower=query.lower())
        .first()
    )
    if member is None:
        raise MemberNotFound(_("No member with this e-mail."))
    return member


class TemplatePreviewForm(forms.Form):
    member = forms.CharField(
        label=_("member"),
        max_length=254,
        help_text=_("Card number, phone or e-mail of the member whose values the message shows."),
        widget=UnfoldAdminTextInputWidget(),
    )
    language = forms.ChoiceField(
        label=_("language"),
        choices=[("", _("The member's language")), *settings.LANGUAGES],
        required=False,
        widget=UnfoldAdminSelectWidget(),
    )

    def clean_member(self) -> Member:
        try:
            return member_lookup(self.cleaned_data["member"])
        except DomainError as error:
            raise forms.ValidationError(str(error.message), code=error.code) from None

    def clean(self):
        cleaned = super().clean()
        member = cleaned.get("member")
        if member is not None and not cleaned.get("language"):
            cleaned["language"] = member.language
        return cleaned


class TemplateTestSendForm(TemplatePreviewForm):
    to = forms.CharField(
        label=_("send to"),
        max_length=255,
        widget=UnfoldAdminTextInputWidget(),
    )

    def __init__(self, *args, channel: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.fields["to"].help_text = {
            Channel.EMAIL: _("Your e-mail address: the test goes to it, not to the member."),
            Channel.SMS: _("Your phone number: the test goes to it, not to the member."),
            Channel.PUSH: _("Your device's push token: the test goes to it, not to the member."),
        }[channel]

    def clean_to(self) -> str:
        try:
            return staff_address_clean(channel=self.channel, to=self.cleaned_data["to"])
        except DomainError as error:
            raise forms.ValidationError(str(error.message), code=error.code) from None


class DeliveryPeriodForm(forms.Form):
    PERIODS = ((7, _("7 days")), (30, _("30 days")), (90, _("90 days")))
    DEFAULT = 30

    days = forms.TypedChoiceField(
        label=_("period"),
        choices=PERIODS,
        coerce=int,
        required=False,
        initial=DEFAULT,
        widget=UnfoldAdminSelectWidget(),
    )

    def days_chosen(self) -> int:
        if not self.is_valid():
            return self.DEFAULT
        return self.cleaned_data["days"] or self.DEFAULT
