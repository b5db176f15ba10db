"""Demo data for `make run`: stores, staff logins, a partner key, members and 18 months
of purchases and refunds.

Going through checkout_commit for 20,000 receipts costs about 20 queries each (minutes
on SQLite), so the history is computed in memory with the same rules the services use
(loyalty.rules.checkout, refund_shares, tier_for, and the checkout module's own base
discounts, steps and fingerprints), replayed event by event in time order: FIFO
spending of unexpired lots, earning into new lots, upgrades as soon as a threshold is
crossed, refunds that return spent points, take back earned ones and withhold what is
already spent, the nightly expiry and tier review of the beat schedule. The rows are
then written with bulk_create. The real points_expire and tier_review services run at
the end, and the ledger invariants are checked before the transaction commits.

The plan comes from a seeded generator; the history is loaded only when no demo
purchase exists yet, so a second run is a quick no-op.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from faker import Faker

from loyalty import rules
from loyalty.actors import Actor
from loyalty.defaults import CASHIER, MARKETING, groups_ensure, program_defaults_ensure
from loyalty.models import (
    BeneficiaryCategory,
    Partner,
    PartnerAPIKey,
    ProgramSettings,
    Store,
    Tier,
)
from members.cards import card_number_generate
from members.models import (
    Channel,
    ConsentRecord,
    LedgerEntry,
    Member,
    PointsLot,
    Purchase,
    Refund,
)
from members.selectors import phone_normalise, window_start
from members.services import points_expire, tier_review

# The checkout's own helpers, so the demo's base discounts, steps and fingerprints are
# exactly those of checkout_commit (a later retry of a demo receipt replays it).
from members.services.checkout import (
    CheckoutContext,
    base_rate_candidates,
    receipt_fingerprint,
    steps_json,
)
from members.services.refunds import refund_settle, refund_shares_of

RECEIPT_PREFIX = "DEMO-"
PARTNER_NAME = "Демо-партнёр"
PARTNER_KEY_NAME = "demo"
EXPIRE_ACTOR = "task:points_expire"
BATCH = 2000

# (code, name, city, address, share of members who joined there)
STORES = [
    ("MSK-01", "Москва, Тверская", "Москва", "ул. Тверская, д. 12", 0.5),
    ("SPB-01", "Санкт-Петербург, Невский", "Санкт-Петербург", "Невский пр., д. 48", 0.3),
    ("EKB-01", "Екатеринбург, Вайнера", "Екатеринбург", "ул. Вайнера, д. 9", 0.2),
]


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    group: str | None
    is_staff: bool
    is_superuser: bool
    role: str


DEMO_USERS = [
    DemoUser("admin", "admin-demo", None, True, True, "superuser"),
    DemoUser("marketer", "marketer-demo", MARKETING, True, False, "marketing, in admin"),
    DemoUser("cashier", "cashier-demo", CASHIER, False, False, "cashier desk"),
]


class DemoDataError(Exception):
    """The generated history broke an invariant (a bug: nothing was saved)."""


# --- Plan --------------------------------------------------------------------------------


@dataclass
class PlannedMember:
    phone: str
    first_name: str
    last_name: str
    email: str
    birth_date: dt.date | None
    store_code: str
    consents: dict[str, bool]
    joined_at: dt.datetime
    beneficiary_code: str = ""
    beneficiary_proof: str = ""
    beneficiary_verified_until: dt.date | None = None


@dataclass
class PlannedPurchase:
    member: PlannedMember
    store_code: str
    at: dt.datetime
    receipt_number: str
    total: Decimal
    spend_points: bool
    by_partner: bool
    refund_at: dt.datetime | None = None
    refund_share: Decimal | None = None  # of the money paid; None refunds it all


@dataclass
class Plan:
    members: list[PlannedMember]
    purchases: list[PlannedPurchase]
    start: dt.datetime
    end: dt.datetime


def _store_hours(rng: random.Random, moment: dt.datetime) -> dt.datetime:
    """The same day at a time when the shops are open (10:00-21:59 local)."""
    return timezone.localtime(moment).replace(
        hour=rng.randint(10, 21),
        minute=rng.randint(0, 59),
        second=rng.randint(0, 59),
        microsecond=0,
    )


_LATIN = str.maketrans(
    {
        **dict(zip("абвгдеёзийклмнопрстуфыэ", "abvgdeeziyklmnoprstufye", strict=True)),
        **{"ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch"},
        **{"ъ": "", "ь": "", "ю": "yu", "я": "ya"},
    }
)


def _latin(name: str) -> str:
    """A Russian name as people write it in an e-mail address."""
    return name.lower().translate(_LATIN)


def _receipt_total(rng: random.Random) -> Decimal:
    # Log-normal: most receipts between 500 and 4,000 ₽, a few large ones.
    value = min(rng.lognormvariate(7.4, 0.8), 60_000.0)
    return Decimal(max(value, 99.0)).quantize(rules.KOPECK)


def plan_history(*, members: int, purchases: int, months: int, seed: int, now: dt.datetime) -> Plan:
    """The demo history as plain data: the same for the same arguments and moment."""
    rng = random.Random(seed)
    fake = Faker("ru_RU")
    fake.seed_instance(seed)
    end = now.replace(microsecond=0) - dt.timedelta(hours=1)
    start = end - dt.timedelta(days=round(months * 30.44))
    span = (end - start).total_seconds()
    store_codes = [s[0] for s in STORES]
    store_weights = [s[4] for s in STORES]
    categories = list(
        BeneficiaryCategory.objects.filter(is_active=True)
        .order_by("code")
        .values_list("code", flat=True)
    )

    # Members someone enrolled by hand before the demo keep their phone and e-mail.
    phones = {str(p) for p in Member.objects.values_list("phone", flat=True)}
    emails = {e.lower() for e in Member.objects.exclude(email="").values_list("email", flat=True)}
    planned_members = []
    for _i in range(members):
        while True:
            phone = f"+79{rng.randint(0, 99):02d}{rng.randint(0, 9_999_999):07d}"
            if phone not in phones and phone_normalise(phone) == phone:
                phones.add(phone)
                break
        if rng.random() < 0.5:
            first_name, last_name = fake.first_name_male(), fake.last_name_male()
        else:
            first_name, last_name = fake.first_name_female(), fake.last_name_female()
        birth_date = (
            fake.date_of_birth(minimum_age=18, maximum_age=80) if rng.random() < 0.85 else None
        )
        email = ""
        if rng.random() < 0.6:
            first, last = _latin(first_name), _latin(last_name)
            local_part = rng.choice(
                [
                    f"{first}.{last}",
                    f"{first[0]}.{last}",
                    f"{last}{birth_date.year % 100:02d}" if birth_date else f"{last}.{first}",
                    f"{first}_{last}",
                ]
            )
            # Reserved example domains: demo data never reaches a real mailbox.
            domain = rng.choice(["example.ru", "example.com", "example.org"])
            email = f"{local_part}@{domain}"
            for n in itertools.count(2):
                if email.lower() not in emails:
                    break
                email = f"{local_part}{n}@{domain}"
            emails.add(email.lower())
        # Earlier members had more time to buy: joins lean towards the start.
        joined = start + dt.timedelta(seconds=span * rng.random() ** 1.5)
        joined_at = _store_hours(rng, min(joined, end - dt.timedelta(days=1)))
        member = PlannedMember(
            phone=phone,
            first_name=first_name,
            last_name=last_name,
            email=email,
            birth_date=birth_date,
            store_code=rng.choices(store_codes, store_weights)[0],
            consents={
                ConsentRecord.ConsentChannel.EMAIL: bool(email) and rng.random() < 0.7,
                ConsentRecord.ConsentChannel.SMS: rng.random() < 0.6,
                ConsentRecord.ConsentChannel.PUSH: rng.random() < 0.3,
            },
            joined_at=joined_at,
        )
        if categories and rng.random() < 0.06:
            member.beneficiary_code = rng.choice(categories)
            member.beneficiary_proof = f"Удостоверение № {rng.randint(100000, 999999)}"
            # Most proofs are still valid; a lapsed one no longer gives the discount.
            until = end + dt.timedelta(days=rng.randint(-120, 700))
            member.beneficiary_verified_until = timezone.localtime(until).date()
        planned_members.append(member)

    # A few members buy much more often than most (a Pareto spread of activity), and
    # each buys in proportion to the time since they joined.
    activity = list(
        itertools.accumulate(
            rng.paretovariate(1.6) * (end - m.joined_at).total_seconds() for m in planned_members
        )
    )
    planned_purchases = []
    for n in range(purchases):
        member = rng.choices(planned_members, cum_weights=activity)[0]
        moment = member.joined_at + (end - member.joined_at) * rng.random()
        at = min(_store_hours(rng, moment), end)
        if at <= member.joined_at:
            at = member.joined_at + dt.timedelta(minutes=rng.randint(5, 30))
        purchase = PlannedPurchase(
            member=member,
            store_code=member.store_code if rng.random() < 0.8 else rng.choice(store_codes),
            at=at,
            receipt_number=f"{RECEIPT_PREFIX}{n + 1:06d}",
            total=_receipt_total(rng),
            spend_points=rng.random() < 0.25,
            by_partner=rng.random() < 0.15,
        )
        if rng.random() < 0.03:
            refund_at = at + dt.timedelta(days=rng.randint(0, 14), hours=rng.randint(1, 4))
            if refund_at < end:
                purchase.refund_at = refund_at
                if rng.random() < 0.4:
                    purchase.refund_share = Decimal(rng.choice(["0.25", "0.5", "0.75"]))
        planned_purchases.append(purchase)
    return Plan(members=planned_members, purchases=planned_purchases, start=start, end=end)


# --- Replay in memory -----------------------------------------------------------------


@dataclass
class _MemberState:
    member: Member
    lots: list[PointsLot] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)


class HistoryBuilder:
    """Replays a plan in time order, producing unsaved rows exactly as the services would.

    Lots are kept in creation order, which is their id order once saved, so "oldest
    first" (expires_at, id) is (expires_at, position) here.
    """

    def __init__(self, *, program: ProgramSettings, cashier, partner: Partner):
        self.program = program
        self.tiers = list(Tier.objects.order_by("threshold"))
        self.tier_rules = [
            rules.TierRule(t.id, t.name, t.threshold, t.discount_percent, t.earn_percent)
            for t in self.tiers
        ]
        self.tier_by_id = {t.id: t for t in self.tiers}
        self.stores = {s.code: s for s in Store.objects.filter(code__in=[s[0] for s in STORES])}
        self.categories = {c.code: c for c in BeneficiaryCategory.objects.all()}
        self.cashier_actor = Actor.for_user(cashier, Channel.CASHIER)
        self.partner_actor = Actor.for_partner(partner)
        self.states: dict[str, _MemberState] = {}
        self.consents: list[ConsentRecord] = []
        self.purchases: dict[str, Purchase] = {}
        self.refunds: list[Refund] = []
        self.lots: list[PointsLot] = []
        self.lot_position: dict[int, int] = {}  # id(lot) -> creation order
        self.entries: list[LedgerEntry] = []
        # Per purchase, the points it spent from each lot (by position) not yet returned.
        self.spent_out: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.card_numbers = set(Member.objects.values_list("card_number", flat=True))
        # Lots by burn time, for the nightly expiry; a refund may put points back on a
        # burnt lot, which is then pushed again and burns the next night.
        self.burn_queue: list[tuple[dt.datetime, int, PointsLot]] = []
        self.to_review: set[str] = set()

    # Events ------------------------------------------------------------------------

    def enrol(self, planned: PlannedMember, at: dt.datetime) -> None:
        """As member_enroll (at the cashier desk), plus the beneficiary proof staff check."""
        card = card_number_generate()
        while card in self.card_numbers:
            card = card_number_generate()
        self.card_numbers.add(card)
        member = Member(
            card_number=card,
            phone=planned.phone,
            email=planned.email,
            first_name=planned.first_name,
            last_name=planned.last_name,
            birth_date=planned.birth_date,
            joined_store=self.stores[planned.store_code],
            tier=self.tiers[0],
            points_balance=0,
            created_at=at,
            updated_at=at,
        )
        if planned.beneficiary_code:
            member.beneficiary_category = self.categories[planned.beneficiary_code]
            member.beneficiary_proof = planned.beneficiary_proof
            member.beneficiary_verified_until = planned.beneficiary_verified_until
        for channel, is_granted in planned.consents.items():
            setattr(member, f"consent_{channel}", is_granted)
            self.consents.append(
                ConsentRecord(
                    member=member,
                    channel=channel,
                    is_granted=is_granted,
                    source=self.cashier_actor.channel,
                    actor=self.cashier_actor.label,
                    created_at=at,
                )
            )
        self.states[planned.phone] = _MemberState(member)

    def purchase(self, planned: PlannedPurchase, at: dt.datetime) -> None:
        """As checkout_commit: steps 1-2 and 4-7, FIFO spend, earn, upgrade."""
        state = self.states[planned.member.phone]
        member = state.member
        tier = member.tier
        store = self.stores[planned.store_code]
        actor = self.partner_actor if planned.by_partner else self.cashier_actor
        points_to_spend = None if planned.spend_points else 0
        ctx = CheckoutContext(member=member, store=store, total=planned.total, at=at)
        b = rules.checkout(
            total=planned.total,
            base_candidates=base_rate_candidates(ctx, tier),
            policy=rules.StackingPolicy(self.program.stacking_policy),
            stacking_cap_percent=self.program.stacking_cap_percent,
            reward=None,
            # Only points not yet past their burn date can be spent (the nightly
            # expiry may not have burnt a lot that expired earlier today).
            points_balance=sum(self._open_lots(state, at, key=lambda lot: lot.remaining)),
            points_to_spend=points_to_spend,
            points_cap_percent=self.program.points_cap_percent,
            earn_percent=tier.earn_percent,
        )
        purchase = Purchase(
            member=member,
            store=store,
            receipt_number=planned.receipt_number,
            total=b.total,
            base_rate=b.base_rate,
            base_source=b.base_source,
            base_discount=b.base_discount,
            reward_source="",
            reward_reference="",
            code_discount=b.code_discount,
            points_max=b.points_max,
            points_spent=b.points_spent,
            paid=b.paid,
            tier=tier,
            earn_percent=b.earn_percent,
            points_earned=b.points_earned,
            tier_spend=b.tier_spend,
            steps=steps_json(b.steps),
            request_fingerprint=receipt_fingerprint(
                member=member, total=b.total, points_to_spend=points_to_spend, code="", choice=""
            ),
            channel=actor.channel,
            partner=actor.partner,
            recorded_by=actor.user,
            created_at=at,
        )
        self.purchases[planned.receipt_number] = purchase
        state.purchases.append(purchase)
        if b.points_spent:
            taken = self._take(
                state, b.points_spent, LedgerEntry.Kind.SPEND, at, actor, purchase=purchase
            )
            if taken != b.points_spent:
                raise DemoDataError(f"{planned.receipt_number}: spent {taken} of {b.points_spent}")
        if b.points_earned:
            self._open(state, b.points_earned, at, actor, purchase)
        # member_tier_upgrade: up as soon as a threshold is crossed, never down here.
        target = rules.tier_for(self._qualifying(state, at), self.tier_rules)
        if target.threshold > member.tier.threshold:
            member.tier = self.tier_by_id[target.id]
            member.updated_at = at

    def refund(self, planned: PlannedPurchase, at: dt.datetime) -> None:
        """As purchase_refund: return spent points, take back earned ones, withhold."""
        purchase = self.purchases[planned.receipt_number]
        state = self.states[planned.member.phone]
        actor = self.partner_actor if planned.by_partner else self.cashier_actor
        amount = refund_amount(planned, purchase)
        if purchase.is_fully_refunded or amount <= 0:
            return
        shares = refund_shares_of(purchase, amount)
        refund = Refund(
            purchase=purchase,
            amount=amount,
            tier_spend=shares.tier_spend,
            channel=actor.channel,
            partner=actor.partner,
            recorded_by=actor.user,
            created_at=at,
        )
        self.refunds.append(refund)
        returned = self._return_spent(state, purchase, refund, shares.points_to_return, at, actor)
        own_lot = next((lot for lot in state.lots if lot.purchase is purchase), None)
        taken = self._take(
            state,
            shares.points_to_take_back,
            LedgerEntry.Kind.REFUND,
            at,
            actor,
            purchase=purchase,
            refund=refund,
            prefer=own_lot,
        )
        refund_settle(refund, shares=shares, points_taken=taken, points_returned=returned)
        self.to_review.add(planned.member.phone)

    def expire(self, at: dt.datetime) -> None:
        """As the nightly points_expire: burn the remainder of every lot past its life."""
        while self.burn_queue and self.burn_queue[0][0] <= at:
            _expires_at, _pos, lot = heapq.heappop(self.burn_queue)
            if lot.remaining <= 0:
                continue
            self.entries.append(
                LedgerEntry(
                    member=lot.member,
                    lot=lot,
                    kind=LedgerEntry.Kind.EXPIRE,
                    amount=-lot.remaining,
                    actor=EXPIRE_ACTOR,
                    created_at=at,
                )
            )
            lot.member.points_balance -= lot.remaining
            lot.remaining = 0

    def review(self, at: dt.datetime) -> None:
        """As the nightly tier_review: everyone to the tier their qualifying value earns.

        With a lifetime window only refunds lower that value; a rolling window reviews all.
        """
        rolling = self.program.tier_window == ProgramSettings.TierWindow.ROLLING
        phones = list(self.states) if rolling else list(self.to_review)
        for phone in phones:
            state = self.states[phone]
            target = rules.tier_for(self._qualifying(state, at), self.tier_rules)
            state.member.tier = self.tier_by_id[target.id]
        self.to_review.clear()

    # Ledger ------------------------------------------------------------------------

    def _open_lots(self, state: _MemberState, at: dt.datetime, key=None):
        lots = [lot for lot in state.lots if lot.remaining > 0 and lot.expires_at > at]
        lots.sort(key=lambda lot: (lot.expires_at, self.lot_position[id(lot)]))
        return [key(lot) for lot in lots] if key else lots

    def _open(
        self, state: _MemberState, amount: int, at: dt.datetime, actor: Actor, purchase: Purchase
    ) -> None:
        lot = PointsLot(
            member=state.member,
            amount=amount,
            remaining=amount,
            earned_at=at,
            expires_at=at + dt.timedelta(days=self.program.points_life_days),
            purchase=purchase,
        )
        self.lot_position[id(lot)] = len(self.lots)
        self.lots.append(lot)
        state.lots.append(lot)
        heapq.heappush(self.burn_queue, (lot.expires_at, self.lot_position[id(lot)], lot))
        self.entries.append(
            LedgerEntry(
                member=state.member,
                lot=lot,
                kind=LedgerEntry.Kind.EARN,
                amount=amount,
                purchase=purchase,
                actor=actor.label,
                created_at=at,
            )
        )
        state.member.points_balance += amount

    def _take(
        self,
        state: _MemberState,
        amount: int,
        kind: str,
        at: dt.datetime,
        actor: Actor,
        *,
        purchase: Purchase,
        refund: Refund | None = None,
        prefer: PointsLot | None = None,
    ) -> int:
        """As lots_take: oldest unexpired lots first, the preferred lot before them."""
        if amount <= 0:
            return 0
        lots = self._open_lots(state, at)
        if prefer is not None:
            lots.sort(key=lambda lot: lot is not prefer)
        taken = 0
        for lot in lots:
            if taken == amount:
                break
            part = min(lot.remaining, amount - taken)
            lot.remaining -= part
            taken += part
            if kind == LedgerEntry.Kind.SPEND:
                self.spent_out[id(purchase)][self.lot_position[id(lot)]] += part
            self.entries.append(
                LedgerEntry(
                    member=state.member,
                    lot=lot,
                    kind=kind,
                    amount=-part,
                    purchase=purchase,
                    refund=refund,
                    actor=actor.label,
                    created_at=at,
                )
            )
        state.member.points_balance -= taken
        return taken

    def _return_spent(
        self,
        state: _MemberState,
        purchase: Purchase,
        refund: Refund,
        amount: int,
        at: dt.datetime,
        actor: Actor,
    ) -> int:
        """As lots_return: spent points go back to their lots, latest burn date first."""
        out = self.spent_out[id(purchase)]
        returned = 0
        for position in sorted(out, key=lambda pos: self.lots[pos].expires_at, reverse=True):
            if returned == amount:
                break
            part = min(out[position], amount - returned)
            if part <= 0:
                continue
            lot = self.lots[position]
            lot.remaining += part
            out[position] -= part
            returned += part
            if lot.expires_at <= at:
                heapq.heappush(self.burn_queue, (lot.expires_at, position, lot))
            self.entries.append(
                LedgerEntry(
                    member=state.member,
                    lot=lot,
                    kind=LedgerEntry.Kind.REFUND,
                    amount=part,
                    purchase=purchase,
                    refund=refund,
                    actor=actor.label,
                    created_at=at,
                )
            )
        state.member.points_balance += returned
        return returned

    def _qualifying(self, state: _MemberState, at: dt.datetime) -> Decimal:
        """As selectors.member_qualifying."""
        start = window_start(self.program, at)
        counted = [
            p
            for p in state.purchases
            if p.created_at <= at and (start is None or p.created_at > start)
        ]
        if self.program.tier_basis == ProgramSettings.TierBasis.PURCHASES:
            return Decimal(sum(1 for p in counted if not p.is_fully_refunded))
        return sum((p.tier_spend - p.tier_spend_refunded for p in counted), Decimal(0))

    # Replay ------------------------------------------------------------------------

    def replay(self, plan: Plan) -> None:
        """Every planned event and the nightly schedule, in time order."""
        handlers = {
            "enrol": self.enrol,
            "purchase": self.purchase,
            "refund": self.refund,
            "expire": lambda _item, at: self.expire(at),
            "review": lambda _item, at: self.review(at),
        }
        for at, kind, item in history_events(plan):
            handlers[kind](item, at)


def history_events(plan: Plan) -> list[tuple[dt.datetime, str, object]]:
    """Enrolments, purchases, refunds and the beat's nightly jobs (points expiry at 03:15,
    tier review at 03:45), in time order: (time, kind, planned member or purchase)."""
    seq = itertools.count()
    events: list = []
    for member in plan.members:
        events.append((member.joined_at, next(seq), "enrol", member))
    for purchase in plan.purchases:
        events.append((purchase.at, next(seq), "purchase", purchase))
        if purchase.refund_at is not None:
            events.append((purchase.refund_at, next(seq), "refund", purchase))
    night = timezone.localtime(plan.start).replace(hour=3, minute=15, second=0, microsecond=0)
    while night < plan.end:
        events.append((night, next(seq), "expire", None))
        events.append((night + dt.timedelta(minutes=30), next(seq), "review", None))
        night += dt.timedelta(days=1)
    events.sort(key=lambda event: (event[0], event[1]))
    return [(at, kind, item) for at, _seq, kind, item in events]


def refund_amount(planned: PlannedPurchase, purchase: Purchase) -> Decimal:
    """The money a planned refund returns: a share of what was paid, or all that is left."""
    refundable = purchase.paid - purchase.refunded_paid
    if planned.refund_share is None:
        return refundable
    return min(rules.money(purchase.paid * planned.refund_share), refundable)


# --- Load --------------------------------------------------------------------------------


@contextmanager
def _history_times(*models) -> Iterator[None]:
    """Let bulk_create keep the history's own times, which auto_now(_add) would replace
    with the present. Only for this single-threaded command."""
    fields = [
        f
        for model in models
        for f in model._meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def history_load(
    plan: Plan, *, at: dt.datetime, progress: Callable[[str], None] = lambda _msg: None
) -> dict[str, int]:
    """Compute the planned history in memory, write it, then run the real nightly jobs."""
    started = time.monotonic()
    builder = HistoryBuilder(
        program=ProgramSettings.load(),
        cashier=get_user_model().objects.get(username="cashier"),
        partner=Partner.objects.get(name=PARTNER_NAME),
    )
    builder.replay(plan)
    progress(f"  computed in {time.monotonic() - started:.1f} s")
    started = time.monotonic()

    # Children point at their parents' objects; the ids come back from each insert.
    if not connection.features.can_return_rows_from_bulk_insert:
        raise DemoDataError("The database cannot return ids from a bulk insert.")
    members = [state.member for state in builder.states.values()]
    with _history_times(Member, ConsentRecord, Refund):
        Member.objects.bulk_create(members, batch_size=BATCH)
        ConsentRecord.objects.bulk_create(builder.consents, batch_size=BATCH)
        Purchase.objects.bulk_create(builder.purchases.values(), batch_size=BATCH)
        Refund.objects.bulk_create(builder.refunds, batch_size=BATCH)
        PointsLot.objects.bulk_create(builder.lots, batch_size=BATCH)
        LedgerEntry.objects.bulk_create(builder.entries, batch_size=BATCH)

    progress(f"  written in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    # What the beat would do now: burn what expired since last night, review tiers.
    burnt = points_expire(at=at)
    moves = tier_review(at=at)
    progress(f"  expiry, tier review in {time.monotonic() - started:.1f} s")
    broken = invariants_check()
    if broken:
        raise DemoDataError(f"{broken} members' balance differs from their ledger or lots.")
    return {
        "members": len(members),
        "purchases": len(builder.purchases),
        "refunds": len(builder.refunds),
        "points lots": len(builder.lots),
        "ledger entries": len(builder.entries),
        "points burnt just now": burnt,
        "tier moves just now": moves.up + moves.down,
    }


def invariants_check() -> int:
    """Members whose balance is negative or differs from their ledger or lots (0 is good)."""
    ledger = (
        LedgerEntry.objects.filter(member=OuterRef("pk"))
        .order_by()
        .values("member")
        .annotate(s=Sum("amount"))
        .values("s")
    )
    lots = (
        PointsLot.objects.filter(member=OuterRef("pk"))
        .order_by()
        .values("member")
        .annotate(s=Sum("remaining"))
        .values("s")
    )
    return (
        Member.objects.annotate(
            ledger_sum=Coalesce(Subquery(ledger), 0), lots_sum=Coalesce(Subquery(lots), 0)
        )
        .filter(
            Q(points_balance__lt=0)
            | ~Q(points_balance=F("ledger_sum"))
            | ~Q(points_balance=F("lots_sum"))
        )
        .count()
    )


@dataclass
class DemoReport:
    created: dict[str, int] = field(default_factory=dict)
    partner_key: str = ""
    partner_key_file: Path | None = None
    promo_code: str = ""

    def add(self, what: str, count: int = 1) -> None:
        if count:
            self.created[what] = self.created.get(what, 0) + count


# --- Setup -------------------------------------------------------------------------------


def program_ensure(report: DemoReport) -> None:
    program_defaults_ensure(
        ProgramSettings=ProgramSettings, Tier=Tier, BeneficiaryCategory=BeneficiaryCategory
    )
    groups_ensure(Group=Group, Permission=Permission)
    for code, name, city, address, _share in STORES:
        _store, created = Store.objects.get_or_create(
            code=code, defaults={"name": name, "city": city, "address": address}
        )
        report.add("stores", int(created))


def users_ensure(report: DemoReport) -> None:
    """The demo logins; an existing user keeps the password it has."""
    User = get_user_model()
    for spec in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=spec.username,
            defaults={
                "is_staff": spec.is_staff,
                "is_superuser": spec.is_superuser,
                "email": f"{spec.username}@example.ru",
            },
        )
        if created:
            user.set_password(spec.password)
            user.save(update_fields=["password"])
            if spec.group:
                user.groups.add(Group.objects.get(name=spec.group))
            report.add("users")


def partner_key_ensure(key_file: Path, report: DemoReport) -> str:
    """The demo partner and its API key, whose plain secret lives only in `key_file`.

    The database keeps only a hash, so a key whose file was lost cannot be shown again:
    a new one is issued then.
    """
    partner, created = Partner.objects.get_or_create(
        name=PARTNER_NAME, defaults={"scopes": list(Partner.Scope.values)}
    )
    report.add("partners", int(created))
    if key_file.exists():
        key = key_file.read_text().strip()
        try:
            api_key = PartnerAPIKey.objects.get_from_key(key)
        except PartnerAPIKey.DoesNotExist:
            api_key = None
        if api_key is not None and api_key.partner_id == partner.pk and api_key.is_valid(key):
            return key
    _api_key, key = PartnerAPIKey.objects.create_key(name=PARTNER_KEY_NAME, partner=partner)
    report.add("partner keys")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def history_exists() -> bool:
    """The demo purchases are the mark of a loaded history (they come in one transaction)."""
    return Purchase.objects.filter(receipt_number__startswith=RECEIPT_PREFIX).exists()


def demo_seed(
    *,
    members: int,
    purchases: int,
    months: int,
    seed: int,
    key_file: Path,
    now: dt.datetime | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> DemoReport:
    """Create whatever of the demo data is missing; a second run creates nothing."""
    report = DemoReport(partner_key_file=key_file)
    with transaction.atomic():
        program_ensure(report)
        users_ensure(report)
        report.partner_key = partner_key_ensure(key_file, report)
    now = now or timezone.now()
    if history_exists():
        report.promo_code = _promo_demo(now, report)
        _messaging_demo(now, report)
        _campaigns_demo(now, report)
        return report
    plan = plan_history(members=members, purchases=purchases, months=months, seed=seed, now=now)
    if not plan.members:
        return report
    progress(
        f"Loading {len(plan.members)} members and {len(plan.purchases)} purchases "
        f"from {plan.start:%Y-%m-%d} to {plan.end:%Y-%m-%d}…"
    )
    with transaction.atomic():
        for what, count in history_load(plan, at=now, progress=progress).items():
            report.add(what, count)
    report.promo_code = _promo_demo(now, report)
    _messaging_demo(now, report)
    _campaigns_demo(now, report)
    return report


def _messaging_demo(now: dt.datetime, report: DemoReport) -> None:
    from messaging.demo import messaging_demo_ensure

    messaging_demo_ensure(now=now, report=report)


def _campaigns_demo(now: dt.datetime, report: DemoReport) -> None:
    from campaigns.demo import campaigns_demo_ensure

    campaigns_demo_ensure(now=now, report=report)


def _promo_demo(now: dt.datetime, report: DemoReport) -> str:
    # Imported here: the promo codes app builds on members, not the other way round.
    from promocodes.demo import promo_demo_ensure

    return promo_demo_ensure(now=now, report=report)
