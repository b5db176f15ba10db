"""Members and their cards, consent, purchases and refunds, and the points ledger."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower, Round
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

MONEY = {"max_digits": 12, "decimal_places": 2}


class Channel(models.TextChoices):
    CASHIER = "cashier", _("Cashier desk")
    PARTNER = "partner", _("Partner API")
    ADMIN = "admin", _("Admin")
    SYSTEM = "system", _("System")


class BeneficiaryDocument(models.TextChoices):
    PENSION = "pension", _("Pension certificate")
    STUDENT = "student", _("Student card")
    DISABILITY = "disability", _("Disability certificate")
    LARGE_FAMILY = "large_family", _("Large family certificate")
    OTHER = "other", _("Other document")


class Member(models.Model):
    card_number = models.CharField(
        _("card number"),
        max_length=13,
        unique=True,
        editable=False,
        help_text=_("13 digits; the last one is a check digit."),
    )
    phone = PhoneNumberField(_("phone"), unique=True)
    email = models.EmailField(_("e-mail"), blank=True)
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    joined_store = models.ForeignKey(
        "loyalty.Store",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("joined at store"),
    )
    tier = models.ForeignKey(
        "loyalty.Tier", on_delete=models.PROTECT, related_name="members", verbose_name=_("tier")
    )
    points_balance = models.IntegerField(
        _("points balance"),
        default=0,
        editable=False,
        help_text=_("Always equals the sum of the member's ledger."),
    )
    beneficiary_category = models.ForeignKey(
        "loyalty.BeneficiaryCategory",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("beneficiary category"),
    )
    beneficiary_proof = models.CharField(
        _("beneficiary document"),
        max_length=100,
        blank=True,
        help_text=_("Kind and number of the document that was checked."),
    )
    beneficiary_verified_until = models.DateField(
        _("beneficiary proof valid until"), null=True, blank=True
    )
    beneficiary_document_kind = models.CharField(
        _("beneficiary document kind"),
        max_length=20,
        choices=BeneficiaryDocument.choices,
        blank=True,
    )
    beneficiary_checked_at = models.DateTimeField(
        _("beneficiary proof checked"), null=True, blank=True, editable=False
    )
    referral_code = models.CharField(
        _("referral code"),
        max_length=12,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_("Friends enrol with it; both get points after the friend's first purchase."),
    )
    referred_by = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("invited by"),
        editable=False,
    )
    birth_date_changed_at = models.DateTimeField(
        _("birth date changed"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("A birthday gift is not given within 30 days of a change."),
    )
    language = models.CharField(
        _("language of messages"),
        max_length=5,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
    )
    # Current consent per channel, kept in step with the latest ConsentRecord by
    # member_consent_set so segments and sending can filter without a subquery.
    consent_email = models.BooleanField(_("e-mail consent"), default=False, editable=False)
    consent_sms = models.BooleanField(_("SMS consent"), default=False, editable=False)
    consent_push = models.BooleanField(_("push consent"), default=False, editable=False)
    created_at = models.DateTimeField(_("joined"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-created_at"]
        permissions = [
            ("adjust_points", _("Can adjust points manually")),
            ("check_beneficiary_proof", _("Can record a checked beneficiary document")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(points_balance__gte=0), name="member_points_balance_gte_0"
            ),
            models.CheckConstraint(
                condition=~models.Q(referred_by=models.F("id")), name="member_not_self_referred"
            ),
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="member_email_ci_unique",
                violation_error_message=_("A member with this e-mail already exists."),
            ),
        ]
        indexes = [models.Index(Lower("email"), name="member_email_lower_idx")]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.card_number})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ConsentRecord(models.Model):
    """One consent given or withdrawn, with when and where (the legal record)."""

    class ConsentChannel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        SMS = "sms", _("SMS")
        PUSH = "push", _("Push")

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="consents", verbose_name=_("member")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=ConsentChannel.choices)
    is_granted = models.BooleanField(_("granted"))
    source = models.CharField(
        _("source"),
        max_length=100,
        help_text=_("Where the consent was given: cashier desk, partner site, unsubscribe link."),
    )
    actor = models.CharField(_("recorded by"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["member", "channel", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.member_id} {self.channel} {self.is_granted}"


class Purchase(models.Model):
    """A committed receipt with every step of the checkout arithmetic."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="purchases", verbose_name=_("member")
    )
    store = models.ForeignKey(
        "loyalty.Store", on_delete=models.PROTECT, related_name="purchases", verbose_name=_("store")
    )
    receipt_number = models.CharField(_("receipt number"), max_length=64)
    total = models.DecimalField(_("total"), **MONEY)
    base_rate = models.DecimalField(_("base rate, %"), max_digits=5, decimal_places=2)
    base_source = models.CharField(_("base discount from"), max_length=100, blank=True)
    base_discount = models.DecimalField(_("base discount"), **MONEY)
    reward_source = models.CharField(_("code or offer"), max_length=100, blank=True)
    reward_reference = models.CharField(_("code or offer reference"), max_length=100, blank=True)
    code_discount = models.DecimalField(_("code or offer discount"), **MONEY)
    points_max = models.IntegerField(_("points allowed"))
    points_spent = models.IntegerField(_("points spent"))
    paid = models.DecimalField(_("money paid"), **MONEY)
    tier = models.ForeignKey(
        "loyalty.Tier",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tier at checkout"),
    )
    earn_percent = models.DecimalField(_("earn rate, %"), max_digits=5, decimal_places=2)
    points_earned = models.IntegerField(_("points earned"))
    tier_spend = models.DecimalField(
        _("tier spend"), **MONEY, help_text=_("Total after discounts; counts towards the tier.")
    )
    steps = models.JSONField(_("steps"), default=list)
    request_fingerprint = models.CharField(max_length=64, editable=False)
    # Running totals of refunds, updated under the purchase's row lock.
    refunded_paid = models.DecimalField(_("money refunded (of paid)"), **MONEY, default=Decimal(0))
    points_taken_back = models.IntegerField(_("points taken back"), default=0)
    points_returned = models.IntegerField(_("points returned"), default=0)
    tier_spend_refunded = models.DecimalField(_("tier spend refunded"), **MONEY, default=Decimal(0))
    is_fully_refunded = models.BooleanField(_("fully refunded"), default=False)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    partner = models.ForeignKey(
        "loyalty.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchases",
        verbose_name=_("partner"),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "receipt_number"], name="purchase_receipt_unique_per_store"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    total__gte=0,
                    base_discount__gte=0,
                    code_discount__gte=0,
                    points_spent__gte=0,
                    paid__gte=0,
                    points_earned__gte=0,
                ),
                name="purchase_amounts_gte_0",
            ),
            # Compared at kopeck precision: SQLite (the embedded default) stores
            # decimals as REAL, where 3000.10 - 150.01 is not exactly 2850.09.
            models.CheckConstraint(
                condition=models.Q(
                    paid=Round(
                        models.F("total")
                        - models.F("base_discount")
                        - models.F("code_discount")
                        - models.F("points_spent"),
                        2,
                    )
                ),
                name="purchase_paid_adds_up",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_paid__gte=0, refunded_paid__lte=models.F("paid")),
                name="purchase_refund_within_paid",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    points_taken_back__lte=models.F("points_earned"),
                    points_returned__lte=models.F("points_spent"),
                ),
                name="purchase_refund_points_within",
            ),
        ]
        indexes = [models.Index(fields=["member", "-created_at"], name="purchase_member_time_idx")]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.receipt_number}"

    @property
    def refundable(self) -> Decimal:
        return self.paid - self.refunded_paid


class Refund(models.Model):
    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("purchase")
    )
    amount = models.DecimalField(
        _("amount refunded of money paid"),
        **MONEY,
        help_text=_("The part of the money paid that the goods returned are worth."),
    )
    money_withheld = models.DecimalField(
        _("money withheld"),
        **MONEY,
        help_text=_("Value of earned points the member had already spent."),
    )
    money_refunded = models.DecimalField(_("money refunded"), **MONEY)
    points_taken_back = models.IntegerField(_("points taken back"))
    points_returned = models.IntegerField(_("points returned"))
    tier_spend = models.DecimalField(_("tier spend reversed"), **MONEY)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    partner = models.ForeignKey(
        "loyalty.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner"),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0, points_returned__gte=0, points_taken_back__gte=0),
                name="refund_amounts_gte_0",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    money_refunded=Round(models.F("amount") - models.F("money_withheld"), 2),
                    money_withheld__gte=0,
                    money_refunded__gte=0,
                ),
                name="refund_money_adds_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purchase} −{self.amount}"


class PointsLot(models.Model):
    """Points that arrived together and burn together; spent oldest first.

    `remaining` always equals the sum of the ledger entries on the lot.
    """

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="points_lots", verbose_name=_("member")
    )
    amount = models.IntegerField(_("points"))
    remaining = models.IntegerField(_("remaining"))
    earned_at = models.DateTimeField(_("earned"))
    expires_at = models.DateTimeField(_("burns at"))
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="points_lots",
        verbose_name=_("purchase"),
    )

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    amount__gt=0, remaining__gte=0, remaining__lte=models.F("amount")
                ),
                name="points_lot_remaining_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["member", "expires_at", "id"],
                condition=models.Q(remaining__gt=0),
                name="lot_open_member_idx",
            ),
            models.Index(
                fields=["expires_at", "id"],
                condition=models.Q(remaining__gt=0),
                name="lot_open_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount} → {self.expires_at:%Y-%m-%d}"


class LedgerEntry(models.Model):
    """An append-only movement of points on one lot. Never updated, never deleted."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        SPEND = "spend", _("Spent")
        EXPIRE = "expire", _("Burned")
        REFUND = "refund", _("Refund")
        ADJUST = "adjust", _("Manual adjustment")
        GRANT = "grant", _("Granted")

    # The ledger takes a row for every movement (a million a night when points burn),
    # so it carries only the indexes its reads need: member + time (which also serves
    # the member foreign key), lot, and partial ones for purchase and refund, which
    # burns and adjustments leave empty.
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="ledger",
        verbose_name=_("member"),
        db_index=False,
    )
    lot = models.ForeignKey(
        PointsLot, on_delete=models.PROTECT, related_name="entries", verbose_name=_("lot")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount = models.IntegerField(_("points"))
    purchase = models.ForeignKey(
        Purchase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("purchase"),
        db_index=False,
    )
    refund = models.ForeignKey(
        Refund,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("refund"),
        db_index=False,
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    actor = models.CharField(_("by"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("time"))

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("points ledger")
        # Entries are appended in time order, so the id orders them without an index
        # on the time.
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_amount_nonzero"),
            models.CheckConstraint(
                condition=~models.Q(kind="adjust") | ~models.Q(reason=""),
                name="ledger_adjust_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="ledger_member_time_idx"),
            models.Index(
                fields=["purchase"],
                condition=models.Q(purchase__isnull=False),
                name="ledger_purchase_idx",
            ),
            models.Index(
                fields=["refund"],
                condition=models.Q(refund__isnull=False),
                name="ledger_refund_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"
