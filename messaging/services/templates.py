"""A template seen before it is used: its preview on a member, and a test send to staff.

A test send goes straight to the channel's backend, not through the outbox: it is
addressed to a member of staff, not to a member, so there is no consent to check, no
row to deduplicate and nothing to retry.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from phonenumber_field.phonenumber import PhoneNumber, to_python

from messaging.backends import Accepted, backend_for
from messaging.errors import InvalidAddress
from messaging.models import Channel, MessageTemplate, is_marketing
from messaging.render import Rendered, render, sample_context
from messaging.tokens import absolute

log = logging.getLogger(__name__)

# The unsubscribe link of a preview or a test message: a token no member has, so that a
# click on it by staff cannot withdraw the previewed member's consent (and record the
# member as having done it).
TEST_UNSUBSCRIBE_TOKEN = "test"


def inert_unsubscribe_url() -> str:
    return absolute(reverse("messaging:unsubscribe", args=[TEST_UNSUBSCRIBE_TOKEN]))


def staff_address_clean(*, channel: str, to: str) -> str:
    """The address a test message goes to, as the backend wants it (an e-mail address,
    a phone in E.164, a push token). Raises InvalidAddress."""
    to = to.strip()
    if channel == Channel.EMAIL:
        try:
            validate_email(to)
        except ValidationError:
            raise InvalidAddress(_("Enter a valid e-mail address.")) from None
        return to
    if channel == Channel.SMS:
        phone = to_python(to, region=settings.PHONENUMBER_DEFAULT_REGION)
        if not isinstance(phone, PhoneNumber) or not phone.is_valid():
            raise InvalidAddress(_("Enter a valid phone number."))
        return phone.as_e164
    if not to or len(to) > 255:
        raise InvalidAddress(_("Enter the device's push token."))
    return to


def template_preview(*, template: MessageTemplate, member, language: str) -> Rendered:
    """The message `template` makes for `member` (tier loaded) in `language`, with
    example values of the event and, for a marketing kind, an inert unsubscribe link in
    place of the member's own. Raises TemplateInvalid."""
    unsubscribe = inert_unsubscribe_url() if is_marketing(template.kind) else ""
    return render(
        template,
        language=language,
        context=sample_context(member),
        channel=template.channel,
        unsubscribe_url=unsubscribe,
    )


def template_test_send(
    *, template: MessageTemplate, member, to: str, language: str, actor
) -> Accepted:
    """Send `template` as previewed on `member` to the staff address `to`.

    Raises InvalidAddress for a bad address and TemplateInvalid for a template that does
    not render; a DeliveryError of the backend reaches the caller as it is."""
    address = staff_address_clean(channel=template.channel, to=to)
    rendered = template_preview(template=template, member=member, language=language)
    # Unsubscribe headers as a member's copy has them (with the inert link), so the test
    # shows how mail clients offer them.
    outgoing = rendered.outgoing(
        idempotency_key=f"{settings.MESSAGES_ID_PREFIX}-test-{uuid.uuid4().hex}",
        channel=template.channel,
        to=address,
    )
    backend = backend_for(template.channel)
    backend.open()
    try:
        accepted = backend.send(outgoing)
    finally:
        backend.close()
    log.info(
        "template test sent",
        extra={
            "template": template.pk,
            "channel": template.channel,
            "member": member.pk,
            "language": language,
            "actor": actor.label,
            "provider_id": accepted.provider_id,
        },
    )
    return accepted
