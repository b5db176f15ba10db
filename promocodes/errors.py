"""Why a promo code is refused. The codes are a public contract (API, desk, admin)."""

from django.utils.translation import gettext_lazy as _

from loyalty.errors import Conflict, DomainError, InvalidInput, NotFound


class CodeRefused(DomainError):
    """A code that cannot be used on this receipt; `code` says why."""

    status = 400


class CodeNotFound(CodeRefused):
    code = "not_found"
    status = 404
    default_message = _("There is no such promo code.")


class CodeBadCheckChar(CodeRefused):
    code = "bad_check_char"
    default_message = _("The promo code is mistyped: check it character by character.")


class CodeNotYetValid(CodeRefused):
    code = "not_yet_valid"
    default_message = _("This promo code is not valid yet.")


class CodeExpired(CodeRefused):
    code = "expired"
    default_message = _("This promo code has expired.")


class CodeUsedUp(CodeRefused):
    code = "used_up"
    status = 409
    default_message = _("This promo code has already been used.")


class CodeNotYours(CodeRefused):
    code = "not_yours"
    status = 403
    default_message = _("This promo code belongs to another member.")


class CodeMinReceipt(CodeRefused):
    code = "min_receipt"
    default_message = _("The receipt is below this promo code's minimum.")


class CodeInactive(CodeRefused):
    code = "inactive"
    default_message = _("This promo code has been switched off.")


class CodeRequired(CodeRefused):
    code = "code_required"
    default_message = _("Enter the promo code.")


class TooManyGuesses(DomainError):
    code = "too_many_attempts"
    status = 429
    default_message = _("Too many wrong promo codes. Wait a few minutes and try again.")


class BatchNotPersonal(InvalidInput):
    code = "batch_not_personal"
    default_message = _("This batch does not issue personal codes.")


class BatchNotFound(NotFound):
    code = "batch_not_found"
    default_message = _("No promo code batch with this id.")


class RequestIdConflict(Conflict):
    code = "request_id_conflict"
    default_message = _("This request_id was already used to issue a code to another member.")


class NotRecipient(DomainError):
    code = "not_recipient"
    status = 403
    default_message = _("This batch was made for a list of members, and this member is not on it.")


class BatchFull(Conflict):
    code = "batch_full"
    default_message = _("The batch has issued all the codes it may.")


class BatchNotGenerated(InvalidInput):
    code = "batch_not_generated"
    default_message = _("Imported batches are filled by import, not generated.")


class BatchNotImported(InvalidInput):
    code = "batch_not_imported"
    default_message = _("Codes can be imported only into an imported batch.")


class ImportConflict(Conflict):
    code = "import_conflict"
    default_message = _(
        "Some of these codes were added by someone else meanwhile; nothing was imported. "
        "Check the file again."
    )


REFUSALS: dict[str, type[CodeRefused]] = {
    cls.code: cls
    for cls in (
        CodeNotFound,
        CodeBadCheckChar,
        CodeNotYetValid,
        CodeExpired,
        CodeUsedUp,
        CodeNotYours,
        CodeMinReceipt,
        CodeInactive,
        CodeRequired,
    )
}
