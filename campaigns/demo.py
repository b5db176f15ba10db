"""Demo campaigns for `seed_demo`: PRODUCT.md's worked examples. Segments, and one
campaign of every kind with a budget (the offer with a 10% holdout): every 5th purchase
50% off, a time-limited offer to members who have not bought for 60 days, a closed sale
for Gold and above opening in three days, threshold coupons 500 / 1,000 / 10,000 ₽ →
50 / 150 / 2,000 ₽, a welcome gift of 200 points, a birthday gift of 500 ₽ and a
referral of 300 points to each side.

The campaigns are drafts scheduled through the admin's service, then moved by the beat's
own steps (campaigns_advance, birthday_gifts_issue), so their participants, offers and
messages are the rows production writes. A few receipts of today then go through
checkout_commit: offers used, N-th purchase counters on their way, an invited friend's
welcome and referral rewards. A campaign or segment that exists already (by name) is left as it
is, the beat's steps give and send once, and today's receipts are rung up once, so a
second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import formats, timezone, translation

from campaigns.models import Campaign, Offer, RewardChoices, RewardLevel, Segment
from campaigns.services.events import birthday_gifts_issue
from campaigns.services.lifecycle import campaign_schedule
from campaigns.services.schedule import campaigns_advance
from loyalty.actors import Actor
from loyalty.models import Store, Tier
from members.models import Channel, ConsentRecord, Member, Purchase
from members.services.checkout import checkout_commit
from members.services.referrals import member_referral_code, member_referral_set
from messaging.models import Kind

MARKETER = "marketer"
LOYAL = "Серебро и выше"
BEST = "Золото и выше"
LAPSED = "Давно не покупали (60+ дней)"
BIRTHDAYS = "Именинники месяца"
EMAIL_SUBSCRIBERS = "Подписаны на e-mail"

NTH = "Каждая 5-я покупка −50%"
OFFER = "Новая коллекция"
SALE = "Закрытая распродажа для своих"
THRESHOLD = "Купоны за чек"
WELCOME = "Добро пожаловать"
BIRTHDAY = "С днём рождения"
REFERRAL = "Приведи друга"

# Today's receipts (purchases_today_ensure), in ₽: three paid with the offer, the
# regulars' (4, 4 and 2 of them), an invited friend's first. Not "DEMO-": that prefix
# marks the generated history.
TODAY_PREFIX = "TODAY-"
TODAY_STORE = "MSK-01"
CASHIER = "cashier"
OFFER_RECEIPTS = ["4200.00", "6850.00", "3120.00"]
REGULAR_RECEIPTS = [
    ["1850.00", "640.00", "2300.00", "12500.00"],
    ["980.00", "3400.00", "720.00", "1560.00"],
    ["2750.00", "450.00"],
]
FIRST_RECEIPT = "2450.00"

# PRODUCT.md mechanic 4: a receipt from (₽) earns a coupon of (₽).
THRESHOLD_LEVELS = [(500, 50), (1000, 150), (10_000, 2000)]
MESSAGE_KINDS = [
    Kind.OFFER,
    Kind.SALE_ANNOUNCE,
    Kind.SALE_OPEN,
    Kind.OFFER_EXPIRING,
    Kind.SALE_LAST_CHANCE,
]


@dataclass(frozen=True)
class DemoCampaign:
    name: str
    fields: dict
    levels: list[tuple[int, int]] = field(default_factory=list)


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _day_text(day: dt.date) -> str:
    """The day and the month in Russian words, e.g. "1 июня" (the texts are Russian)."""
    with translation.override("ru"):
        return formats.date_format(day, "j E")


def segments_ensure(*, now: dt.datetime, report) -> dict[str, Segment]:
    """The demo segments, created where missing; returns them by name."""
    month = timezone.localdate(now).month
    with translation.override("ru"):
        month_name = formats.date_format(dt.date(2000, month, 1), "F").lower()
    tiers = list(Tier.objects.order_by("threshold"))

    def tier_names(lowest: int) -> str:
        return ", ".join(t.name for t in tiers[lowest:])

    # (name, description, rules, the lowest of its tiers by threshold order or None)
    specs = [
        (LOYAL, f"Постоянные покупатели, уровни: {tier_names(1)}.", {}, 1),
        (BEST, f"Лучшие покупатели, уровни: {tier_names(2)}.", {}, 2),
        (
            LAPSED,
            "Последняя покупка 60 и более дней назад (кто не покупал — со дня регистрации): "
            "риск оттока.",
            {"inactive_days_min": 60},
            None,
        ),
        (
            BIRTHDAYS,
            f"День рождения в этом месяце ({month_name}): для поздравлений и подарков.",
            {"birthday_month": month},
            None,
        ),
        (
            EMAIL_SUBSCRIBERS,
            "Согласились получать письма: адресаты e-mail-рассылок.",
            {"consent_email": True},
            None,
        ),
    ]
    segments = {}
    for name, description, rules, lowest_tier in specs:
        segment, created = Segment.objects.get_or_create(
            name=name, defaults={"description": description, **rules}
        )
        if created and lowest_tier is not None:
            segment.tiers.set(tiers[lowest_tier:])
        report.add("segments", int(created))
        segments[name] = segment
    return segments


def demo_campaigns(*, now: dt.datetime, segments: dict[str, Segment]) -> list[DemoCampaign]:
    """The demo campaigns as they are created (drafts), their dates around `now`."""
    today = timezone.localdate(now)
    month_ago = _local_midnight(today - dt.timedelta(days=30))
    offer_from = _local_midnight(today - dt.timedelta(days=2))
    offer_last_day = today + dt.timedelta(days=12)
    sale_from = _local_midnight(today + dt.timedelta(days=3)) + dt.timedelta(hours=10)
    sale_until = sale_from + dt.timedelta(days=3, hours=12)
    percent, fixed, points = RewardChoices.PERCENT, RewardChoices.FIXED, RewardChoices.POINTS
    return [
        DemoCampaign(
            NTH,
            {
                "description": "Каждая пятая покупка — со скидкой 50% (не больше 2 000 ₽). "
                "Прогресс видно на кассе и в чеке.",
                "kind": Campaign.Kind.NTH_PURCHASE,
                "starts_at": _local_midnight(today - dt.timedelta(days=14)),
                "ends_at": _local_midnight(today + dt.timedelta(days=90)),
                "every_n": 5,
                "reward_kind": percent,
                "reward_value": Decimal(50),
                "reward_cap": Decimal(2000),
                "budget": Decimal(300_000),
            },
        ),
        DemoCampaign(
            OFFER,
            {
                "description": f"Персональная скидка 30% на новую коллекцию до "
                f"{_day_text(offer_last_day)} включительно для тех, кто давно не покупал. "
                "10% сегмента — контрольная группа.",
                "kind": Campaign.Kind.OFFER,
                "segment": segments[LAPSED],
                "starts_at": offer_from,
                "ends_at": _local_midnight(offer_last_day + dt.timedelta(days=1)),
                "reward_kind": percent,
                "reward_value": Decimal(30),
                "reward_cap": Decimal(3000),
                "min_receipt": Decimal(1000),
                "budget": Decimal(500_000),
                "holdout_percent": Decimal(10),
                "last_chance_hours": 24,
            },
        ),
        DemoCampaign(
            SALE,
            {
                "description": f"Скидка 25% только по приглашениям, с {_day_text(sale_from)}, "
                "три с половиной дня. Анонс за 5 дней, напоминание при открытии и "
                "в последний день.",
                "kind": Campaign.Kind.CLOSED_SALE,
                "segment": segments[BEST],
                "starts_at": sale_from,
                "ends_at": sale_until,
                "reward_kind": percent,
                "reward_value": Decimal(25),
                "budget": Decimal(1_000_000),
                "lead_days": 5,
                "last_chance_hours": 12,
            },
        ),
        DemoCampaign(
            THRESHOLD,
            {
                "description": "Чек от 500 / 1 000 / 10 000 ₽ — купон на 50 / 150 / 2 000 ₽ "
                "на следующую покупку, действует 30 дней (только высший порог).",
                "kind": Campaign.Kind.THRESHOLD,
                "starts_at": month_ago,
                "reward_kind": fixed,
                "reward_value": Decimal(THRESHOLD_LEVELS[0][1]),
                "offer_days": 30,
                "budget": Decimal(500_000),
            },
            levels=THRESHOLD_LEVELS,
        ),
        DemoCampaign(
            WELCOME,
            {
                "description": "После первой покупки — спасибо и 200 бонусных баллов.",
                "kind": Campaign.Kind.WELCOME,
                "starts_at": month_ago,
                "reward_kind": points,
                "reward_value": Decimal(200),
                "offer_days": 30,
                "budget": Decimal(200_000),
            },
        ),
        DemoCampaign(
            BIRTHDAY,
            {
                "description": "За 7 дней до дня рождения — поздравление и подарок 500 ₽ на "
                "покупку от 1 000 ₽, до 7 дней после праздника.",
                "kind": Campaign.Kind.BIRTHDAY,
                "starts_at": month_ago,
                "reward_kind": fixed,
                "reward_value": Decimal(500),
                "min_receipt": Decimal(1000),
                "lead_days": 7,
                "budget": Decimal(300_000),
                "channel": ConsentRecord.ConsentChannel.SMS,
            },
        ),
        DemoCampaign(
            REFERRAL,
            {
                "description": "Друг регистрируется по коду участника: после его первой "
                "покупки оба получают по 300 баллов.",
                "kind": Campaign.Kind.REFERRAL,
                "starts_at": month_ago,
                "reward_kind": points,
                "reward_value": Decimal(300),
                "referrer_points": 300,
                "budget": Decimal(300_000),
            },
        ),
    ]


def campaigns_ensure(*, now: dt.datetime, segments: dict[str, Segment], report) -> int:
    """Create the missing demo campaigns as the marketer would: a draft, its levels, then
    scheduled. Returns how many were created."""
    marketer = get_user_model().objects.filter(username=MARKETER).first()
    actor = Actor.for_user(marketer, Channel.ADMIN)
    existing = set(Campaign.objects.values_list("name", flat=True))
    created = 0
    for spec in demo_campaigns(now=now, segments=segments):
        if spec.name in existing:
            continue
        campaign = Campaign(name=spec.name, created_by=marketer, **spec.fields)
        campaign._history_user = marketer
        campaign.save()
        RewardLevel.objects.bulk_create(
            RewardLevel(campaign=campaign, threshold=Decimal(t), reward_value=Decimal(v))
            for t, v in spec.levels
        )
        campaign_schedule(campaign=campaign, actor=actor)
        created += 1
    report.add("campaigns", created)
    return created


def purchases_today_ensure(*, report) -> None:
    """A few receipts rung up today through checkout_commit, once the campaigns run: the
    offer used by three of its members, three regulars on their way to the 5th purchase
    (4, 4 and 2 counted), and a member who has not bought yet, invited by the first
    regular, whose first purchase brings the welcome gift and the referral points. Each
    receipt over 500 ₽ earns its threshold coupon. Nothing when today's demo receipts
    exist."""
    if Purchase.objects.filter(receipt_number__startswith=TODAY_PREFIX).exists():
        return
    cashier = get_user_model().objects.filter(username=CASHIER).first()
    store = Store.objects.filter(code=TODAY_STORE).first()
    if cashier is None or store is None:
        return
    actor = Actor.for_user(cashier, Channel.CASHIER)
    holders = list(
        Offer.objects.filter(campaign__name=OFFER, event_key="", status=Offer.Status.ACTIVE)
        .select_related("member")
        .order_by("member_id")[: len(OFFER_RECEIPTS)]
    )
    has_bought = Exists(Purchase.objects.filter(member=OuterRef("pk")))
    regulars = list(
        Member.objects.filter(has_bought)
        .exclude(pk__in=[offer.member_id for offer in holders])
        .order_by("pk")[: len(REGULAR_RECEIPTS)]
    )
    if not regulars:  # no history to build on
        return
    # Invited by someone who joined before them (a referral link points to a lower id);
    # without an offer, so the first receipt shows the welcome and referral rewards alone.
    friend = (
        Member.objects.filter(~has_bought, referred_by__isnull=True, pk__gt=regulars[0].pk)
        .exclude(Exists(Offer.objects.filter(member=OuterRef("pk"))))
        .order_by("pk")
        .first()
    )
    receipts = [
        (offer.member, total, f"offer-{offer.pk}")
        for offer, total in zip(holders, OFFER_RECEIPTS, strict=False)
    ]
    for member, totals in zip(regulars, REGULAR_RECEIPTS, strict=False):
        receipts += [(member, total, "") for total in totals]
    if friend is not None:
        receipts.append((friend, FIRST_RECEIPT, ""))
    with transaction.atomic():
        if friend is not None:
            member_referral_set(member=friend, code=member_referral_code(regulars[0]), actor=actor)
        for n, (member, total, choice) in enumerate(receipts, 1):
            checkout_commit(
                member=member,
                store=store,
                receipt_number=f"{TODAY_PREFIX}{n:03d}",
                total=Decimal(total),
                points_to_spend=0,
                choice=choice,
                actor=actor,
            )
    report.add("purchases", len(receipts))


def campaigns_demo_ensure(*, now: dt.datetime, report) -> None:
    """Create the demo segments and campaigns that are missing, run the beat's steps due
    at `now` (the campaigns start, the offer is issued, the sale's members invited and
    told, the birthday gifts of the coming week given), then ring up today's receipts."""
    with transaction.atomic():
        segments = segments_ensure(now=now, report=report)
        campaigns_ensure(now=now, segments=segments, report=report)
    advanced = campaigns_advance(at=now)
    report.add("campaign participants", advanced["participants"])
    report.add("campaign offers", advanced["offers"])
    report.add("messages", sum(advanced[kind.value] for kind in MESSAGE_KINDS))
    report.add("birthday gifts", birthday_gifts_issue(at=now))
    purchases_today_ensure(report=report)
