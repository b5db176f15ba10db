from django import forms
from django.utils.translation import gettext_lazy as _

from messaging.services.surveys import COMMENT_MAX

SCORES = range(11)


class SurveyForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("How likely are you to recommend our store to a friend?"),
        choices=[(value, str(value)) for value in SCORES],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a score from 0 to 10."),
            "invalid_choice": _("Choose a score from 0 to 10."),
        },
    )
    comment = forms.CharField(
        label=_("What is the main reason for your score? (optional)"),
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={
            "max_length": _("Please keep the comment under %(limit_value)d characters.")
        },
    )
