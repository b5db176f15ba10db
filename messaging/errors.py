"""Business errors of messages, links and surveys (stable codes, shown to people)."""

from django.utils.translation import gettext_lazy as _

from loyalty.errors import Conflict, DomainError, InvalidInput


class BadToken(DomainError):
    code = "bad_token"
    status = 400
    default_message = _("This link is damaged or not ours. Open the link from the message again.")

    def __init__(self, message=None, *, expired: bool = False, **params):
        if expired:
            message = message or _("This link has expired.")
            params["code"] = "token_expired"
        super().__init__(message, **params)


class SurveyAnswered(Conflict):
    code = "survey_answered"
    default_message = _("This survey has already been answered. Thank you!")


class InvalidScore(InvalidInput):
    code = "invalid_score"
    default_message = _("Choose a score from 0 to 10.")


class MessageNotFailed(Conflict):
    code = "message_not_failed"
    default_message = _("Only a failed message can be sent again.")


class NoTemplate(DomainError):
    code = "no_template"
    default_message = _("There is no active template for this kind of message and channel.")


class TemplateInvalid(InvalidInput):
    code = "template_invalid"
    default_message = _("The template cannot be rendered.")


class InvalidAddress(InvalidInput):
    code = "invalid_address"
    default_message = _("This is not an address the channel can send to.")
