"""Batch → code → redemption (django-oscar's shape: VoucherSet → Voucher → application),
with the generation job that fills a batch and the recipients of a personal batch."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import RewardChoices, reward_valid
from promocodes import codes

MONEY = {"max_digits": 12, "decimal_places": 2}


class CodeBatch(models.Model):
    """A set of codes made together: their format, validity window and reward."""

    class Source(models.TextChoices):
        GENERATED = "generated", _("Generated here")
        IMPORTED = "imported", _("Imported")

    class Alphabet(models.TextChoices):
        SAFE = "safe", _("Letters and digits without look-alikes")
        LETTERS = "letters", _("Letters only")
        DIGITS = "digits", _("Digits only")

    Reward = RewardChoices  # the same rewards as a campaign's

    name = models.CharField(_("name"), max_length=200)
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="code_batches",
        verbose_name=_("campaign"),
    )
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.GENERATED
    )
    count = models.PositiveIntegerField(
        _("number of codes"),
        help_text=_("For a personal batch: one code per listed member."),
    )
    alphabet = models.CharField(
        _("alphabet"), max_length=10, choices=Alphabet.choices, default=Alphabet.SAFE
    )
    prefix = models.CharField(
        _("prefix"),
        max_length=12,
        blank=True,
        help_text=_("Printed before the random part, e.g. SPRNG."),
    )
    length = models.PositiveSmallIntegerField(
        _("random characters"),
        default=codes.DEFAULT_LENGTH,
        help_text=_("A check character is added after them."),
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    min_receipt = models.DecimalField(
        _("minimum receipt"),
        **MONEY,
        default=Decimal(0),
        help_text=_("Compared with the receipt total before discounts."),
    )
    reward_kind = models.CharField(_("reward"), max_length=10, choices=Reward.choices)
    reward_value = models.DecimalField(
        _("reward value"),
        **MONEY,
        default=Decimal(0),
        help_text=_("Percent, roubles or points, by the reward."),
    )
    reward_cap = models.DecimalField(
        _("discount cap"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_("The most a percent discount may take off, in roubles."),
    )
    gift_name = models.CharField(_("gift"), max_length=200, blank=True)
    uses_per_code = models.PositiveIntegerField(_("uses per code"), default=1)
    is_personal = models.BooleanField(
        _("personal"),
        default=False,
        help_text=_("Each code belongs to one member and only that member may use it."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Untick to stop every code of the batch.")
    )
    expired_count = models.PositiveIntegerField(_("expired"), default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("promo code batch")
        verbose_name_plural = _("promo code batches")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")), name="batch_window_not_empty"
            ),
            models.CheckConstraint(condition=Q(uses_per_code__gte=1), name="batch_uses_gte_1"),
            models.CheckConstraint(
                condition=Q(length__gte=1, length__lte=codes.MAX_CODE_LENGTH),
                name="batch_length_in_range",
            ),
            models.CheckConstraint(condition=Q(min_receipt__gte=0), name="batch_min_receipt_gte_0"),
            models.CheckConstraint(
                condition=reward_valid(),
                name="batch_reward_valid",
            ),
            models.CheckConstraint(
                condition=Q(reward_cap__isnull=True) | Q(reward_kind="percent", reward_cap__gt=0),
                name="batch_cap_only_on_percent",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def code_format(self) -> codes.CodeFormat:
        return codes.CodeFormat(prefix=self.prefix, alphabet=self.alphabet, length=self.length)


class PromoCode(models.Model):
    """One code; `uses` can never pass `max_uses` (a database check)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")

    batch = models.ForeignKey(
        CodeBatch, on_delete=models.PROTECT, related_name="codes", verbose_name=_("batch")
    )
    # Unique through Meta.constraints, not unique=True: on PostgreSQL that would add a
    # second, varchar_pattern_ops index for LIKE searches that nothing makes (codes are
    # found by exact match), costing about 40% of a bulk load and 38 MB per million codes.
    code = models.CharField(_("code"), max_length=40)
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="promo_codes",
        verbose_name=_("member"),
        db_index=False,
    )
    max_uses = models.PositiveIntegerField(_("uses allowed"), default=1)
    uses = models.PositiveIntegerField(_("used"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    request_id = models.CharField(_("request id"), max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("promo code")
        verbose_name_plural = _("promo codes")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["code"], name="code_unique"),
            models.CheckConstraint(
                condition=Q(uses__gte=0, uses__lte=F("max_uses")), name="code_uses_within_limit"
            ),
            models.UniqueConstraint(
                fields=["batch", "member"],
                condition=Q(member__isnull=False),
                name="code_one_per_member_per_batch",
            ),
            models.UniqueConstraint(
                fields=["batch", "request_id"],
                condition=~Q(request_id=""),
                name="code_request_id_unique_per_batch",
            ),
        ]
        indexes = [
            models.Index(
                fields=["member"], condition=Q(member__isnull=False), name="code_member_idx"
            ),
            # The codes the expiry task may still mark, by batch: a finished batch whose
            # codes are all marked or used up costs it nothing on later runs.
            models.Index(
                fields=["batch", "id"],
                condition=Q(status="active", uses__lt=F("max_uses")),
                name="code_usable_batch_idx",
            ),
        ]

    def __str__(self) -> str:
        return codes.display(self.code)

    @property
    def is_used_up(self) -> bool:
        return self.uses >= self.max_uses


class Redemption(models.Model):
    """One use of a code on one receipt (at most one code per receipt)."""

    code = models.ForeignKey(
        PromoCode, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("code")
    )
    batch = models.ForeignKey(
        CodeBatch, on_delete=models.PROTECT, related_name="redemptions", verbose_name=_("batch")
    )
    purchase = models.OneToOneField(
        "members.Purchase",
        on_delete=models.PROTECT,
        related_name="promo_redemption",
        verbose_name=_("purchase"),
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="promo_redemptions",
        verbose_name=_("member"),
    )
    discount = models.DecimalField(_("discount"), **MONEY)
    points = models.PositiveIntegerField(_("bonus points"), default=0)
    points_lot = models.ForeignKey(
        "members.PointsLot",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("bonus points lot"),
    )
    created_at = models.DateTimeField(_("redeemed"))
    rolled_back_at = models.DateTimeField(_("rolled back"), null=True, blank=True)
    is_code_returned = models.BooleanField(
        _("code given back"),
        default=False,
        help_text=_("Set when a refund gave the code back because it was still valid."),
    )

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(discount__gte=0), name="redemption_discount_gte_0"),
        ]
        indexes = [models.Index(fields=["-created_at", "-id"], name="redemption_time_idx")]

    def __str__(self) -> str:
        return f"{self.code} → {self.purchase_id}"


class BatchRecipient(models.Model):
    """A member a personal batch makes a code for."""

    batch = models.ForeignKey(
        CodeBatch, on_delete=models.CASCADE, related_name="recipients", verbose_name=_("batch")
    )
    member = models.ForeignKey(
        "members.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        constraints = [
            models.UniqueConstraint(fields=["batch", "member"], name="recipient_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.batch} → {self.member}"


class GenerationJob(models.Model):
    """Fills a batch with codes; the Celery task updates it as it goes (progress bar).

    `generated` is committed together with the codes it counts, so a job resumed after a
    crash continues from exactly where the last committed chunk ended.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    batch = models.ForeignKey(
        CodeBatch, on_delete=models.CASCADE, related_name="jobs", verbose_name=_("batch")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    requested = models.PositiveIntegerField(_("codes requested"))
    generated = models.PositiveIntegerField(_("codes made"), default=0)
    collisions = models.PositiveIntegerField(_("collisions skipped"), default=0)
    attempts = models.PositiveSmallIntegerField(
        _("attempts"), default=0, help_text=_("Runs started, the resumed ones included.")
    )
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("generation job")
        verbose_name_plural = _("generation jobs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(generated__lte=F("requested")), name="job_generated_within_requested"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch} ({self.generated}/{self.requested})"

    @property
    def percent(self) -> int:
        return 100 if not self.requested else self.generated * 100 // self.requested
