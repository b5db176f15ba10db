"""The templates a new installation starts with (marketing edits them in admin)."""

_RECEIPT_RU = """{{ first_name }}, спасибо за покупку!

Чек {{ receipt_number }}, {{ store }}
Сумма: {{ total_amount }} {{ currency }}
Скидка: {{ discount_amount }} {{ currency }}
Оплачено баллами: {{ points_spent }}
Оплачено деньгами: {{ paid_amount }} {{ currency }}
Начислено баллов: {{ points_earned }}

Ваш уровень: {{ tier }}. Баланс баллов: {{ balance }}."""

_RECEIPT_EN = """{{ first_name }}, thank you for your purchase!

Receipt {{ receipt_number }}, {{ store }}
Total: {{ total_amount }} {{ currency }}
Discount: {{ discount_amount }} {{ currency }}
Paid with points: {{ points_spent }}
Paid with money: {{ paid_amount }} {{ currency }}
Points earned: {{ points_earned }}

Your tier: {{ tier }}. Balance: {{ balance }} points."""

_NPS_EMAIL_RU = """{{ first_name }}, здравствуйте!

Насколько вероятно, что вы порекомендуете наш магазин друзьям?
Оцените от 0 до 10 — это займёт минуту:
{{ survey_url }}

Спасибо, что помогаете нам стать лучше."""

_NPS_EMAIL_EN = """Hello {{ first_name }},

How likely are you to recommend our store to a friend?
Rate us from 0 to 10, it takes a minute:
{{ survey_url }}

Thank you for helping us do better."""

# SMS end with how to stop them: a reply STOP reaches the inbound webhook.
_NPS_SMS_RU = (
    "{{ first_name }}, оцените наш магазин от 0 до 10: {{ survey_url }} Отказ от SMS: СТОП"
)
_NPS_SMS_EN = (
    "{{ first_name }}, rate our store from 0 to 10: {{ survey_url }} Reply STOP to opt out"
)

# (kind, channel, subject_ru, body_ru, subject_en, body_en)
DEFAULT_TEMPLATES = [
    ("receipt", "email", "Ваш чек {{ receipt_number }}", _RECEIPT_RU,
     "Your receipt {{ receipt_number }}", _RECEIPT_EN),
    ("nps", "email", "Как вам у нас?", _NPS_EMAIL_RU, "How did we do?", _NPS_EMAIL_EN),
    ("nps", "sms", "", _NPS_SMS_RU, "", _NPS_SMS_EN),
]  # fmt: skip


def message_templates_ensure(*, MessageTemplate) -> None:
    """Create the default templates that are missing; never touch edited ones."""
    for kind, channel, subject_ru, body_ru, subject_en, body_en in DEFAULT_TEMPLATES:
        MessageTemplate.objects.get_or_create(
            kind=kind,
            channel=channel,
            campaign=None,
            defaults={
                "subject_ru": subject_ru,
                "body_ru": body_ru,
                "subject_en": subject_en,
                "body_en": body_en,
            },
        )
