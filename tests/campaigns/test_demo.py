"""The demo campaigns: every kind with PRODUCT.md's worked examples, the rows the beat's
steps and the checkout write, and a second run that adds nothing."""

import datetime as dt
import io
from decimal import Decimal

import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from campaigns import demo as campaigns_demo
from campaigns.models import (
    Campaign,
    Grant,
    Offer,
    Participant,
    PurchaseCounter,
    RewardLevel,
    Segment,
)
from campaigns.services import core
from loyalty.actors import Actor
from loyalty.models import Store
from members import demo
from members.models import Channel, Member, Purchase
from members.services.checkout import checkout_commit
from messaging.models import Kind, Message
from tests import factories

Kinds = Campaign.Kind


def _report() -> demo.DemoReport:
    """The demo's program, stores and logins, as seed_demo makes them first."""
    report = demo.DemoReport()
    demo.program_ensure(report)
    demo.users_ensure(report)
    return report


def _member(tier, *, now, joined_days_ago=200, bought_days_ago=(), **fields) -> Member:
    """A member who joined and bought (through the checkout) so many days before `now`."""
    with time_machine.travel(now - dt.timedelta(days=joined_days_ago), tick=False):
        member = factories.MemberFactory(tier=tier, **{"birth_date": None, **fields})
    cashier = Actor.for_user(get_user_model().objects.get(username="cashier"), Channel.CASHIER)
    for days in bought_days_ago:
        with time_machine.travel(now - dt.timedelta(days=days), tick=False):
            checkout_commit(
                member=member,
                store=Store.objects.get(code="MSK-01"),
                receipt_number=f"HIST-{member.pk}-{days}",
                total=Decimal("1500.00"),
                points_to_spend=0,
                actor=cashier,
            )
    return member


def _counts() -> dict[str, int]:
    counted = {
        model.__name__: model.objects.count()
        for model in [
            Segment,
            Campaign,
            RewardLevel,
            Participant,
            Offer,
            Grant,
            PurchaseCounter,
            Message,
            Purchase,
            Member,
        ]
    }
    counted["campaign history"] = Campaign.history.count()
    counted["segment history"] = Segment.history.count()
    return counted


def test_demo_campaigns_write_what_the_beat_and_the_checkout_write(tiers):
    # given the demo program and members: lapsed ones (no purchase for 60+ days), the best
    # (Gold and up), a regular whose birthday is 7 days ahead
    report = _report()
    now = timezone.now()
    today = timezone.localdate(now)
    gold = _member(tiers["Gold"], now=now, bought_days_ago=[10], consent_email=True)
    platinum = _member(tiers["Platinum"], now=now, bought_days_ago=[90], consent_email=False)
    birthday = today + dt.timedelta(days=7)
    celebrating = _member(
        tiers["Silver"],
        now=now,
        bought_days_ago=[5],
        consent_email=True,
        consent_sms=True,
        birth_date=birthday.replace(year=1992),
    )
    lapsed = [platinum] + [
        _member(tiers["Base"], now=now, joined_days_ago=100, consent_email=n % 2 == 0)
        for n in range(24)
    ]
    _member(tiers["Silver"], now=now, bought_days_ago=[20])
    _member(tiers["Base"], now=now, joined_days_ago=30)  # joined lately: not lapsed

    # when the demo campaigns are created
    campaigns_demo.campaigns_demo_ensure(now=now, report=report)

    # then the segments are there, the tier ones with their tiers
    assert (report.created["segments"], report.created["campaigns"]) == (5, 7)
    segments = {s.name: s for s in Segment.objects.all()}
    assert sorted(segments) == sorted(
        [
            "Серебро и выше",
            "Золото и выше",
            "Давно не покупали (60+ дней)",
            "Именинники месяца",
            "Подписаны на e-mail",
        ]
    )
    assert set(segments["Серебро и выше"].tiers.all()) == {
        tiers["Silver"],
        tiers["Gold"],
        tiers["Platinum"],
    }
    assert set(segments["Золото и выше"].tiers.all()) == {tiers["Gold"], tiers["Platinum"]}
    assert segments["Давно не покупали (60+ дней)"].inactive_days_min == 60
    assert segments["Именинники месяца"].birthday_month == today.month
    # and one campaign of every kind, scheduled by the marketer and moved by the beat
    campaigns = {c.kind: c for c in Campaign.objects.all()}
    assert sorted(campaigns) == sorted(
        [
            Kinds.NTH_PURCHASE,
            Kinds.OFFER,
            Kinds.CLOSED_SALE,
            Kinds.THRESHOLD,
            Kinds.WELCOME,
            Kinds.BIRTHDAY,
            Kinds.REFERRAL,
        ]
    )
    marketer = get_user_model().objects.get(username="marketer")
    assert {c.created_by for c in campaigns.values()} == {marketer}
    assert {k: c.status for k, c in campaigns.items()} == {
        k: Campaign.Status.SCHEDULED if k == Kinds.CLOSED_SALE else Campaign.Status.ACTIVE
        for k in campaigns
    }
    assert all(c.budget > 0 for c in campaigns.values())
    nth = campaigns[Kinds.NTH_PURCHASE]
    assert (nth.name, nth.every_n, nth.reward_kind, nth.reward_value) == (
        "Каждая 5-я покупка −50%",
        5,
        "percent",
        Decimal(50),
    )
    threshold = campaigns[Kinds.THRESHOLD]
    assert list(threshold.levels.values_list("threshold", "reward_value")) == [
        (Decimal(500), Decimal(50)),
        (Decimal(1000), Decimal(150)),
        (Decimal(10000), Decimal(2000)),
    ]
    assert (threshold.reward_kind, threshold.offer_days) == ("fixed", 30)
    welcome = campaigns[Kinds.WELCOME]
    assert (welcome.reward_kind, welcome.reward_value) == ("points", Decimal(200))
    birthday_campaign = campaigns[Kinds.BIRTHDAY]
    assert (
        birthday_campaign.lead_days,
        birthday_campaign.reward_kind,
        birthday_campaign.reward_value,
    ) == (7, "fixed", Decimal(500))
    referral = campaigns[Kinds.REFERRAL]
    assert (referral.reward_kind, referral.reward_value, referral.referrer_points) == (
        "points",
        Decimal(300),
        300,
    )

    # and the offer went to the lapsed members frozen at its start, 10% held out
    offer = campaigns[Kinds.OFFER]
    assert (offer.holdout_percent, offer.segment.name) == (
        Decimal(10),
        "Давно не покупали (60+ дней)",
    )
    assert offer.issued_at == now
    held = {m.pk for m in lapsed if core.is_holdout(offer, m.pk)}
    assert dict(offer.participants.values_list("member_id", "is_holdout")) == {
        m.pk: m.pk in held for m in lapsed
    }
    issued = offer.offers.filter(event_key="")
    assert sorted(issued.values_list("member_id", flat=True)) == sorted(
        m.pk for m in lapsed if m.pk not in held
    )
    assert set(
        issued.values_list(
            "title", "reward_kind", "reward_value", "reward_cap", "min_receipt", "valid_until"
        )
    ) == {
        (
            "Новая коллекция: 30%",
            "percent",
            Decimal(30),
            Decimal(3000),
            Decimal(1000),
            offer.ends_at,
        )
    }
    assert sorted(offer.messages.filter(kind=Kind.OFFER).values_list("member_id", flat=True)) == (
        sorted(m.pk for m in lapsed if m.pk not in held and m.consent_email)
    )
    # and the closed sale invited the best members and told those who consented
    sale = campaigns[Kinds.CLOSED_SALE]
    assert (sale.invited_at, sale.announced_at, sale.reward_value) == (now, now, Decimal(25))
    assert sale.starts_at > now
    assert set(sale.participants.values_list("member_id", flat=True)) == {gold.pk, platinum.pk}
    assert list(sale.messages.values_list("kind", "member_id")) == [(Kind.SALE_ANNOUNCE, gold.pk)]
    # and the member whose birthday is a week ahead got the gift and the greeting
    gifts = birthday_campaign.offers.all()
    assert list(gifts.values_list("member_id", "event_key", "reward_value")) == [
        (celebrating.pk, str(birthday.year), Decimal(500))
    ]
    assert list(birthday_campaign.messages.values_list("kind", "channel", "member_id")) == [
        (Kind.BIRTHDAY, "sms", celebrating.pk)
    ]

    # and today's receipts used three offers, counted towards the 5th purchase, and
    # brought the welcome points to those who bought for the first time and the referral
    # points to an invited friend and the regular who invited them
    today_receipts = Purchase.objects.filter(receipt_number__startswith="TODAY-")
    assert today_receipts.count() == 14
    used = issued.filter(status=Offer.Status.USED)
    assert used.count() == 3
    for used_offer in used.select_related("purchase"):
        assert used_offer.purchase.member_id == used_offer.member_id
        assert used_offer.purchase.receipt_number.startswith("TODAY-")
        grant = Grant.objects.get(offer=used_offer)
        assert grant.discount == used_offer.purchase.code_discount > 0
    assert sorted(nth.counters.values_list("count", flat=True)) == [1, 1, 1, 1, 2, 4, 4]
    friend = Member.objects.get(referred_by__isnull=False)
    first_timers = set(today_receipts.values_list("member_id", flat=True)) - set(
        Purchase.objects.exclude(pk__in=today_receipts).values_list("member_id", flat=True)
    )
    assert friend.pk in first_timers
    given = Grant.objects.filter(campaign__kind__in=[Kinds.WELCOME, Kinds.REFERRAL])
    assert sorted(given.values_list("campaign__kind", "member_id", "points")) == sorted(
        [(Kinds.WELCOME, pk, 200) for pk in first_timers]
        + [
            (Kinds.REFERRAL, friend.pk, 300),
            (Kinds.REFERRAL, friend.referred_by_id, 300),
        ]
    )
    assert threshold.offers.filter(source_purchase__in=today_receipts).exists()

    # and a second run adds nothing
    before = _counts()
    campaigns_demo.campaigns_demo_ensure(now=timezone.now(), report=demo.DemoReport())
    assert _counts() == before


def test_seed_demo_creates_every_kind_of_campaign_once(tmp_path):
    # given a loaded demo
    out = io.StringIO()
    call_command("seed_demo", members=40, purchases=400, key_file=tmp_path / "key.txt", stdout=out)
    before = _counts()

    # when it is loaded again
    again = io.StringIO()
    call_command(
        "seed_demo", members=40, purchases=400, key_file=tmp_path / "key.txt", stdout=again
    )

    # then the first run made a campaign of every kind (and the promo codes' one), and
    # the second run nothing
    assert sorted(Campaign.objects.values_list("kind", flat=True)) == sorted([*Kinds.values])
    assert Offer.objects.filter(campaign__kind=Kinds.OFFER).exists()
    assert Purchase.objects.filter(receipt_number__startswith="TODAY-").exists()
    assert "5 segments" in out.getvalue()
    assert _counts() == before
    assert "Demo data already loaded, nothing to add" in again.getvalue()
