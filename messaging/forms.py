from django import forms
from django.utils.translation import gettext_lazy as _

from messaging.services.surveys import COMMENT_MAX


class SurveyForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("score"),
        choices=[(value, str(value)) for value in range(11)],
        coerce=int,
        error_messages={"required": _("Choose a score from 0 to 10.")},
    )
    comment = forms.CharField(
        label=_("comment"), required=False, max_length=COMMENT_MAX, widget=forms.Textarea
    )
