"""Step 3 of the checkout with promo codes, on the real database: every refusal code,
validation as a dry run, the rewards, the automatic choice of a personal code, and the
guarded redeem."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from loyalty.actors import Actor
from members.errors import NoRewardApplies
from members.models import Channel, LedgerEntry, Member, PointsLot, Purchase
from members.services import checkout_evaluate, points_grant
from promocodes import codes, errors, selectors
from promocodes.models import CodeBatch, PromoCode, Redemption
from promocodes.services import promo_code_validate
from tests import factories
from tests.members.conftest import assert_ledger_holds
from tests.promocodes import checkout as promo_checkout

CODE_TABLE = f'"{PromoCode._meta.db_table}"'


@pytest.fixture
def actor(cashier) -> Actor:
    return Actor.for_user(cashier, Channel.CASHIER)


@pytest.fixture
def silver(tiers) -> Member:
    """A Silver member (5 % base discount, earns 2 %) with 500 points."""
    member = factories.MemberFactory(tier=tiers["Silver"])
    points_grant(member=member, amount=500, reason="test", actor=Actor.for_task("test"))
    member.refresh_from_db()
    return member


def batch(**kwargs) -> CodeBatch:
    return factories.CodeBatchFactory(**kwargs)


def code_of(batch_=None, **kwargs) -> PromoCode:
    return factories.PromoCodeFactory(batch=batch_ or batch(), **kwargs)


def commit(member, total, *, points=None, **kwargs):
    """As tests.promocodes.checkout.commit, spending every point allowed by default."""
    return promo_checkout.commit(member, total, points=points, **kwargs)


def world() -> dict:
    """Everything a refused code must leave alone."""
    return {
        "codes": list(PromoCode.objects.order_by("pk").values_list("pk", "uses", "status")),
        "redemptions": list(Redemption.objects.values_list("pk", flat=True)),
        "purchases": list(Purchase.objects.values_list("pk", flat=True)),
        "balances": dict(Member.objects.values_list("pk", "points_balance")),
        "tiers": dict(Member.objects.values_list("pk", "tier_id")),
        "ledger": list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount")),
        "lots": list(PointsLot.objects.order_by("pk").values_list("pk", "remaining")),
    }


def mistyped(code: str, position: int = 3) -> str:
    """The code with one character replaced by another of the alphabet."""
    wrong = next(c for c in codes.CODE_CHARS if c != code[position])
    return code[:position] + wrong + code[position + 1 :]


# --- Every refusal --------------------------------------------------------------------------


def _not_found(member):
    # a well-formed code with a valid check character that no batch holds
    return factories.promo_code_text(batch()), "3000.00"


def _not_yet_valid(member):
    now = timezone.now()
    b = batch(valid_from=now + dt.timedelta(days=1), valid_until=now + dt.timedelta(days=9))
    return code_of(b).code, "3000.00"


def _expired_window(member):
    now = timezone.now()
    b = batch(valid_from=now - dt.timedelta(days=9), valid_until=now - dt.timedelta(seconds=1))
    return code_of(b).code, "3000.00"


def _expired_marked(member):
    # marked expired by the expiry task, though its batch's window is open now
    return code_of(status=PromoCode.Status.EXPIRED).code, "3000.00"


def _used_up(member):
    return code_of(uses=1).code, "3000.00"


def _used_up_multi(member):
    return code_of(batch(uses_per_code=3), uses=3).code, "3000.00"


def _not_yours(member):
    b = batch(is_personal=True)
    other = factories.MemberFactory(tier=member.tier)
    return code_of(b, member=other).code, "3000.00"


def _min_receipt(member):
    return code_of(batch(min_receipt=Decimal("3000.01"))).code, "3000.00"


def _inactive(member):
    return code_of(batch(is_active=False)).code, "3000.00"


def _bad_check_char(member):
    return mistyped(code_of().code), "3000.00"


def _code_required(member):
    return " - ", "3000.00"


def _foreign_characters(member):
    return "ABCD-0OI1", "3000.00"


REFUSALS = [
    ("not_found", 404, _not_found),
    ("not_yet_valid", 400, _not_yet_valid),
    ("expired", 400, _expired_window),
    ("expired", 400, _expired_marked),
    ("used_up", 409, _used_up),
    ("used_up", 409, _used_up_multi),
    ("not_yours", 403, _not_yours),
    ("min_receipt", 400, _min_receipt),
    ("inactive", 400, _inactive),
    ("bad_check_char", 400, _bad_check_char),
    ("code_required", 400, _code_required),
    ("not_found", 404, _foreign_characters),
]
REFUSAL_IDS = [f"{refusal}-{make.__name__.strip('_')}" for refusal, _s, make in REFUSALS]


def test_every_refusal_code_is_covered():
    assert {refusal for refusal, _s, _m in REFUSALS} == set(errors.REFUSALS)


@pytest.mark.parametrize(("refusal", "status", "make"), REFUSALS, ids=REFUSAL_IDS)
def test_commit_with_a_refused_code_changes_nothing(refusal, status, make, silver, store, actor):
    # given a code that cannot be used, and the state of everything
    text, total = make(silver)
    before = world()

    # when the cashier commits the receipt with it, spending every point allowed
    with pytest.raises(errors.CodeRefused) as caught:
        commit(silver, total, store=store, actor=actor, code=text)

    # then the refusal says why, and no purchase, use, redemption or point moved
    assert caught.value.code == refusal
    assert caught.value.status == status
    assert world() == before


@pytest.mark.parametrize(("refusal", "status", "make"), REFUSALS, ids=REFUSAL_IDS)
def test_evaluate_with_a_refused_code_raises_the_refusal(refusal, status, make, silver, store):
    # given
    text, total = make(silver)
    before = world()

    # when
    with pytest.raises(errors.CodeRefused) as caught:
        checkout_evaluate(member=silver, store=store, total=total, code=text)

    # then
    assert caught.value.code == refusal
    assert world() == before


@pytest.mark.parametrize(("refusal", "status", "make"), REFUSALS, ids=REFUSAL_IDS)
def test_validate_returns_the_refusal_and_changes_nothing(refusal, status, make, silver, store):
    # given
    text, total = make(silver)
    before = world()

    # when
    validation = promo_code_validate(text=text, member=silver, total=total, store=store)

    # then the refusal comes back, not raised
    assert not validation.is_valid
    assert validation.refusal.code == refusal
    assert validation.code is None
    assert validation.discount == Decimal(0)
    assert validation.points == 0
    assert validation.reward is None
    assert world() == before


def test_validate_without_any_text_asks_for_the_code(silver, store):
    # given a member with a usable personal code (which must not be validated instead)
    personal = code_of(batch(is_personal=True), member=silver)
    before = world()

    # when nothing is typed
    validation = promo_code_validate(text="", member=silver, total="3000.00", store=store)

    # then
    assert validation.refusal.code == "code_required"
    assert validation.code is None
    assert PromoCode.objects.get(pk=personal.pk).uses == 0
    assert world() == before


def test_min_receipt_message_names_the_minimum(silver, store):
    # given
    text, total = _min_receipt(silver)

    # when (in the program's default language)
    with translation.override("ru"):
        validation = promo_code_validate(text=text, member=silver, total=total, store=store)

    # then
    assert validation.refusal.code == "min_receipt"
    assert validation.refusal.params == {"min_receipt": "3000.01"}
    assert str(validation.refusal.message) == ("Этому промокоду нужен чек не меньше 3\xa0000,01 ₽.")


def test_foreign_characters_are_named_in_the_refusal(silver, store):
    # when
    validation = promo_code_validate(text="ABCD-0OI1", member=silver, total="100", store=store)

    # then
    message = str(validation.refusal.message)
    assert validation.refusal.code == "not_found"
    for char in ("«0»", "«1»", "«I»", "«O»"):
        assert char in message


def test_validate_of_a_usable_code_reports_the_discount_and_changes_nothing(silver, store):
    # given the worked example's 10 % code
    code = code_of()
    before = world()

    # when
    validation = promo_code_validate(
        text=codes.display(code.code).lower(), member=silver, total="3000.00", store=store
    )

    # then D2 = round((3,000 − 150) × 10 %) = 285.00, and nothing was used
    assert validation.is_valid
    assert validation.refusal is None
    assert validation.code == code
    assert validation.discount == Decimal("285.00")
    assert validation.points == 0
    assert validation.reward.reference == code.code
    assert world() == before


# --- Typed input -----------------------------------------------------------------------------


def test_cyrillic_layout_input_redeems_the_latin_code(silver, store, actor):
    # given a code made of letters that have Cyrillic twins
    payload = "BEKMHPCTXY"
    code = code_of(code=payload + codes.check_char(payload))
    to_cyrillic = str.maketrans("ABEKMHPCTXY", "АВЕКМНРСТХУ")
    typed = codes.display(code.code).translate(to_cyrillic).lower()
    assert typed.startswith("векм-нрст-ху")

    # when the cashier types it with the Russian layout
    result = commit(silver, "3000.00", store=store, actor=actor, code=typed)

    # then the Latin code is used
    assert result.breakdown.code_discount == Decimal("285.00")
    assert result.purchase.reward_reference == code.code
    assert PromoCode.objects.get(pk=code.pk).uses == 1
    assert Redemption.objects.get().code_id == code.pk


def test_a_one_character_typo_is_caught_without_asking_for_the_code(silver, store):
    # given a code and no imported batch
    code = code_of()
    typo = mistyped(code.code, position=5)
    before = world()

    # when the typo is evaluated
    with CaptureQueriesContext(connection) as queries, pytest.raises(errors.CodeBadCheckChar):
        checkout_evaluate(member=silver, store=store, total="3000.00", code=typo)

    # then no query touched the code table
    assert [q["sql"] for q in queries if CODE_TABLE in q["sql"]] == []
    assert world() == before


def test_with_an_imported_batch_a_typo_is_looked_up_among_imported_codes_only(silver, store):
    # given a generated code and an imported batch with a code of its own
    code = code_of()
    imported = batch(source=CodeBatch.Source.IMPORTED)
    factories.PromoCodeFactory(batch=imported, code="SALE2345")
    typo = mistyped(code.code, position=5)

    # when the typo is evaluated
    with CaptureQueriesContext(connection) as queries, pytest.raises(errors.CodeBadCheckChar):
        checkout_evaluate(member=silver, store=store, total="3000.00", code=typo)

    # then one lookup asked for the typed text among imported codes, and it was refused
    # as a typo (not as an unknown code)
    lookups = [q["sql"] for q in queries if CODE_TABLE in q["sql"]]
    assert len(lookups) == 1
    assert typo in lookups[0]
    assert "imported" in lookups[0]


def test_a_typo_of_a_code_is_never_taken_for_an_imported_code_of_another_batch(silver, store):
    # given a generated code whose typo is not among the imported codes
    code = code_of()
    batch(source=CodeBatch.Source.IMPORTED)
    before = world()

    # when
    validation = promo_code_validate(
        text=mistyped(code.code), member=silver, total="3000.00", store=store
    )

    # then
    assert validation.refusal.code == "bad_check_char"
    assert world() == before


# --- Rewards ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cap", "discount"),
    [
        (None, Decimal("285.00")),  # (3,000 − 150) × 10 %
        (Decimal("200"), Decimal("200.00")),
        (Decimal("285"), Decimal("285.00")),
        (Decimal("1000"), Decimal("285.00")),
    ],
)
def test_percent_reward_with_a_cap(cap, discount, silver, store, actor):
    # given a 10 % code capped at `cap`
    code = code_of(batch(reward_cap=cap))

    # when a 3,000 ₽ receipt uses it without points
    result = commit(silver, "3000.00", store=store, actor=actor, points=0, code=code.code)

    # then D2 is 10 % of T − D1, at most the cap
    b = result.breakdown
    assert b.base_discount == Decimal("150.00")
    assert b.code_discount == discount
    assert b.paid == Decimal("2850.00") - discount
    assert b.tier_spend == Decimal("2850.00") - discount
    redemption = Redemption.objects.get()
    assert redemption.discount == discount
    assert redemption.points == 0
    assert redemption.points_lot is None
    assert result.purchase.code_discount == discount
    assert result.purchase.reward_source == "code"


@pytest.mark.parametrize(
    ("fixed", "total", "discount", "paid"),
    [
        (Decimal("300"), "3000.00", Decimal("300.00"), Decimal("2550.00")),
        (Decimal("2850"), "3000.00", Decimal("2850.00"), Decimal("0.00")),
        (Decimal("5000"), "3000.00", Decimal("2850.00"), Decimal("0.00")),  # min(F, T − D1)
        (Decimal("99.99"), "100.00", Decimal("95.00"), Decimal("0.00")),
    ],
)
def test_fixed_reward_is_at_most_what_is_left_after_the_base_discount(
    fixed, total, discount, paid, silver, store, actor
):
    # given a fixed-amount code
    code = code_of(batch(reward_kind="fixed", reward_value=fixed))

    # when
    result = commit(silver, total, store=store, actor=actor, points=0, code=code.code)

    # then D2 = min(F, T − D1)
    assert result.breakdown.code_discount == discount
    assert result.breakdown.paid == paid
    assert Redemption.objects.get().discount == discount


def test_points_reward_is_granted_as_a_lot_after_the_purchase(member, store, actor):
    # given a Base member (earns 1 %) without points and a 150-point code
    code = code_of(batch(reward_kind="points", reward_value=Decimal("150")))

    # when a 1,000 ₽ receipt uses it
    result = commit(member, "1000.00", store=store, actor=actor, code=code.code)

    # then no money comes off, the bonus points cannot pay this receipt, and they are
    # granted after the purchase as a lot of their own
    b = result.breakdown
    assert b.code_discount == Decimal("0.00")
    assert b.reward_points == 150
    assert b.points_max == 0
    assert b.paid == Decimal("1000.00")
    assert b.points_earned == 10
    redemption = Redemption.objects.get()
    assert redemption.points == 150
    assert redemption.discount == Decimal("0.00")
    lot = redemption.points_lot
    assert (lot.amount, lot.remaining, lot.purchase_id) == (150, 150, None)
    grant = LedgerEntry.objects.get(lot=lot)
    assert grant.kind == LedgerEntry.Kind.GRANT
    assert grant.amount == 150
    assert grant.reason == f"Промокод {codes.display(code.code)}"  # the program's language
    assert grant.created_at == result.purchase.created_at
    earn = LedgerEntry.objects.get(kind=LedgerEntry.Kind.EARN)
    assert earn.amount == 10
    assert assert_ledger_holds(member) == 160
    step = next(s for s in b.steps if s.rule == "code")
    assert step.amount == 150


def test_gift_reward_takes_no_money_off_and_names_the_gift(silver, store, actor):
    # given a gift code
    gift = batch(reward_kind="gift", reward_value=Decimal(0), gift_name="Кофе в подарок")
    code = code_of(gift)

    # when
    result = commit(silver, "3000.00", store=store, actor=actor, points=0, code=code.code)

    # then D2 is zero, the code is used, and the step names the gift
    b = result.breakdown
    assert b.code_discount == Decimal("0.00")
    assert b.reward_points == 0
    assert b.paid == Decimal("2850.00")
    step = next(s for s in b.steps if s.rule == "code")
    assert step.label == f"{codes.display(code.code)}: Кофе в подарок"
    assert step.amount == Decimal("0.00")
    assert step.detail == code.code
    redemption = Redemption.objects.get()
    assert (redemption.discount, redemption.points) == (Decimal("0.00"), 0)
    assert PromoCode.objects.get(pk=code.pk).uses == 1
    stored = next(s for s in result.purchase.steps if s["rule"] == "code")
    assert "Кофе в подарок" in stored["label"]


def test_min_receipt_compares_with_the_total_before_discounts(silver, store, actor):
    # given a code for receipts of 3,000 ₽ or more
    code = code_of(batch(min_receipt=Decimal("3000")))

    # when a receipt of exactly 3,000 ₽ (2,850 after the Silver discount) uses it
    result = commit(silver, "3000.00", store=store, actor=actor, points=0, code=code.code)

    # then it applies
    assert result.breakdown.code_discount == Decimal("285.00")
    assert PromoCode.objects.get(pk=code.pk).uses == 1


def test_a_multi_use_code_is_used_up_after_its_last_use(silver, store, actor):
    # given a code with three uses
    code = code_of(batch(uses_per_code=3))
    assert code.max_uses == 3

    # when three receipts use it
    for n in range(3):
        commit(silver, "1000.00", store=store, actor=actor, points=0, receipt=f"R-{n}",
               code=code.code)  # fmt: skip
    before = world()

    # then the fourth is refused and changes nothing
    with pytest.raises(errors.CodeUsedUp):
        commit(silver, "1000.00", store=store, actor=actor, receipt="R-4", code=code.code)
    assert PromoCode.objects.get(pk=code.pk).uses == 3
    assert Redemption.objects.filter(code=code).count() == 3
    assert world() == before


def test_a_replayed_commit_uses_the_code_once(silver, store, actor):
    # given a committed receipt with a code
    code = code_of()
    first = commit(silver, "3000.00", store=store, actor=actor, code=code.code)

    # when the same receipt is sent again
    again = commit(silver, "3000.00", store=store, actor=actor, code=code.code)

    # then it is replayed, not redeemed twice
    assert again.replayed
    assert again.purchase == first.purchase
    assert PromoCode.objects.get(pk=code.pk).uses == 1
    assert Redemption.objects.count() == 1


# --- Personal codes: the automatic choice and the cashier's pick -------------------------------


@pytest.fixture
def personal_codes(silver):
    """Silver's personal codes: 10 %, 200 ₽ off, 250 points, and 500 ₽ off from 5,000 ₽."""
    made = {}
    for name, kwargs in {
        "percent": {"reward_kind": "percent", "reward_value": Decimal("10")},
        "fixed": {"reward_kind": "fixed", "reward_value": Decimal("200")},
        "points": {"reward_kind": "points", "reward_value": Decimal("250")},
        "big": {
            "reward_kind": "fixed",
            "reward_value": Decimal("500"),
            "min_receipt": Decimal("5000"),
        },
    }.items():
        made[name] = code_of(batch(is_personal=True, **kwargs), member=silver)
    return made


@pytest.mark.parametrize(
    ("total", "best", "discount", "points"),
    [
        ("3000.00", "percent", Decimal("285.00"), 0),  # 285 > 250 points > 200
        ("2000.00", "points", Decimal("0.00"), 250),  # 190 < 200 < 250 points
        ("1000.00", "points", Decimal("0.00"), 250),  # 95 < 200 < 250 points
        ("6000.00", "percent", Decimal("570.00"), 0),  # 570 > 500 > 250 > 200
    ],
)
def test_the_personal_code_worth_most_applies_when_nothing_is_typed(
    total, best, discount, points, silver, personal_codes, store, actor
):
    # when a receipt is committed without a typed code
    result = commit(silver, total, store=store, actor=actor, points=0)

    # then the code worth most to the member is used, and only it
    chosen = personal_codes[best]
    assert result.breakdown.reward.reference == chosen.code
    assert result.breakdown.code_discount == discount
    assert result.breakdown.reward_points == points
    assert dict(PromoCode.objects.values_list("pk", "uses")) == {
        c.pk: int(c.pk == chosen.pk) for c in personal_codes.values()
    }
    assert Redemption.objects.get().code_id == chosen.pk


def test_of_two_personal_codes_worth_the_same_the_one_ending_sooner_applies(silver, store, actor):
    # given two 10 % personal codes, one ending in 30 days and one in 3
    now = timezone.now()
    later = code_of(batch(is_personal=True, valid_until=now + dt.timedelta(days=30)), member=silver)
    sooner = code_of(batch(is_personal=True, valid_until=now + dt.timedelta(days=3)), member=silver)

    # when
    result = commit(silver, "3000.00", store=store, actor=actor, points=0)

    # then the one that would be lost first is used
    assert result.purchase.reward_reference == sooner.code
    assert PromoCode.objects.get(pk=later.pk).uses == 0


def test_evaluate_offers_the_usable_personal_codes(silver, personal_codes, store):
    # given also a used, an expired-window and another member's personal code
    code_of(batch(is_personal=True), member=silver, uses=1)
    now = timezone.now()
    code_of(
        batch(
            is_personal=True,
            valid_from=now - dt.timedelta(days=5),
            valid_until=now - dt.timedelta(days=1),
        ),
        member=silver,
    )
    code_of(batch(is_personal=True), member=factories.MemberFactory(tier=silver.tier))
    before = world()

    # when
    result = checkout_evaluate(member=silver, store=store, total="3000.00")

    # then the four usable codes are the options (the 5,000 ₽ one too: the cashier sees
    # it), the percent code is chosen, and nothing changed
    assert sorted(o.reference for o in result.options) == sorted(
        c.code for c in personal_codes.values()
    )
    assert result.chosen.reward.reference == personal_codes["percent"].code
    assert world() == before


def test_choice_picks_a_personal_code_other_than_the_best(silver, personal_codes, store, actor):
    # when the cashier picks the 200 ₽ code on a 3,000 ₽ receipt
    fixed = personal_codes["fixed"]
    result = commit(silver, "3000.00", store=store, actor=actor, points=0, choice=fixed.code)

    # then it applies instead of the 10 % one
    assert result.breakdown.code_discount == Decimal("200.00")
    assert result.purchase.reward_reference == fixed.code
    assert PromoCode.objects.get(pk=fixed.pk).uses == 1
    assert PromoCode.objects.get(pk=personal_codes["percent"].pk).uses == 0


@pytest.mark.parametrize("which", ["big", "someone_else", "unknown"])
def test_choice_of_a_code_that_does_not_apply_is_refused(
    which, silver, personal_codes, store, actor
):
    # given a pick that cannot apply: below its minimum, another member's, or unknown
    choice = {
        "big": personal_codes["big"].code,
        "someone_else": code_of(
            batch(is_personal=True), member=factories.MemberFactory(tier=silver.tier)
        ).code,
        "unknown": "NOSUCHCODE",
    }[which]
    before = world()

    # when
    with pytest.raises(NoRewardApplies):
        commit(silver, "3000.00", store=store, actor=actor, choice=choice)

    # then
    assert world() == before


def test_a_typed_code_wins_over_the_personal_codes(silver, personal_codes, store, actor):
    # given a public 5 % code, worth less than the personal 10 % one
    public = code_of(batch(reward_value=Decimal("5")))

    # when it is typed
    result = commit(silver, "3000.00", store=store, actor=actor, points=0, code=public.code)

    # then the typed code applies
    assert result.breakdown.code_discount == Decimal("142.50")
    assert PromoCode.objects.get(pk=public.pk).uses == 1
    assert sum(PromoCode.objects.filter(member=silver).values_list("uses", flat=True)) == 0


def test_the_owner_can_type_their_personal_code(silver, store, actor):
    # given
    code = code_of(batch(is_personal=True), member=silver)

    # when
    result = commit(silver, "3000.00", store=store, actor=actor, code=code.code.lower())

    # then
    assert result.breakdown.code_discount == Decimal("285.00")
    assert PromoCode.objects.get(pk=code.pk).uses == 1


# --- Deadlines and the guarded redeem ------------------------------------------------------


def test_a_code_validated_before_its_deadline_is_refused_after_it(silver, store, actor):
    # given a code valid until noon
    noon = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    code = code_of(batch(valid_until=noon))

    # when it is validated a minute before noon
    with time_machine.travel(noon - dt.timedelta(minutes=1), tick=False):
        validation = promo_code_validate(
            text=code.code, member=silver, total="3000.00", store=store
        )
    assert validation.is_valid

    # and the receipt is committed at noon
    before = world()
    with (
        time_machine.travel(noon, tick=False),
        pytest.raises(errors.CodeExpired),
    ):
        commit(silver, "3000.00", store=store, actor=actor, code=code.code)

    # then it is refused and nothing changed
    assert world() == before


def test_a_code_valid_from_noon_is_used_at_noon(silver, store, actor):
    # given
    noon = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    code = code_of(batch(valid_from=noon, valid_until=noon + dt.timedelta(days=1)))

    # when / then: a second early is refused, noon itself is in the window
    with (
        time_machine.travel(noon - dt.timedelta(seconds=1), tick=False),
        pytest.raises(errors.CodeNotYetValid),
    ):
        commit(silver, "3000.00", store=store, actor=actor, code=code.code)
    with time_machine.travel(noon, tick=False):
        commit(silver, "3000.00", store=store, actor=actor, code=code.code)
    assert PromoCode.objects.get(pk=code.pk).uses == 1


def test_the_guarded_update_refuses_a_code_that_was_used_meanwhile(
    silver, store, actor, monkeypatch
):
    # given a used code that the checks before the claim do not see as used (as when a
    # concurrent receipt took the last use between evaluation and claim)
    code = code_of(uses=1)
    monkeypatch.setattr(selectors, "code_refusal", lambda *args, **kwargs: None)
    before = world()

    # when the receipt is committed
    with pytest.raises(errors.CodeUsedUp):
        commit(silver, "3000.00", store=store, actor=actor, code=code.code)

    # then the one guarded UPDATE refused it and the whole checkout rolled back
    assert world() == before
    assert PromoCode.objects.get(pk=code.pk).uses == 1


def test_validate_needs_no_store(silver):
    # given (the partner API validates a code without naming a store)
    code = code_of()

    # when
    validation = promo_code_validate(text=code.code, member=silver, total="3000.00")

    # then
    assert validation.is_valid
    assert validation.discount == Decimal("285.00")


def test_choice_none_keeps_the_personal_codes(silver, personal_codes, store, actor):
    # when the cashier chooses no code
    result = commit(silver, "3000.00", store=store, actor=actor, points=0, choice="none")

    # then no code applies and none is used
    assert result.breakdown.code_discount == Decimal("0.00")
    assert result.purchase.reward_reference == ""
    assert not Redemption.objects.exists()
    assert all(PromoCode.objects.get(pk=c.pk).uses == 0 for c in personal_codes.values())


def test_a_gift_code_never_applies_by_itself(silver, store, actor):
    # given the member's only personal code is a gift (worth no money on the receipt)
    gift = code_of(
        batch(is_personal=True, reward_kind="gift", reward_value=Decimal(0), gift_name="Зонт"),
        member=silver,
    )

    # when a receipt is committed without a code or a pick
    result = commit(silver, "3000.00", store=store, actor=actor, points=0)

    # then the gift is offered but not used; picked, it applies
    assert [o.reference for o in result.options] == [gift.code]
    assert result.chosen is None
    assert PromoCode.objects.get(pk=gift.pk).uses == 0
    picked = commit(silver, "500.00", store=store, actor=actor, receipt="R-2", choice=gift.code)
    assert picked.purchase.reward_reference == gift.code
    assert PromoCode.objects.get(pk=gift.pk).uses == 1
