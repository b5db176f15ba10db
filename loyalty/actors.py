"""Who did a business write: a staff user, a partner or a task. Goes to the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from loyalty.models import Partner


@dataclass(frozen=True)
class Actor:
    channel: str  # members.models.Channel value
    user: AbstractBaseUser | None = None
    partner: Partner | None = None
    task: str = ""
    member_card: str = ""  # the member acting on their own (an unsubscribe link, an SMS)

    @classmethod
    def for_user(cls, user, channel: str) -> Actor:
        return cls(channel=channel, user=user)

    @classmethod
    def for_partner(cls, partner) -> Actor:
        return cls(channel="partner", partner=partner)

    @classmethod
    def for_task(cls, name: str) -> Actor:
        return cls(channel="system", task=name)

    @classmethod
    def for_member(cls, member) -> Actor:
        return cls(channel="system", member_card=member.card_number)

    @property
    def label(self) -> str:
        if self.user is not None:
            return f"user:{self.user.get_username()}"
        if self.partner is not None:
            return f"partner:{self.partner.pk}"
        if self.task:
            return f"task:{self.task}"
        if self.member_card:
            return f"member:{self.member_card}"
        return self.channel
