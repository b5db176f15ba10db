"""Members' app installations that push messages go to."""

from __future__ import annotations

from django.db import transaction

from messaging.models import PushDevice


@transaction.atomic
def push_device_register(*, member, token: str, platform: str, actor) -> tuple[PushDevice, bool]:
    """Register (or re-activate) an app installation for the member; returns (device,
    created). A token registered to another member moves to this one: a token names
    one installation, and the member now signed in to it is who it reaches."""
    device, created = PushDevice.objects.update_or_create(
        token=token, defaults={"member": member, "platform": platform, "is_active": True}
    )
    return device, created


@transaction.atomic
def push_device_remove(*, member, token: str, actor) -> bool:
    """Stop push to an installation (the member signed out); False if it was not theirs
    or already off. The row stays, so the outbox keeps the address it sent to."""
    return bool(
        PushDevice.objects.filter(member=member, token=token, is_active=True).update(
            is_active=False
        )
    )
