"""Segments, campaigns and what campaigns give members: offers, grants, counters.

A campaign is one model with a kind (PRODUCT.md mechanics 4-7 and 9-11). What it gives
is written as rows with a unique (campaign, member, event) key, so every scheduled
step and every purchase hook can run twice and give once.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from loyalty.rules import RewardKind
from members.models import ConsentRecord

MONEY = {"max_digits": 12, "decimal_places": 2}
PERCENT = {"max_digits": 5, "decimal_places": 2}


class RewardChoices(models.TextChoices):
    PERCENT = RewardKind.PERCENT.value, _("Percent off")
    FIXED = RewardKind.FIXED.value, _("Fixed amount off")
    POINTS = RewardKind.POINTS.value, _("Bonus points")
    GIFT = RewardKind.GIFT.value, _("Gift")


def reward_valid(prefix: str = "") -> Q:
    """The reward columns hold a usable reward (the same rule as a promo code batch's)."""
    kind, value, gift = f"{prefix}reward_kind", f"{prefix}reward_value", f"{prefix}gift_name"
    return (
        Q(**{kind: "gift", f"{gift}__gt": ""})
        | Q(**{kind: "percent", f"{value}__gt": 0, f"{value}__lte": 100})
        | Q(**{f"{kind}__in": ["fixed", "points"], f"{value}__gt": 0})
    )


class Segment(models.Model):
    """A saved member filter: every rule that is filled in must hold (AND)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    tiers = models.ManyToManyField(
        "loyalty.Tier",
        blank=True,
        related_name="+",
        verbose_name=_("tiers"),
        help_text=_("Members on any of these tiers. Empty: any tier."),
    )
    spend_min = models.DecimalField(
        _("total spend from"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_("Spend after discounts over the whole history, refunds deducted."),
    )
    spend_max = models.DecimalField(_("total spend up to"), **MONEY, null=True, blank=True)
    purchases_days = models.PositiveSmallIntegerField(
        _("purchases counted over the last, days"),
        default=90,
        help_text=_("The period the two purchase counts below look at."),
    )
    purchases_min = models.PositiveIntegerField(
        _("purchases in the period, at least"), null=True, blank=True
    )
    purchases_max = models.PositiveIntegerField(
        _("purchases in the period, at most"), null=True, blank=True
    )
    inactive_days_min = models.PositiveIntegerField(
        _("days since last purchase, at least"),
        null=True,
        blank=True,
        help_text=_("Churn risk. A member who never bought counts from the day they joined."),
    )
    inactive_days_max = models.PositiveIntegerField(
        _("days since last purchase, at most"), null=True, blank=True
    )
    birthday_month = models.PositiveSmallIntegerField(
        _("birthday month"),
        null=True,
        blank=True,
        choices=[(m, m) for m in range(1, 13)],
    )
    beneficiary_categories = models.ManyToManyField(
        "loyalty.BeneficiaryCategory",
        blank=True,
        related_name="+",
        verbose_name=_("beneficiary categories"),
        help_text=_("Members of any of these categories. Empty: anyone."),
    )
    stores = models.ManyToManyField(
        "loyalty.Store",
        blank=True,
        related_name="+",
        verbose_name=_("stores"),
        help_text=_("Members who joined at or bought in any of these stores. Empty: any."),
    )
    consent_email = models.BooleanField(_("e-mail consent"), null=True, blank=True)
    consent_sms = models.BooleanField(_("SMS consent"), null=True, blank=True)
    consent_push = models.BooleanField(_("push consent"), null=True, blank=True)
    nps_min = models.PositiveSmallIntegerField(
        _("latest NPS score from"),
        null=True,
        blank=True,
        help_text=_("0-10; members who never answered a survey do not match."),
    )
    nps_max = models.PositiveSmallIntegerField(_("latest NPS score up to"), null=True, blank=True)
    joined_from = models.DateField(_("joined from"), null=True, blank=True)
    joined_until = models.DateField(_("joined until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    history = HistoricalRecords(m2m_fields=[tiers, beneficiary_categories, stores])

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(spend_min__isnull=True)
                | Q(spend_max__isnull=True)
                | Q(spend_min__lte=F("spend_max")),
                name="segment_spend_range",
            ),
            models.CheckConstraint(
                condition=Q(purchases_min__isnull=True)
                | Q(purchases_max__isnull=True)
                | Q(purchases_min__lte=F("purchases_max")),
                name="segment_purchases_range",
            ),
            models.CheckConstraint(
                condition=Q(inactive_days_min__isnull=True)
                | Q(inactive_days_max__isnull=True)
                | Q(inactive_days_min__lte=F("inactive_days_max")),
                name="segment_inactive_range",
            ),
            models.CheckConstraint(
                condition=(Q(nps_min__isnull=True) | Q(nps_min__lte=10))
                & (Q(nps_max__isnull=True) | Q(nps_max__lte=10))
                & (
                    Q(nps_min__isnull=True) | Q(nps_max__isnull=True) | Q(nps_min__lte=F("nps_max"))
                ),
                name="segment_nps_range",
            ),
            models.CheckConstraint(
                condition=Q(joined_from__isnull=True)
                | Q(joined_until__isnull=True)
                | Q(joined_from__lte=F("joined_until")),
                name="segment_joined_range",
            ),
            models.CheckConstraint(
                condition=Q(birthday_month__isnull=True)
                | Q(birthday_month__gte=1, birthday_month__lte=12),
                name="segment_birthday_month_valid",
            ),
            models.CheckConstraint(condition=Q(purchases_days__gte=1), name="segment_days_gte_1"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignKind(models.TextChoices):
    PROMO = "promo", _("Promo codes only")
    NTH_PURCHASE = "nth_purchase", _("Every N-th purchase")
    OFFER = "offer", _("Time-limited offer")
    CLOSED_SALE = "closed_sale", _("Closed sale")
    THRESHOLD = "threshold", _("Threshold coupons")
    WELCOME = "welcome", _("Welcome")
    BIRTHDAY = "birthday", _("Birthday")
    REFERRAL = "referral", _("Referral")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    FINISHED = "finished", _("Finished")


class Campaign(models.Model):
    """A marketing campaign: its kind says what it gives, its window when, its segment
    to whom; promo code batches may belong to one too."""

    Kind = CampaignKind
    Status = CampaignStatus

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.PROMO)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, editable=False
    )
    starts_at = models.DateTimeField(_("starts"), null=True, blank=True)
    ends_at = models.DateTimeField(
        _("ends"),
        null=True,
        blank=True,
        help_text=_("Offers burn and the sale closes at this moment. Empty: no end."),
    )
    segment = models.ForeignKey(
        Segment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("segment"),
        help_text=_("Who the campaign is for. Empty: every member."),
    )
    is_segment_frozen = models.BooleanField(
        _("freeze the segment at start"),
        default=False,
        help_text=_(
            "Take the members the segment holds when the campaign starts and keep exactly "
            "them. Offers and closed sales always freeze it."
        ),
    )
    reward_kind = models.CharField(
        _("reward"), max_length=10, choices=RewardChoices.choices, blank=True
    )
    reward_value = models.DecimalField(
        _("reward value"),
        **MONEY,
        default=Decimal(0),
        help_text=_("Percent, roubles or points, by the reward. A closed sale: its discount, %."),
    )
    reward_cap = models.DecimalField(
        _("discount cap"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_("The most a percent discount may take off, in roubles."),
    )
    min_receipt = models.DecimalField(
        _("minimum receipt"),
        **MONEY,
        default=Decimal(0),
        help_text=_("Compared with the receipt total before discounts."),
    )
    gift_name = models.CharField(_("gift"), max_length=200, blank=True)
    budget = models.DecimalField(
        _("budget"),
        **MONEY,
        null=True,
        blank=True,
        help_text=_(
            "The most the campaign may give away: discounts in money, points at their "
            "value. Empty: no cap."
        ),
    )
    spent = models.DecimalField(_("spent"), **MONEY, default=Decimal(0), editable=False)
    holdout_percent = models.DecimalField(
        _("holdout, %"),
        **PERCENT,
        default=Decimal(0),
        help_text=_(
            "A control group: this share of the targeted members is set aside and gets "
            "nothing, so the reports can measure the uplift."
        ),
    )
    every_n = models.PositiveSmallIntegerField(
        _("every N-th purchase"),
        null=True,
        blank=True,
        help_text=_("N: the reward applies to the N-th purchase itself."),
    )
    offer_days = models.PositiveSmallIntegerField(
        _("offer valid, days"),
        default=30,
        help_text=_("How long a coupon or gift given after an event stays valid."),
    )
    lead_days = models.PositiveSmallIntegerField(
        _("days ahead"),
        default=3,
        help_text=_(
            "A closed sale: the announcement goes this many days before the start. "
            "A birthday: the greeting and gift this many days before the date."
        ),
    )
    last_chance_hours = models.PositiveSmallIntegerField(
        _("last chance, hours before the end"), default=24
    )
    referrer_points = models.PositiveIntegerField(
        _("points to the member who invited"),
        default=0,
        help_text=_("Referral: the friend gets the reward's points, the inviter these."),
    )
    channel = models.CharField(
        _("channel of messages"),
        max_length=10,
        choices=ConsentRecord.ConsentChannel.choices,
        default=ConsentRecord.ConsentChannel.EMAIL,
    )
    # When each scheduled step was done (in the transaction that did it), so a beat run
    # that comes again skips it and one that died is simply repeated.
    invited_at = models.DateTimeField(_("invitations frozen"), null=True, editable=False)
    announced_at = models.DateTimeField(_("announcement queued"), null=True, editable=False)
    opened_at = models.DateTimeField(_("start reminder queued"), null=True, editable=False)
    issued_at = models.DateTimeField(_("offers issued"), null=True, editable=False)
    last_chance_at = models.DateTimeField(_("last chance queued"), null=True, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["spent", "updated_at"])

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="campaign_window_not_empty",
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0, holdout_percent__lte=50),
                name="campaign_holdout_in_range",
            ),
            models.CheckConstraint(
                condition=Q(reward_kind="") | reward_valid(), name="campaign_reward_valid"
            ),
            models.CheckConstraint(
                condition=Q(reward_cap__isnull=True) | Q(reward_kind="percent", reward_cap__gt=0),
                name="campaign_cap_only_on_percent",
            ),
            # The budget cap itself: spending is one conditional UPDATE, and this check
            # refuses any that would pass the budget.
            models.CheckConstraint(
                condition=Q(spent__gte=0) & (Q(budget__isnull=True) | Q(spent__lte=F("budget"))),
                name="campaign_spent_within_budget",
            ),
            models.CheckConstraint(
                condition=~Q(kind="nth_purchase") | Q(every_n__gte=2),
                name="campaign_nth_needs_n",
            ),
            models.CheckConstraint(
                condition=Q(min_receipt__gte=0), name="campaign_min_receipt_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=CampaignKind.values), name="campaign_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_known"
            ),
        ]
        indexes = [models.Index(fields=["kind", "status"], name="campaign_kind_status_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.ACTIVE


class RewardLevel(models.Model):
    """A threshold coupon campaign's step: a receipt of at least `threshold` after
    discounts earns `reward_value` (only the highest level reached)."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="levels", verbose_name=_("campaign")
    )
    threshold = models.DecimalField(_("receipt from"), **MONEY)
    reward_value = models.DecimalField(_("reward value"), **MONEY)

    class Meta:
        verbose_name = _("threshold level")
        verbose_name_plural = _("threshold levels")
        ordering = ["campaign", "threshold"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "threshold"], name="level_unique"),
            models.CheckConstraint(
                condition=Q(threshold__gt=0, reward_value__gt=0), name="level_values_gt_0"
            ),
        ]

    def __str__(self) -> str:
        return f"≥ {self.threshold} → {self.reward_value}"


class Participant(models.Model):
    """A member a campaign targets, frozen when it starts (or invited to a closed sale),
    and whether the member was set aside in the holdout group (gets nothing)."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="participants", verbose_name=_("campaign")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="campaign_entries",
        verbose_name=_("member"),
        db_index=False,
    )
    is_holdout = models.BooleanField(_("holdout"), default=False)
    created_at = models.DateTimeField(_("added"))

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "member"], name="participant_unique"),
        ]
        indexes = [models.Index(fields=["member"], name="participant_member_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.member_id}"


class OfferStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    USED = "used", _("Used")
    EXPIRED = "expired", _("Burnt")
    CANCELLED = "cancelled", _("Cancelled")


class Offer(models.Model):
    """A personal offer, coupon or gift a campaign issued to one member: usable once, in
    its window, as the one reward of step 3."""

    Status = OfferStatus

    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="offers", verbose_name=_("campaign")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="offers",
        verbose_name=_("member"),
        db_index=False,
    )
    # "" for the one offer a campaign issues to a member; the year of a birthday, the
    # purchase behind a threshold coupon: what makes two offers of a campaign different.
    event_key = models.CharField(_("event"), max_length=64, blank=True, default="")
    title = models.CharField(_("title"), max_length=200)
    reward_kind = models.CharField(_("reward"), max_length=10, choices=RewardChoices.choices)
    reward_value = models.DecimalField(_("reward value"), **MONEY, default=Decimal(0))
    reward_cap = models.DecimalField(_("discount cap"), **MONEY, null=True, blank=True)
    min_receipt = models.DecimalField(_("minimum receipt"), **MONEY, default=Decimal(0))
    gift_name = models.CharField(_("gift"), max_length=200, blank=True)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    source_purchase = models.ForeignKey(
        "members.Purchase",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("earned on"),
        db_index=False,
    )
    purchase = models.ForeignKey(
        "members.Purchase",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("used on"),
        db_index=False,
    )
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    created_at = models.DateTimeField(_("issued"))

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "event_key"], name="offer_once_per_event"
            ),
            models.CheckConstraint(condition=reward_valid(), name="offer_reward_valid"),
            models.CheckConstraint(
                condition=Q(valid_until__gt=F("valid_from")), name="offer_window_not_empty"
            ),
            models.CheckConstraint(
                condition=~Q(status="used") | Q(purchase__isnull=False, used_at__isnull=False),
                name="offer_used_has_purchase",
            ),
            models.CheckConstraint(
                condition=Q(status__in=OfferStatus.values), name="offer_status_known"
            ),
        ]
        indexes = [
            models.Index(
                fields=["member", "valid_until"],
                condition=Q(status="active"),
                name="offer_member_active_idx",
            ),
            models.Index(
                fields=["valid_until", "id"],
                condition=Q(status="active"),
                name="offer_expiry_idx",
            ),
            models.Index(fields=["purchase"], name="offer_purchase_idx"),
            models.Index(fields=["source_purchase"], name="offer_source_purchase_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} → {self.member_id}"


class Grant(models.Model):
    """One reward a campaign gave: a discount on a purchase or points. The campaign's
    results and budget add these up; the unique event key makes each given once."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="grants", verbose_name=_("campaign")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.PROTECT,
        related_name="campaign_grants",
        verbose_name=_("member"),
        db_index=False,
    )
    event_key = models.CharField(_("event"), max_length=64)
    purchase = models.ForeignKey(
        "members.Purchase",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaign_grants",
        verbose_name=_("purchase"),
        db_index=False,
    )
    offer = models.ForeignKey(
        Offer,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("offer"),
    )
    discount = models.DecimalField(_("discount"), **MONEY, default=Decimal(0))
    points = models.PositiveIntegerField(_("points"), default=0)
    points_lot = models.ForeignKey(
        "members.PointsLot",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("points lot"),
    )
    cost = models.DecimalField(
        _("cost"), **MONEY, help_text=_("The discount plus the points at their value.")
    )
    created_at = models.DateTimeField(_("given"))
    rolled_back_at = models.DateTimeField(_("rolled back"), null=True, blank=True)

    class Meta:
        verbose_name = _("reward given")
        verbose_name_plural = _("rewards given")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "event_key"], name="grant_once_per_event"
            ),
            models.CheckConstraint(
                condition=Q(discount__gte=0, cost__gte=0), name="grant_amounts_gte_0"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="grant_member_idx"),
            models.Index(
                fields=["purchase"],
                condition=Q(purchase__isnull=False),
                name="grant_purchase_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.event_key} → {self.member_id}"


class PurchaseCounter(models.Model):
    """A member's progress in an every-N-th-purchase campaign: purchases counted in the
    current cycle (0 … N-1) and cycles completed (rewards given)."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="counters", verbose_name=_("campaign")
    )
    member = models.ForeignKey(
        "members.Member",
        on_delete=models.CASCADE,
        related_name="campaign_counters",
        verbose_name=_("member"),
        db_index=False,
    )
    count = models.PositiveSmallIntegerField(_("purchases counted"), default=0)
    cycle = models.PositiveIntegerField(_("rewards given"), default=0)
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("purchase counter")
        verbose_name_plural = _("purchase counters")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "member"], name="counter_unique"),
        ]
        indexes = [models.Index(fields=["member"], name="counter_member_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.member_id}: {self.count}"


class CountedPurchase(models.Model):
    """A purchase an every-N-th campaign counted, in which cycle; a full refund of one
    counted in the current cycle takes it back off the counter, once."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", verbose_name=_("campaign")
    )
    purchase = models.ForeignKey(
        "members.Purchase",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("purchase"),
        db_index=False,
    )
    cycle = models.PositiveIntegerField(_("cycle"))
    reverted_at = models.DateTimeField(_("taken back"), null=True, blank=True)

    class Meta:
        verbose_name = _("counted purchase")
        verbose_name_plural = _("counted purchases")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "campaign"], name="counted_once"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.purchase_id}"
