"""Beneficiaries (PRODUCT.md mechanic 12): the category discount applies only while a
checked document is valid, so the cashier records each check with its expiry date."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.actors import Actor
from loyalty.errors import InvalidInput
from loyalty.models import BeneficiaryCategory
from members.models import BeneficiaryDocument, Member

log = logging.getLogger(__name__)

DOCUMENT_NUMBER_MAX = Member._meta.get_field("beneficiary_proof").max_length


@transaction.atomic
def beneficiary_proof_check(
    *,
    member: Member,
    category: BeneficiaryCategory,
    document_kind: str,
    document_number: str,
    valid_until: dt.date,
    actor: Actor,
) -> Member:
    """Record that the member showed a valid document of a beneficiary category: sets the
    category, the document's kind and number, the day the proof is valid until and when
    it was checked. Raises InvalidInput (beneficiary_proof_expired,
    beneficiary_category_inactive, beneficiary_document_kind_unknown,
    beneficiary_document_required); nothing changes then."""
    now = timezone.now()
    number = " ".join(document_number.split())
    if document_kind not in BeneficiaryDocument.values:
        raise InvalidInput(
            _("Choose the kind of document."), code="beneficiary_document_kind_unknown"
        )
    if not number or len(number) > DOCUMENT_NUMBER_MAX:
        raise InvalidInput(
            _("Type the document's number (at most %(max)s characters).")
            % {"max": DOCUMENT_NUMBER_MAX},
            code="beneficiary_document_required",
        )
    # "Valid until" is the last day the document is valid: the discount applies on it.
    if valid_until < timezone.localdate(now):
        raise InvalidInput(_("The document has expired."), code="beneficiary_proof_expired")
    if not BeneficiaryCategory.objects.filter(pk=category.pk, is_active=True).exists():
        raise InvalidInput(
            _("This beneficiary category is no longer offered."),
            code="beneficiary_category_inactive",
        )
    locked = Member.objects.select_for_update().get(pk=member.pk)
    locked.beneficiary_category = category
    locked.beneficiary_document_kind = document_kind
    locked.beneficiary_proof = number
    locked.beneficiary_verified_until = valid_until
    locked.beneficiary_checked_at = now
    locked.save(
        update_fields=[
            "beneficiary_category",
            "beneficiary_document_kind",
            "beneficiary_proof",
            "beneficiary_verified_until",
            "beneficiary_checked_at",
            "updated_at",
        ]
    )
    log.info(
        "beneficiary proof checked",
        extra={
            "member": locked.pk,
            "category": category.code,
            "document_kind": document_kind,
            "valid_until": valid_until.isoformat(),
            "actor": actor.label,
        },
    )
    return locked
