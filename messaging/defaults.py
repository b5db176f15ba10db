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


# Campaign messages (campaigns app). `offer` is the offer's or sale's title, `amount`
# the reward in words ("50 ₽", "30%", "200 баллов"), `deadline` a date and time.
_CAMPAIGN_TEMPLATES = [
    ("welcome", "email", "Добро пожаловать, {{ first_name }}!",
     "{{ first_name }}, спасибо за первую покупку!\n\n{% if offer %}Наш подарок вам: {{ offer }}"
     "{% if deadline %}, действует до {{ deadline }}{% endif %}.\n\n{% endif %}"
     "Ваш номер карты: {{ card_number }}.\n\nОтписаться: {{ unsubscribe_url }}",
     "Welcome, {{ first_name }}!",
     "{{ first_name }}, thank you for your first purchase!\n\n{% if offer %}Our gift to you: "
     "{{ offer }}{% if deadline %}, valid until {{ deadline }}{% endif %}.\n\n{% endif %}"
     "Your card number: {{ card_number }}.\n\nUnsubscribe: {{ unsubscribe_url }}"),
    ("welcome", "sms", "",
     "{{ first_name }}, спасибо за первую покупку!{% if offer %} Подарок: {{ offer }}.{% endif %}"
     " Отказ от SMS: СТОП",
     "",
     "{{ first_name }}, thanks for your first purchase!{% if offer %} Gift: {{ offer }}.{% endif %}"
     " Reply STOP to opt out"),
    ("birthday", "email", "С днём рождения, {{ first_name }}!",
     "{{ first_name }}, поздравляем с наступающим днём рождения!\n\n{% if offer %}Подарок: "
     "{{ offer }}, действует до {{ deadline }}.\n\n{% endif %}Отписаться: {{ unsubscribe_url }}",
     "Happy birthday, {{ first_name }}!",
     "{{ first_name }}, happy birthday in advance!\n\n{% if offer %}Your gift: {{ offer }}, "
     "valid until {{ deadline }}.\n\n{% endif %}Unsubscribe: {{ unsubscribe_url }}"),
    ("birthday", "sms", "",
     "{{ first_name }}, с днём рождения!{% if offer %} Подарок: {{ offer }} до {{ deadline }}."
     "{% endif %} Отказ от SMS: СТОП",
     "",
     "{{ first_name }}, happy birthday!{% if offer %} Gift: {{ offer }} until {{ deadline }}."
     "{% endif %} Reply STOP to opt out"),
    ("offer", "email", "{{ offer }}",
     "{{ first_name }}, для вас персональное предложение: {{ offer }}.\n\n"
     "Действует до {{ deadline }}. Назовите на кассе номер карты {{ card_number }}.\n\n"
     "Отписаться: {{ unsubscribe_url }}",
     "{{ offer }}",
     "{{ first_name }}, a personal offer for you: {{ offer }}.\n\n"
     "Valid until {{ deadline }}. Show card {{ card_number }} at the till.\n\n"
     "Unsubscribe: {{ unsubscribe_url }}"),
    ("offer", "sms", "",
     "{{ first_name }}, для вас: {{ offer }} до {{ deadline }}. Отказ от SMS: СТОП",
     "",
     "{{ first_name }}, for you: {{ offer }} until {{ deadline }}. Reply STOP to opt out"),
    ("offer_expiring", "email", "Завтра сгорает: {{ offer }}",
     "{{ first_name }}, ваше предложение «{{ offer }}» действует до {{ deadline }}.\n\n"
     "Успейте воспользоваться!\n\nОтписаться: {{ unsubscribe_url }}",
     "Ends tomorrow: {{ offer }}",
     "{{ first_name }}, your offer \"{{ offer }}\" is valid until {{ deadline }}.\n\n"
     "Don't miss it!\n\nUnsubscribe: {{ unsubscribe_url }}"),
    ("offer_expiring", "sms", "",
     "{{ first_name }}, «{{ offer }}» действует до {{ deadline }}. Отказ от SMS: СТОП",
     "",
     "{{ first_name }}, \"{{ offer }}\" ends {{ deadline }}. Reply STOP to opt out"),
    ("sale_announce", "email", "Приглашение на закрытую распродажу",
     "{{ first_name }}, вы приглашены на закрытую распродажу «{{ offer }}»: скидка {{ amount }}"
     " с {{ starts }} до {{ deadline }}.\n\nСкидка только для приглашённых — назовите на кассе "
     "номер карты {{ card_number }}.\n\nОтписаться: {{ unsubscribe_url }}",
     "Your invitation to a closed sale",
     "{{ first_name }}, you are invited to the closed sale \"{{ offer }}\": {{ amount }} off "
     "from {{ starts }} until {{ deadline }}.\n\nOnly for invited members: show card "
     "{{ card_number }} at the till.\n\nUnsubscribe: {{ unsubscribe_url }}"),
    ("sale_announce", "sms", "",
     "{{ first_name }}, закрытая распродажа «{{ offer }}»: −{{ amount }} с {{ starts }}."
     " Отказ от SMS: СТОП",
     "",
     "{{ first_name }}, closed sale \"{{ offer }}\": {{ amount }} off from {{ starts }}."
     " Reply STOP to opt out"),
    ("sale_open", "email", "Закрытая распродажа началась",
     "{{ first_name }}, закрытая распродажа «{{ offer }}» открыта: скидка {{ amount }} до "
     "{{ deadline }}.\n\nОтписаться: {{ unsubscribe_url }}",
     "The closed sale is open",
     "{{ first_name }}, the closed sale \"{{ offer }}\" is open: {{ amount }} off until "
     "{{ deadline }}.\n\nUnsubscribe: {{ unsubscribe_url }}"),
    ("sale_open", "sms", "",
     "{{ first_name }}, распродажа «{{ offer }}» открыта: −{{ amount }} до {{ deadline }}."
     " Отказ от SMS: СТОП",
     "",
     "{{ first_name }}, \"{{ offer }}\" is open: {{ amount }} off until {{ deadline }}."
     " Reply STOP to opt out"),
    ("sale_last_chance", "email", "Последний шанс: {{ offer }}",
     "{{ first_name }}, закрытая распродажа «{{ offer }}» закончится {{ deadline }}.\n\n"
     "Отписаться: {{ unsubscribe_url }}",
     "Last chance: {{ offer }}",
     "{{ first_name }}, the closed sale \"{{ offer }}\" ends {{ deadline }}.\n\n"
     "Unsubscribe: {{ unsubscribe_url }}"),
    ("sale_last_chance", "sms", "",
     "{{ first_name }}, распродажа «{{ offer }}» закончится {{ deadline }}. Отказ от SMS: СТОП",
     "",
     "{{ first_name }}, \"{{ offer }}\" ends {{ deadline }}. Reply STOP to opt out"),
]  # fmt: skip

# (kind, channel, subject_ru, body_ru, subject_en, body_en)
DEFAULT_TEMPLATES = [
    ("receipt", "email", "Ваш чек {{ receipt_number }}", _RECEIPT_RU,
     "Your receipt {{ receipt_number }}", _RECEIPT_EN),
    ("nps", "email", "Как вам у нас?", _NPS_EMAIL_RU, "How did we do?", _NPS_EMAIL_EN),
    ("nps", "sms", "", _NPS_SMS_RU, "", _NPS_SMS_EN),
    *_CAMPAIGN_TEMPLATES,
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
