"""Settings for the loyalty back office, read from the environment (django-environ).

Every setting has an embedded default that works for `make run` on a laptop (SQLite,
a filesystem Celery broker); production sets DATABASE_URL, CELERY_BROKER_URL and
SECRET_KEY. With DEBUG off (the default) a missing SECRET_KEY refuses to start.
"""

import hashlib
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("LOYALTY_TESTING", default=False)

_INSECURE_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Production refuses to start without a real secret key; "
            "set DEBUG=true for local development."
        )
    SECRET_KEY = _INSECURE_KEY
elif (SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50) and not (DEBUG or TESTING):
    raise ImproperlyConfigured("SECRET_KEY must be a random string of at least 50 characters.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "django_htmx",
    "import_export",
    "simple_history",
    "phonenumber_field",
    "health_check",
    "loyalty",
    "members",
    "campaigns",
    "promocodes",
    "messaging",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "loyalty.middleware.DefaultLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
]

ROOT_URLCONF = "loyalty.urls"
WSGI_APPLICATION = "loyalty.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "loyalty.context_processors.program",
            ],
        },
    },
]

# An empty DATABASE_URL counts as unset (the embedded SQLite default).
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'loyalty.sqlite3'}"
    ),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat read while one of them writes;
    # IMMEDIATE makes a write transaction take the lock at BEGIN instead of failing
    # half-way with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # The server notices a vanished worker host within about a minute, which ends its
    # session and releases its advisory locks (message delivery claims, generation jobs).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "options",
        "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://loyalty")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = reverse_lazy("cashier:login")

# Russian is the default UI language whatever the browser asks for; English is
# chosen explicitly (language switcher / ?lang / cookie).
LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Moscow")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "loyalty" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# --- E-mail ---------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# An ESP through django-anymail instead of SMTP: EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend
# and its credentials as JSON in ANYMAIL, e.g. {"MAILGUN_API_KEY": "..."}.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="") or EMAIL_CONFIG["EMAIL_BACKEND"]
ANYMAIL = env.json("ANYMAIL", default={})
# A hung SMTP server fails the message for a retry instead of holding a delivery run.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="loyalty@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Program ----------------------------------------------------------------------------
LOYALTY_CURRENCY = env.str("LOYALTY_CURRENCY", default="RUB")
LOYALTY_CURRENCY_SYMBOLS = {"RUB": "₽", "USD": "$", "EUR": "€", "KZT": "₸", "BYN": "Br"}
LOYALTY_CARD_PREFIX = env.str("LOYALTY_CARD_PREFIX", default="27")
# Step 3 of the checkout ("at most one code or offer"): dotted paths of reward
# providers, asked in order. Promo codes and campaigns add theirs here.
LOYALTY_REWARD_PROVIDERS: list[str] = [
    "promocodes.provider.PromoCodeProvider",
    "campaigns.provider.CampaignRewardProvider",
]
# Step 2 candidates beyond tier and beneficiary discounts (closed sales).
LOYALTY_BASE_RATE_PROVIDERS: list[str] = ["campaigns.provider.ClosedSaleRateProvider"]
LOYALTY_POINT_VALUE = Decimal("1.00")
# Unknown or mistyped promo codes one partner key or desk user may try per window
# before being refused (promocodes.guard).
PROMO_CODE_GUESS_LIMIT = env.int("PROMO_CODE_GUESS_LIMIT", default=20)
PROMO_CODE_GUESS_WINDOW = env.int("PROMO_CODE_GUESS_WINDOW", default=600)  # seconds

# --- Messages (messaging) ---------------------------------------------------------------
# Absolute links in messages (unsubscribe, NPS survey) start with this.
LOYALTY_PUBLIC_URL = env.str("LOYALTY_PUBLIC_URL", default="http://127.0.0.1:8000")
# SMS and push backends (messaging.backends), with their options as JSON, e.g.
# MESSAGES_SMS_BACKEND=messaging.backends.http_json.HttpBackend
# MESSAGES_SMS_OPTIONS='{"url": "https://sms.example/api/send", "token": "..."}'
MESSAGES_SMS_BACKEND = env.str(
    "MESSAGES_SMS_BACKEND", default="messaging.backends.console.ConsoleBackend"
)
MESSAGES_SMS_OPTIONS = env.json("MESSAGES_SMS_OPTIONS", default={})
MESSAGES_PUSH_BACKEND = env.str(
    "MESSAGES_PUSH_BACKEND", default="messaging.backends.console.ConsoleBackend"
)
MESSAGES_PUSH_OPTIONS = env.json("MESSAGES_PUSH_OPTIONS", default={})
# Shared secret of the SMS provider's inbound webhook (HMAC-SHA256 of the body); the
# webhook refuses everything while it is empty.
MESSAGES_SMS_WEBHOOK_SECRET = env.str("MESSAGES_SMS_WEBHOOK_SECRET", default="")
# Idempotency keys and Message-IDs are <prefix>-<message id>, so the prefix must differ
# between installations sharing a provider account (staging and production): by default
# it is derived from the installation's own SECRET_KEY.
MESSAGES_ID_PREFIX = env.str(
    "MESSAGES_ID_PREFIX",
    default="loyalty-" + hashlib.sha256(f"messages:{SECRET_KEY}".encode()).hexdigest()[:10],
)
# Commit each delivery outcome without waiting for the WAL flush (synchronous_commit
# off for the delivery run's session): 1,100 instead of 800 messages/s per worker on the
# bench machine. A worker crash still loses nothing (the outcomes are on the server);
# only a crash of the database server itself could forget the last fraction of a second
# of outcomes, whose messages would then be sent again with the same idempotency key
# (deduplicated by providers that honour it, not by e-mail). Set it off to trade that
# throughput for the stricter guarantee.
MESSAGES_ASYNC_OUTCOMES = env.bool("MESSAGES_ASYNC_OUTCOMES", default=True)
# Seconds to wait before each retry of a transient failure; failed once they run out.
MESSAGES_RETRY_DELAYS = env.list("MESSAGES_RETRY_DELAYS", cast=int, default=[60, 300, 1800, 7200])
# SQLite only (PostgreSQL sees a dead run at once): a claim this old is a dead run's.
MESSAGES_CLAIM_TIMEOUT = env.int("MESSAGES_CLAIM_TIMEOUT", default=600)
MESSAGES_DELIVERY_RUN_SECONDS = env.int("MESSAGES_DELIVERY_RUN_SECONDS", default=50)
# Start a delivery run right after an event queues messages (else: the beat, each minute).
MESSAGES_DELIVER_ON_COMMIT = env.bool("MESSAGES_DELIVER_ON_COMMIT", default=True)
NPS_DELAY_DAYS = env.int("NPS_DELAY_DAYS", default=3)  # days after a purchase
NPS_WINDOW_DAYS = env.int("NPS_WINDOW_DAYS", default=90)  # at most one survey per member
NPS_CATCHUP_DAYS = env.int("NPS_CATCHUP_DAYS", default=7)  # purchases missed by a stopped beat
NPS_SURVEY_LINK_DAYS = env.int("NPS_SURVEY_LINK_DAYS", default=30)  # the link's life
# Called inside the checkout transaction after a purchase is recorded, with
# purchase=, member=, at= and actor=: what else a purchase causes.
LOYALTY_PURCHASE_HOOKS: list[str] = [
    "campaigns.services.purchases.purchase_campaigns_apply",
    "messaging.services.purchase_receipt_queue",
]
# Called inside the refund transaction after a refund is recorded, with purchase=,
# refund=, actor=: what else a refund undoes (campaign counters, coupons it earned).
LOYALTY_REFUND_HOOKS: list[str] = ["campaigns.services.purchases.purchase_campaigns_refund"]

# --- Celery -----------------------------------------------------------------------------
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 30
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Defined in code, kept in the database (django-celery-beat) so staff can edit or
# pause them in admin; `loyalty.schedule.sync_periodic_tasks` creates missing rows
# after migrate and never overwrites what staff changed.
LOYALTY_PERIODIC_TASKS = {
    "points-expire": {
        "task": "members.tasks.points_expire_task",
        "crontab": {"minute": "15", "hour": "3"},
        "description": _("Burn the unspent remainder of points lots past their life."),
    },
    "idempotency-prune": {
        "task": "loyalty.tasks.idempotency_records_prune_task",
        "crontab": {"minute": "30", "hour": "4"},
        "description": _("Forget partner Idempotency-Keys older than the retention period."),
    },
    "promo-codes-expire": {
        "task": "promocodes.tasks.promo_codes_expire_task",
        "crontab": {"minute": "5"},
        "description": _("Mark the codes of batches past their validity window expired."),
    },
    "promo-code-jobs-resume": {
        "task": "promocodes.tasks.generation_jobs_resume_task",
        "crontab": {"minute": "*"},
        "description": _("Restart promo code generation jobs whose worker died."),
    },
    "messages-deliver": {
        "task": "messaging.tasks.messages_deliver_task",
        "crontab": {"minute": "*"},
        "description": _("Send the due messages of the outbox; retry transient failures."),
    },
    "nps-surveys-queue": {
        "task": "messaging.tasks.surveys_queue_due_task",
        "crontab": {"minute": "0", "hour": "11"},
        "description": _("Ask members who bought some days ago for their NPS score."),
    },
    "campaigns-advance": {
        "task": "campaigns.tasks.campaigns_advance_task",
        "crontab": {"minute": "*"},
        "description": _(
            "Start and finish campaigns; issue offers, invite to closed sales and queue "
            "their announcements, start reminders and last-chance messages."
        ),
    },
    "campaign-offers-expire": {
        "task": "campaigns.tasks.offers_expire_task",
        "crontab": {"minute": "*/5"},
        "description": _("Mark campaign offers past their deadline burnt."),
    },
    "birthday-gifts": {
        "task": "campaigns.tasks.birthday_gifts_issue_task",
        "crontab": {"minute": "0", "hour": "9"},
        "description": _("Send birthday greetings and gifts some days before the date."),
    },
    "tier-review": {
        "task": "members.tasks.tier_review_task",
        "crontab": {"minute": "45", "hour": "3"},
        "description": _("Move members to the tier their qualifying spend or purchases earn."),
    },
}

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["loyalty.api.permissions.HasPartnerKey"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["loyalty.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "loyalty.api.errors.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["loyalty.api.throttling.PartnerKeyThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "partner": env.str("API_THROTTLE_RATE", default="6000/min"),
        # Promo code endpoints, per card number: one member's codes are not worth more.
        "member": env.str("API_MEMBER_THROTTLE_RATE", default="60/min"),
    },
}
API_KEY_CUSTOM_HEADER = "HTTP_AUTHORIZATION"
# How long a partner's Idempotency-Key is remembered (a retry after that is a new request).
IDEMPOTENCY_KEY_RETENTION_DAYS = env.int("IDEMPOTENCY_KEY_RETENTION_DAYS", default=7)
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty partner API",
    # Authentication, scopes, amounts, errors, retries: what a partner developer reads first.
    "DESCRIPTION": (BASE_DIR / "loyalty" / "api" / "description.md").read_text(encoding="utf-8"),
    "TAGS": [
        {"name": "Members", "description": "Enrol members and read their tier and points."},
        {"name": "Checkout", "description": "Evaluate a receipt, then commit it."},
        {"name": "Purchases", "description": "Your committed purchases and their refunds."},
        {
            "name": "Promo codes",
            "description": "Check a code before checkout; issue and list members' personal codes.",
        },
    ],
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No call to the online validator (validator.swagger.io): the docs work offline.
    "SWAGGER_UI_SETTINGS": {
        "deepLinking": True,
        "persistAuthorization": True,
        "validatorUrl": None,
    },
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>`, as printed by `manage.py create_partner_key`.",
            }
        }
    },
    "SECURITY": [{"ApiKeyAuth": []}],
    "ENUM_NAME_OVERRIDES": {
        "ErrorCodeEnum": "loyalty.api.errors.ERROR_CODE_CHOICES",
        "CampaignKindEnum": "campaigns.models.CampaignKind",
        "RewardKindEnum": "campaigns.models.RewardChoices",
    },
}

# --- Phones ------------------------------------------------------------------------------
PHONENUMBER_DEFAULT_REGION = "RU"
PHONENUMBER_DB_FORMAT = "E164"


# --- Admin (Unfold) ---------------------------------------------------------------------
def _may(*perms):
    """Sidebar permission callback: the item shows to users holding any of `perms`."""
    return lambda request: any(request.user.has_perm(p) for p in perms)


def _admin_link(name: str, label: str = "changelist"):
    return reverse_lazy(f"admin:{name}_{label}")


UNFOLD = {
    "SITE_TITLE": _("Loyalty back office"),
    "SITE_HEADER": _("Loyalty"),
    "SITE_SUBHEADER": _("Back office"),
    "SITE_SYMBOL": "loyalty",
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "COLORS": {
        # Tailwind "emerald".
        "primary": {
            "50": "oklch(97.9% .021 166.113)",
            "100": "oklch(95% .052 163.051)",
            "200": "oklch(90.5% .093 164.15)",
            "300": "oklch(84.5% .143 164.978)",
            "400": "oklch(76.5% .177 163.223)",
            "500": "oklch(69.6% .17 162.48)",
            "600": "oklch(59.6% .145 163.225)",
            "700": "oklch(50.8% .118 165.612)",
            "800": "oklch(43.2% .095 166.913)",
            "900": "oklch(37.8% .077 168.94)",
            "950": "oklch(26.2% .051 172.552)",
        },
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": [
            {
                "title": _("Members"),
                "items": [
                    {
                        "title": _("Members"),
                        "icon": "group",
                        "link": _admin_link("members_member"),
                        "permission": _may("members.view_member"),
                    },
                    {
                        "title": _("Purchases"),
                        "icon": "receipt_long",
                        "link": _admin_link("members_purchase"),
                        "permission": _may("members.view_purchase"),
                    },
                    {
                        "title": _("Refunds"),
                        "icon": "undo",
                        "link": _admin_link("members_refund"),
                        "permission": _may("members.view_refund"),
                    },
                    {
                        "title": _("Points ledger"),
                        "icon": "account_balance_wallet",
                        "link": _admin_link("members_ledgerentry"),
                        "permission": _may("members.view_ledgerentry"),
                    },
                    {
                        "title": _("Points lots"),
                        "icon": "toll",
                        "link": _admin_link("members_pointslot"),
                        "permission": _may("members.view_pointslot"),
                    },
                    {
                        "title": _("Consent records"),
                        "icon": "mark_email_read",
                        "link": _admin_link("members_consentrecord"),
                        "permission": _may("members.view_consentrecord"),
                    },
                ],
            },
            {
                "title": _("Campaigns"),
                "items": [
                    {
                        "title": _("Campaigns"),
                        "icon": "campaign",
                        "link": _admin_link("campaigns_campaign"),
                        "permission": _may("campaigns.view_campaign"),
                    },
                    {
                        "title": _("Segments"),
                        "icon": "filter_alt",
                        "link": _admin_link("campaigns_segment"),
                        "permission": _may("campaigns.view_segment"),
                    },
                    {
                        "title": _("Offers"),
                        "icon": "local_offer",
                        "link": _admin_link("campaigns_offer"),
                        "permission": _may("campaigns.view_offer"),
                    },
                    {
                        "title": _("Rewards given"),
                        "icon": "card_giftcard",
                        "link": _admin_link("campaigns_grant"),
                        "permission": _may("campaigns.view_grant"),
                    },
                ],
            },
            {
                "title": _("Promo codes"),
                "items": [
                    {
                        "title": _("Promo code batches"),
                        "icon": "confirmation_number",
                        "link": _admin_link("promocodes_codebatch"),
                        "permission": _may("promocodes.view_codebatch"),
                    },
                    {
                        "title": _("Promo codes"),
                        "icon": "sell",
                        "link": _admin_link("promocodes_promocode"),
                        "permission": _may("promocodes.view_promocode"),
                    },
                    {
                        "title": _("Redemptions"),
                        "icon": "redeem",
                        "link": _admin_link("promocodes_redemption"),
                        "permission": _may("promocodes.view_redemption"),
                    },
                    {
                        "title": _("Generation jobs"),
                        "icon": "pending_actions",
                        "link": _admin_link("promocodes_generationjob"),
                        "permission": _may("promocodes.view_generationjob"),
                    },
                ],
            },
            {
                "title": _("Messages"),
                "items": [
                    {
                        "title": _("Outbox"),
                        "icon": "outbox",
                        "link": _admin_link("messaging_message"),
                        "permission": _may("messaging.view_message"),
                    },
                    {
                        "title": _("Delivery by day"),
                        "icon": "bar_chart",
                        "link": _admin_link("messaging_message", "delivery_by_day"),
                        "permission": _may("messaging.view_message"),
                    },
                    {
                        "title": _("Message templates"),
                        "icon": "edit_note",
                        "link": _admin_link("messaging_messagetemplate"),
                        "permission": _may(
                            "messaging.view_messagetemplate", "messaging.change_messagetemplate"
                        ),
                    },
                    {
                        "title": _("NPS surveys"),
                        "icon": "sentiment_satisfied",
                        "link": _admin_link("messaging_survey"),
                        "permission": _may("messaging.view_survey"),
                    },
                ],
            },
            {
                "title": _("Program"),
                "items": [
                    {
                        "title": _("Tiers"),
                        "icon": "military_tech",
                        "link": _admin_link("loyalty_tier"),
                        "permission": _may("loyalty.view_tier", "loyalty.change_tier"),
                    },
                    {
                        "title": _("Beneficiary categories"),
                        "icon": "diversity_1",
                        "link": _admin_link("loyalty_beneficiarycategory"),
                        "permission": _may(
                            "loyalty.view_beneficiarycategory", "loyalty.change_beneficiarycategory"
                        ),
                    },
                    {
                        "title": _("Stores"),
                        "icon": "storefront",
                        "link": _admin_link("loyalty_store"),
                        "permission": _may("loyalty.view_store", "loyalty.change_store"),
                    },
                    {
                        "title": _("Program settings"),
                        "icon": "tune",
                        "link": _admin_link("loyalty_programsettings"),
                        "permission": _may(
                            "loyalty.view_programsettings", "loyalty.change_programsettings"
                        ),
                    },
                ],
            },
            {
                "title": _("Partners"),
                "items": [
                    {
                        "title": _("Partners"),
                        "icon": "handshake",
                        "link": _admin_link("loyalty_partner"),
                        "permission": _may("loyalty.view_partner", "loyalty.change_partner"),
                    },
                    {
                        "title": _("API keys"),
                        "icon": "key",
                        "link": _admin_link("loyalty_partnerapikey"),
                        "permission": _may(
                            "loyalty.view_partnerapikey", "loyalty.change_partnerapikey"
                        ),
                    },
                    {
                        "title": _("Idempotency records"),
                        "icon": "history",
                        "link": _admin_link("loyalty_idempotencyrecord"),
                        "permission": _may("loyalty.view_idempotencyrecord"),
                    },
                ],
            },
            {
                "title": _("Schedule"),
                "items": [
                    {
                        "title": _("Periodic tasks"),
                        "icon": "schedule",
                        "link": _admin_link("django_celery_beat_periodictask"),
                        "permission": _may(
                            "django_celery_beat.view_periodictask",
                            "django_celery_beat.change_periodictask",
                        ),
                    },
                    {
                        "title": _("Crontab schedules"),
                        "icon": "calendar_month",
                        "link": _admin_link("django_celery_beat_crontabschedule"),
                        "permission": _may(
                            "django_celery_beat.view_crontabschedule",
                            "django_celery_beat.change_crontabschedule",
                        ),
                    },
                    {
                        "title": _("Task results"),
                        "icon": "task_alt",
                        "link": _admin_link("django_celery_results_taskresult"),
                        "permission": _may("django_celery_results.view_taskresult"),
                    },
                ],
            },
            {
                "title": _("Users and groups"),
                "items": [
                    {
                        "title": _("Users"),
                        "icon": "person",
                        "link": _admin_link("auth_user"),
                        "permission": _may("auth.view_user", "auth.change_user"),
                    },
                    {
                        "title": _("Groups"),
                        "icon": "groups",
                        "link": _admin_link("auth_group"),
                        "permission": _may("auth.view_group", "auth.change_group"),
                    },
                ],
            },
        ],
    },
}

# --- Logging -----------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django_structlog": {"level": "INFO"},
        # python-barcode says at INFO on every start that it has no Pillow (SVG only here).
        "pyBarcode": {"level": "WARNING"},
    },
}

# --- Security (production) ----------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not (DEBUG or TESTING):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_HOST = env.str("SECURE_SSL_HOST", default=None)
