"""Messages to members: templates, the outbox, push devices and NPS surveys.

Every message is a row of the outbox (Message), written in the transaction of the
event that causes it and delivered by messaging.services.delivery. Its unique key
(kind, member, channel, event key) is what makes a message impossible to queue twice.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import ConsentRecord

Channel = ConsentRecord.ConsentChannel


class Kind(models.TextChoices):
    """What a message is for. The campaign mechanics add their sends under these kinds."""

    RECEIPT = "receipt", _("Receipt")
    POINTS_BALANCE = "points_balance", _("Points balance")
    POINTS_BURN = "points_burn", _("Points about to burn")
    WELCOME = "welcome", _("Welcome")
    BIRTHDAY = "birthday", _("Birthday greeting")
    OFFER = "offer", _("Personal offer")
    OFFER_EXPIRING = "offer_expiring", _("Offer about to expire")
    PROMO_CODE = "promo_code", _("Promo code")
    SALE_ANNOUNCE = "sale_announce", _("Closed sale: announcement")
    SALE_OPEN = "sale_open", _("Closed sale: now open")
    SALE_LAST_CHANCE = "sale_last_chance", _("Closed sale: last chance")
    NPS = "nps", _("NPS survey")


# Service messages about the member's own account: sent without marketing consent
# (38-FZ restricts advertising, not receipts). Everything else is marketing and needs
# the member's consent for the channel at the moment it is sent. "Points about to burn"
# is marketing: it urges a purchase, so it needs consent and carries an unsubscribe link.
TRANSACTIONAL_KINDS = frozenset({Kind.RECEIPT, Kind.POINTS_BALANCE})


def is_marketing(kind: str) -> bool:
    return kind not in TRANSACTIONAL_KINDS


class MessageTemplate(models.Model):
    """The text of one kind of message on one channel, in Russian and English.

    A campaign may have templates of its own; without one, the general template of the
    kind and channel is used.
    """

    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="message_templates",
        verbose_name=_("campaign"),
        help_text=_("Leave empty for the template every campaign uses by default."),
    )
    subject_ru = models.CharField(
        _("subject (Russian)"),
        max_length=200,
        blank=True,
        help_text=_("E-mail subject or push title. SMS has none."),
    )
    body_ru = models.TextField(_("text (Russian)"))
    subject_en = models.CharField(_("subject (English)"), max_length=200, blank=True)
    body_en = models.TextField(
        _("text (English)"),
        blank=True,
        help_text=_("Members who chose English get this text; empty means the Russian one."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Messages of an inactive template are not sent.")
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["kind", "channel", "campaign_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "channel"],
                condition=Q(campaign__isnull=True),
                name="template_kind_channel_unique",
                violation_error_message=_("There is already a template of this kind and channel."),
            ),
            models.UniqueConstraint(
                fields=["kind", "channel", "campaign"],
                condition=Q(campaign__isnull=False),
                name="template_campaign_kind_channel_unique",
                violation_error_message=_(
                    "This campaign already has a template of this kind and channel."
                ),
            ),
        ]

    def __str__(self) -> str:
        label = f"{self.get_kind_display()} · {self.get_channel_display()}"
        return f"{label} · {self.campaign}" if self.campaign_id else label


class Message(models.Model):
    """One message to one member on one channel: the outbox row and its delivery record."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")

    class Suppression(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent for the channel")
        NO_ADDRESS = "no_address", _("No address for the channel")
        TEMPLATE_INACTIVE = "template_inactive", _("Template switched off")

    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,  # message_member_idx (member, -created_at) serves it
        verbose_name=_("member"),
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("campaign"),
    )
    event_key = models.CharField(
        _("event"),
        max_length=100,
        help_text=_("What caused the message, e.g. purchase:123; one message per event."),
    )
    context = models.JSONField(_("context"), default=dict, blank=True)
    is_marketing = models.BooleanField(_("marketing"), editable=False)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    suppressed_reason = models.CharField(
        _("suppressed because"), max_length=20, choices=Suppression.choices, blank=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    send_after = models.DateTimeField(_("send after"))
    # The delivery run that holds the row while it is being sent (see services.delivery).
    claim = models.BigIntegerField(_("claim"), null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True, editable=False)
    recipient = models.CharField(_("sent to"), max_length=512, blank=True)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"), blank=True)
    provider_id = models.CharField(_("provider's message id"), max_length=255, blank=True)
    provider_response = models.TextField(_("provider's answer"), blank=True)
    error = models.TextField(_("error"), blank=True)
    resent_by = models.CharField(_("resent by"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("queued"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at", "-id"]
        permissions = [("resend_message", _("Can resend a failed message"))]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "member", "channel", "event_key"], name="message_once"
            ),
            models.CheckConstraint(
                condition=Q(status="sending", claim__isnull=False)
                | (~Q(status="sending") & Q(claim__isnull=True)),
                name="message_claim_iff_sending",
            ),
            models.CheckConstraint(
                condition=Q(status="suppressed") | Q(suppressed_reason=""),
                name="message_suppressed_reason_only_if_suppressed",
            ),
            # A row of an unknown kind or channel could never be sent: refused at insert.
            models.CheckConstraint(condition=Q(kind__in=Kind.values), name="message_kind_known"),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="message_channel_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed", "suppressed"]),
                name="message_status_known",
            ),
        ]
        indexes = [
            models.Index(
                fields=["send_after", "id"],
                condition=Q(status="pending"),
                name="message_due_idx",
            ),
            models.Index(fields=["claim"], condition=Q(status="sending"), name="message_claim_idx"),
            models.Index(fields=["created_at"], name="message_created_idx"),
            # The outbox's "failed" view, newest first, on a table of millions.
            models.Index(
                fields=["-created_at"],
                condition=Q(status="failed"),
                name="message_failed_idx",
            ),
            models.Index(fields=["member", "-created_at"], name="message_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.get_channel_display()} #{self.pk}"

    @property
    def idempotency_key(self) -> str:
        """Sent to the provider with every attempt, so a retry of a message whose first
        attempt's answer was lost is recognised there instead of delivered twice."""
        return f"{settings.MESSAGES_ID_PREFIX}-{self.pk}"


class PushDevice(models.Model):
    """A member's app installation that push messages go to."""

    class Platform(models.TextChoices):
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"
        WEB = "web", _("Web browser")

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="push_devices",
        verbose_name=_("member"),
    )
    # Web push endpoints are URLs of several hundred characters.
    token = models.CharField(_("device token"), max_length=512, unique=True)
    platform = models.CharField(_("platform"), max_length=10, choices=Platform.choices)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("registered"), auto_now_add=True)

    class Meta:
        verbose_name = _("push device")
        verbose_name_plural = _("push devices")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} …{self.token[-6:]}"


class Survey(models.Model):
    """An NPS question sent to a member after a purchase, and their answer."""

    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="surveys",
        verbose_name=_("member"),
    )
    purchase = models.ForeignKey(
        "members.Purchase",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("purchase"),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    created_at = models.DateTimeField(_("sent"), db_index=True)
    score = models.PositiveSmallIntegerField(
        _("score"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(10)],
        help_text=_("How likely the member is to recommend the store, 0 to 10."),
    )
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("NPS survey")
        verbose_name_plural = _("NPS surveys")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "purchase"], name="survey_once_per_purchase"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=10),
                name="survey_score_0_10",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True, answered_at__isnull=True)
                | Q(score__isnull=False, answered_at__isnull=False),
                name="survey_score_iff_answered",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="survey_member_idx"),
            models.Index(
                fields=["answered_at"], condition=Q(score__isnull=False), name="survey_answered_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"NPS {self.member_id} {self.created_at:%Y-%m-%d}"

    @property
    def group(self) -> str:
        """promoter (9–10), passive (7–8) or detractor (0–6); empty before an answer."""
        if self.score is None:
            return ""
        if self.score >= 9:
            return "promoter"
        return "passive" if self.score >= 7 else "detractor"
