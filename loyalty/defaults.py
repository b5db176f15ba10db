"""The program's defaults (PRODUCT.md) and the staff groups with their permissions.

Used by the data migration on a new install, by seed_demo and by the test fixtures.
The functions take the model classes so a migration can pass its historical ones.
"""

from decimal import Decimal

from django.utils.translation import gettext_noop

# (name, threshold, discount %, earn %), PRODUCT.md mechanics 2 and 3.
DEFAULT_TIERS = [
    ("Базовый", Decimal("0"), Decimal("0"), Decimal("1")),
    ("Серебряный", Decimal("2000"), Decimal("5"), Decimal("2")),
    ("Золотой", Decimal("20000"), Decimal("10"), Decimal("3")),
    ("Платиновый", Decimal("50000"), Decimal("12"), Decimal("5")),
]

# (code, name, discount %), beneficiary categories (льготники), mechanic 12.
DEFAULT_BENEFICIARY_CATEGORIES = [
    ("pensioner", "Пенсионеры", Decimal("7")),
    ("student", "Студенты", Decimal("5")),
    ("disabled", "Люди с инвалидностью", Decimal("10")),
    ("large_family", "Многодетные семьи", Decimal("7")),
]

MARKETING = gettext_noop("Marketing")
CASHIER = gettext_noop("Cashier")

# app_label.codename; "view/add/change/delete" expanded for whole models.
_CONFIG_MODELS = [
    "loyalty.store",
    "loyalty.tier",
    "loyalty.beneficiarycategory",
    "loyalty.programsettings",
]
GROUP_PERMISSIONS = {
    MARKETING: [
        *[
            f"{m.split('.')[0]}.{action}_{m.split('.')[1]}"
            for m in _CONFIG_MODELS
            for action in ("view", "add", "change")
        ],
        "loyalty.view_partner",
        "members.view_member",
        "members.change_member",
        "members.add_member",
        "members.view_purchase",
        "members.view_refund",
        "members.view_ledgerentry",
        "members.view_pointslot",
        "members.view_consentrecord",
        "members.adjust_points",
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_results.view_taskresult",
        # Promo codes: batches are made here; codes, redemptions and jobs only read.
        # add_promocode is the right to import codes into an imported batch (codes are
        # never added one by one in admin).
        "promocodes.view_codebatch",
        "promocodes.add_codebatch",
        "promocodes.change_codebatch",
        "promocodes.view_promocode",
        "promocodes.add_promocode",
        "promocodes.view_redemption",
        "promocodes.view_generationjob",
        "campaigns.view_campaign",
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "campaigns.view_segment",
        "campaigns.add_segment",
        "campaigns.change_segment",
        "campaigns.view_rewardlevel",
        "campaigns.add_rewardlevel",
        "campaigns.change_rewardlevel",
        "campaigns.delete_rewardlevel",
        # What campaigns gave is written by the mechanics only: staff read it.
        "campaigns.view_offer",
        "campaigns.view_grant",
        "campaigns.view_participant",
        "campaigns.view_purchasecounter",
        "members.check_beneficiary_proof",
        # Messages: templates are written here; the outbox and surveys only read, and a
        # failed message may be sent again.
        "messaging.view_messagetemplate",
        "messaging.add_messagetemplate",
        "messaging.change_messagetemplate",
        "messaging.view_message",
        "messaging.resend_message",
        "messaging.view_survey",
        "messaging.view_pushdevice",
    ],
    CASHIER: [
        "loyalty.use_cashier_desk",
        "members.view_member",
        "members.add_member",
        "members.view_purchase",
        "members.add_purchase",
        "members.add_refund",
        "members.check_beneficiary_proof",
    ],
}


def program_defaults_ensure(*, ProgramSettings, Tier, BeneficiaryCategory) -> None:
    """Create the settings row, tiers and categories where none exist yet (idempotent)."""
    ProgramSettings.objects.get_or_create(pk=1)
    if not Tier.objects.exists():
        for name, threshold, discount, earn in DEFAULT_TIERS:
            Tier.objects.create(
                name=name, threshold=threshold, discount_percent=discount, earn_percent=earn
            )
    if not BeneficiaryCategory.objects.exists():
        for code, name, discount in DEFAULT_BENEFICIARY_CATEGORIES:
            BeneficiaryCategory.objects.create(code=code, name=name, discount_percent=discount)


def groups_ensure(*, Group, Permission) -> None:
    """Create the staff groups and set exactly their permissions."""
    for group_name, perms in GROUP_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=group_name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(
                Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
