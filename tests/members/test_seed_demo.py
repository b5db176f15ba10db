"""seed_demo: consistent history, the same rows the services produce, and idempotent."""

import copy
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Q, Sum
from django.utils import timezone

from loyalty import rules
from loyalty.actors import Actor
from loyalty.defaults import CASHIER, MARKETING
from loyalty.models import BeneficiaryCategory, Partner, PartnerAPIKey, ProgramSettings, Store
from members import demo
from members.models import (
    Channel,
    ConsentRecord,
    LedgerEntry,
    Member,
    PointsLot,
    Purchase,
    Refund,
)
from members.selectors import member_qualifying, phone_normalise, tier_rules
from members.services import (
    checkout_commit,
    member_enroll,
    points_expire,
    purchase_refund,
    tier_review,
)
from promocodes import codes
from promocodes.models import CodeBatch, PromoCode
from tests.members.conftest import assert_ledger_holds

MODELS = [Store, Member, ConsentRecord, Purchase, Refund, PointsLot, LedgerEntry, Partner]


def seed(key_file, **options) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo",
        members=options.pop("members", 30),
        purchases=options.pop("purchases", 300),
        key_file=key_file,
        stdout=out,
        **options,
    )
    return out.getvalue()


def counts() -> dict[str, int]:
    counted = {model.__name__: model.objects.count() for model in MODELS}
    counted["users"] = get_user_model().objects.count()
    counted["keys"] = PartnerAPIKey.objects.count()
    counted["promo codes"] = PromoCode.objects.count()
    counted["promo batches"] = CodeBatch.objects.count()
    return counted


def test_seed_demo_loads_a_consistent_history(tmp_path):
    # given an empty program whose points live 90 days (so some burn in the history)
    ProgramSettings.objects.filter(pk=1).update(points_life_days=90)
    key_file = tmp_path / "demo-partner-key.txt"

    # when the demo is loaded on a small scale
    out = seed(key_file)

    # then the stores, members and purchases are there, all in the past
    now = timezone.now()
    assert list(Store.objects.values_list("code", "city")) == [
        ("EKB-01", "Екатеринбург"),
        ("MSK-01", "Москва"),
        ("SPB-01", "Санкт-Петербург"),
    ]
    assert Member.objects.count() == 30
    assert Purchase.objects.filter(receipt_number__startswith="DEMO-").count() == 300
    assert not Purchase.objects.filter(created_at__gte=now).exists()
    assert not Member.objects.filter(created_at__gte=now).exists()
    assert not Refund.objects.filter(created_at__gte=now).exists()
    assert Refund.objects.exists()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE).exists()
    for member in Member.objects.all():
        assert phone_normalise(str(member.phone)) == str(member.phone)
        assert str(member.phone).startswith("+79")
        # and balance == sum(ledger) == sum(lot.remaining) >= 0, lot by lot
        assert_ledger_holds(member)
    # and every purchase adds up and its ledger entries are what it says
    for purchase in Purchase.objects.annotate(
        spent=Sum("ledger_entries__amount", filter=Q(ledger_entries__kind=LedgerEntry.Kind.SPEND)),
        earned=Sum("ledger_entries__amount", filter=Q(ledger_entries__kind=LedgerEntry.Kind.EARN)),
    ):
        assert purchase.paid == (
            purchase.total - purchase.base_discount - purchase.code_discount - purchase.points_spent
        )
        assert purchase.base_discount == rules.percent_of(purchase.total, purchase.base_rate)
        assert purchase.points_earned == rules.points_floor(
            purchase.paid * purchase.earn_percent / 100
        )
        assert -(purchase.spent or 0) == purchase.points_spent
        assert (purchase.earned or 0) == purchase.points_earned
    # and refunds add up to the purchases' running totals
    for purchase in Purchase.objects.filter(refunded_paid__gt=0).annotate(
        refunded=Sum("refunds__amount"), n=Count("refunds")
    ):
        assert purchase.refunded == purchase.refunded_paid
        assert purchase.refunded_paid <= purchase.paid
    for refund in Refund.objects.all():
        assert refund.money_refunded == refund.amount - refund.money_withheld
    # and nothing is left on a lot past its life
    assert not PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now).exists()
    # and every member is on the tier their spend earns (the review ran at the end)
    program = ProgramSettings.load()
    for member in Member.objects.all():
        qualifying = member_qualifying(member, program=program, at=now)
        assert member.tier_id == rules.tier_for(qualifying, tier_rules()).id, member
    assert Member.objects.values("tier").distinct().count() > 1
    # and the logins and the partner key work
    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    marketer = users.get(username="marketer")
    assert marketer.is_staff
    assert list(marketer.groups.values_list("name", flat=True)) == [MARKETING]
    assert marketer.check_password("marketer-demo")
    cashier = users.get(username="cashier")
    assert not cashier.is_staff
    assert list(cashier.groups.values_list("name", flat=True)) == [CASHIER]
    assert cashier.check_password("cashier-demo")
    key = key_file.read_text().strip()
    api_key = PartnerAPIKey.objects.get_from_key(key)
    assert api_key.partner.name == "Демо-партнёр"
    assert api_key.is_valid(key)
    assert f"Authorization: Api-Key {key}" in out
    assert "cashier   / cashier-demo" in out
    # and a public 10% batch of 1,000 codes and personal codes for the best members
    public = CodeBatch.objects.get(name="Зима: −10% по промокоду")
    assert public.codes.count() == 1000
    assert all(codes.has_valid_check(c) for c in public.codes.values_list("code", flat=True))
    personal = CodeBatch.objects.get(name="Подарок 300 ₽ лучшим покупателям")
    assert personal.codes.filter(member__isnull=False).count() == 30  # every demo member
    tried = PromoCode.objects.filter(batch=public).order_by("id").first()
    assert f"A 10% promo code to try at the cashier desk: {codes.display(tried.code)}" in out


def test_seed_demo_second_run_adds_nothing(tmp_path):
    # given a loaded demo
    key_file = tmp_path / "demo-partner-key.txt"
    seed(key_file)
    before = counts()
    key = key_file.read_text()

    # when it is loaded again
    out = seed(key_file)

    # then nothing was created and the same key is shown
    assert counts() == before
    assert key_file.read_text() == key
    assert "Demo data already loaded, nothing to add" in out
    assert f"Api-Key {key.strip()}" in out


def test_seed_demo_issues_a_new_key_when_the_key_file_is_lost(tmp_path):
    # given a loaded demo whose key file was deleted (the database keeps only a hash)
    key_file = tmp_path / "demo-partner-key.txt"
    seed(key_file)
    old_key = key_file.read_text().strip()
    key_file.unlink()
    before = counts()

    # when it is loaded again
    seed(key_file)

    # then only a new key of the same partner was issued, and it works
    new_key = key_file.read_text().strip()
    assert new_key != old_key
    assert counts() == before | {"keys": before["keys"] + 1}
    assert PartnerAPIKey.objects.get_from_key(new_key).partner.name == "Демо-партнёр"


def test_seed_demo_refuses_to_run_in_production(tmp_path, settings):
    # given production settings
    settings.DEBUG = False
    settings.TESTING = False
    before = counts()

    # when / then
    with pytest.raises(CommandError, match="DEBUG is off"):
        seed(tmp_path / "key.txt")
    assert counts() == before
    assert not (tmp_path / "key.txt").exists()


# --- The in-memory history equals what the services produce ------------------------------


def _through_services(plan: demo.Plan, *, at) -> None:
    """Replay the plan through the real services, the clock set to each event."""
    cashier = Actor.for_user(get_user_model().objects.get(username="cashier"), Channel.CASHIER)
    partner = Actor.for_partner(Partner.objects.get(name=demo.PARTNER_NAME))
    stores = {s.code: s for s in Store.objects.all()}
    categories = {c.code: c for c in BeneficiaryCategory.objects.all()}
    members: dict[str, Member] = {}
    for moment, kind, item in demo.history_events(plan):
        with time_machine.travel(moment, tick=False):
            if kind == "enrol":
                member = member_enroll(
                    phone=item.phone,
                    first_name=item.first_name,
                    last_name=item.last_name,
                    email=item.email,
                    birth_date=item.birth_date,
                    joined_store=stores[item.store_code],
                    consents=item.consents,
                    actor=cashier,
                )
                if item.beneficiary_code:
                    member.beneficiary_category = categories[item.beneficiary_code]
                    member.beneficiary_proof = item.beneficiary_proof
                    member.beneficiary_verified_until = item.beneficiary_verified_until
                    member.save()
                members[item.phone] = member
            elif kind == "purchase":
                checkout_commit(
                    member=members[item.member.phone],
                    store=stores[item.store_code],
                    receipt_number=item.receipt_number,
                    total=item.total,
                    points_to_spend=None if item.spend_points else 0,
                    actor=partner if item.by_partner else cashier,
                )
            elif kind == "refund":
                purchase = Purchase.objects.get(receipt_number=item.receipt_number)
                amount = demo.refund_amount(item, purchase)
                if not purchase.is_fully_refunded and amount > 0:
                    purchase_refund(
                        purchase=purchase,
                        amount=amount,
                        actor=partner if item.by_partner else cashier,
                    )
            elif kind == "expire":
                points_expire(at=moment)
            else:
                tier_review(at=moment)
    with time_machine.travel(at, tick=False):
        points_expire(at=at)
        tier_review(at=at)


def _receipt(purchase: Purchase | None) -> str:
    """A receipt number without its prefix (the twin plans differ only there)."""
    return purchase.receipt_number.split("-")[-1] if purchase else ""


def _snapshot(plan: demo.Plan) -> dict:
    """Everything the history produced, keyed by the plan's order (not ids or cards)."""
    result = {}
    for i, planned in enumerate(plan.members):
        member = Member.objects.get(phone=planned.phone)
        result[f"member {i}"] = (
            member.tier.name,
            member.points_balance,
            member.consent_email,
            member.consent_sms,
            member.consent_push,
            member.beneficiary_verified_until,
            member.created_at,
            sorted(
                (
                    e.kind,
                    e.amount,
                    e.created_at,
                    e.actor,
                    e.purchase.receipt_number[-6:] if e.purchase else "",
                )
                for e in member.ledger.select_related("purchase")
            ),
            sorted(
                (lot.amount, lot.remaining, lot.earned_at, lot.expires_at)
                for lot in member.points_lots.all()
            ),
            sorted(
                (c.channel, c.is_granted, c.source, c.actor, c.created_at)
                for c in member.consents.all()
            ),
        )
    for planned in plan.purchases:
        p = Purchase.objects.get(receipt_number=planned.receipt_number)
        result[f"purchase {_receipt(p)}"] = (
            p.store.code,
            p.created_at,
            p.total,
            p.base_rate,
            p.base_source,
            p.base_discount,
            p.code_discount,
            p.points_max,
            p.points_spent,
            p.paid,
            p.tier.name,
            p.earn_percent,
            p.points_earned,
            p.tier_spend,
            p.steps,
            p.channel,
            p.refunded_paid,
            p.points_taken_back,
            p.points_returned,
            p.tier_spend_refunded,
            p.is_fully_refunded,
            [
                (
                    r.amount,
                    r.money_withheld,
                    r.money_refunded,
                    r.points_taken_back,
                    r.points_returned,
                    r.tier_spend,
                    r.channel,
                    r.created_at,
                )
                for r in p.refunds.order_by("created_at")
            ],
        )
    return result


def test_demo_history_equals_what_the_services_produce(tmp_path):
    # given a short points life (so lots burn within a short history), a small plan with
    # many refunds and points spent, and its twin with other phones, e-mails and receipts
    ProgramSettings.objects.filter(pk=1).update(points_life_days=60)
    report = demo.DemoReport()
    demo.program_ensure(report)
    demo.users_ensure(report)
    demo.partner_key_ensure(tmp_path / "key.txt", report)
    now = timezone.now()
    plan = demo.plan_history(members=12, purchases=120, months=5, seed=7, now=now)
    for n, planned in enumerate(plan.purchases):
        planned.spend_points = n % 3 != 0
        if n % 5 == 0:
            # Weeks later, when the points the purchase earned may already be spent.
            planned.refund_at = min(planned.at + dt.timedelta(days=20 + n % 7), plan.end)
            planned.refund_share = [None, Decimal("0.5"), Decimal("0.25")][n % 3]
    twin = copy.deepcopy(plan)
    for i, member in enumerate(twin.members):
        member.phone = f"+7912{i:07d}"
        member.email = f"twin.{member.email}" if member.email else ""
    for purchase in twin.purchases:
        purchase.receipt_number = purchase.receipt_number.replace(demo.RECEIPT_PREFIX, "SVC-")
    assert not {m.phone for m in plan.members} & {m.phone for m in twin.members}

    # when one goes through the services and the other is built in memory
    _through_services(twin, at=now)
    expected = _snapshot(twin)
    with time_machine.travel(now, tick=False):
        demo.history_load(plan, at=now)

    # then they are the same, row for row
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE).count() >= 6
    assert Refund.objects.filter(money_withheld__gt=0).exists()
    assert _snapshot(plan) == expected
