"""The program's configuration: stores, program settings, tiers, beneficiary categories,
and the partners that use the API."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey
from simple_history.models import HistoricalRecords

PERCENT_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]


def percent_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name, max_digits=5, decimal_places=2, validators=PERCENT_VALIDATORS, **kwargs
    )


def percent_check(field: str, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__gte": 0, f"{field}__lte": 100}), name=name
    )


class Store(models.Model):
    code = models.CharField(
        _("code"),
        max_length=20,
        unique=True,
        validators=[
            RegexValidator(r"^[A-Z0-9][A-Z0-9-]*$", _("Use capital letters, digits and dashes."))
        ],
        help_text=_("Short code used on receipts and in the API, e.g. MSK-01."),
    )
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class ProgramSettings(models.Model):
    """The one row of program-wide rules (pk is always 1)."""

    class TierBasis(models.TextChoices):
        SPEND = "spend", _("Spend")
        PURCHASES = "purchases", _("Number of purchases")

    class TierWindow(models.TextChoices):
        LIFETIME = "lifetime", _("Whole history")
        ROLLING = "rolling", _("Rolling window")

    class StackingPolicy(models.TextChoices):
        BEST_OF = "best_of", _("Best of the base discounts")
        SUM_CAPPED = "sum_capped", _("Sum of the base discounts, capped")

    tier_basis = models.CharField(
        _("tier basis"), max_length=20, choices=TierBasis.choices, default=TierBasis.SPEND
    )
    tier_window = models.CharField(
        _("tier window"), max_length=20, choices=TierWindow.choices, default=TierWindow.LIFETIME
    )
    tier_window_months = models.PositiveSmallIntegerField(
        _("rolling window, months"),
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=_("Used only with the rolling window."),
    )
    points_cap_percent = percent_field(
        _("points may pay at most, %"),
        default=Decimal("30"),
        help_text=_("Share of the receipt after discounts that points may pay."),
    )
    points_life_days = models.PositiveIntegerField(
        _("points life, days"), default=365, validators=[MinValueValidator(1)]
    )
    points_expiry_notice_days = models.PositiveIntegerField(
        _("warn before points burn, days"), default=14
    )
    stacking_policy = models.CharField(
        _("stacking of base discounts"),
        max_length=20,
        choices=StackingPolicy.choices,
        default=StackingPolicy.BEST_OF,
    )
    stacking_cap_percent = percent_field(
        _("cap of summed base discounts, %"),
        default=Decimal("15"),
        help_text=_("Used only when base discounts are summed."),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("program settings")
        verbose_name_plural = _("program settings")
        permissions = [("use_cashier_desk", _("Can use the cashier desk"))]
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="program_settings_singleton"),
            percent_check("points_cap_percent", "program_points_cap_percent_range"),
            percent_check("stacking_cap_percent", "program_stacking_cap_percent_range"),
        ]

    def __str__(self) -> str:
        return str(_("Program settings"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "ProgramSettings":
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class Tier(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=12,
        decimal_places=2,
        unique=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Qualifying spend (money) or number of purchases from which the tier applies, "
            "depending on the program's tier basis. The lowest tier starts at 0."
        ),
    )
    discount_percent = percent_field(_("discount, %"), default=Decimal("0"))
    earn_percent = percent_field(
        _("points earned, %"), default=Decimal("0"), help_text=_("Of the money paid.")
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["threshold"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0), name="tier_threshold_gte_0"
            ),
            percent_check("discount_percent", "tier_discount_percent_range"),
            percent_check("earn_percent", "tier_earn_percent_range"),
        ]

    def __str__(self) -> str:
        return self.name


class BeneficiaryCategory(models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    discount_percent = percent_field(_("discount, %"))
    is_proof_required = models.BooleanField(
        _("proof required"),
        default=True,
        help_text=_("The discount applies only while a checked document is valid."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("beneficiary category")
        verbose_name_plural = _("beneficiary categories")
        ordering = ["name"]
        constraints = [percent_check("discount_percent", "beneficiary_discount_percent_range")]

    def __str__(self) -> str:
        return self.name


class Partner(models.Model):
    """A partner site that uses the REST API with its own keys and scopes."""

    class Scope(models.TextChoices):
        MEMBERS_READ = "members:read", _("Read members")
        MEMBERS_WRITE = "members:write", _("Enrol members")
        CHECKOUT = "checkout", _("Evaluate and commit checkouts")
        REFUNDS = "refunds", _("Refund purchases")
        PROMOCODES = "promocodes", _("Issue and list members' personal promo codes")

    name = models.CharField(_("name"), max_length=200, unique=True)
    is_active = models.BooleanField(_("active"), default=True)
    scopes = models.JSONField(
        _("scopes"),
        default=list,
        blank=True,
        help_text=_("What the partner's keys may do."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        valid = set(self.Scope.values)
        unknown = [s for s in self.scopes or [] if s not in valid]
        if unknown:
            raise ValidationError({"scopes": _("Unknown scopes: %s") % ", ".join(unknown)})

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class PartnerAPIKey(AbstractAPIKey):
    """A hashed, revocable, optionally expiring API key of a partner."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("partner")
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("partner API key")
        verbose_name_plural = _("partner API keys")


class IdempotencyRecord(models.Model):
    """A partner request made with an Idempotency-Key and the response it got.

    A retry with the same key and body replays the stored response; the same key with
    another body is refused. The row is written in the transaction of the business
    write, so a request that failed leaves no record and may be retried.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, verbose_name=_("partner"))
    key = models.CharField(_("key"), max_length=255)
    endpoint = models.CharField(_("endpoint"), max_length=200)
    request_hash = models.CharField(_("request hash"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.JSONField(_("response body"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return self.key
