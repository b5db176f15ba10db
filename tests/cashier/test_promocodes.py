"""Promo codes at the cashier desk: the code field with its live check, the member's
personal codes to pick from, and the guessing guard on typed codes."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members.models import Purchase
from members.services.points import ledger_sum
from promocodes import codes
from promocodes.models import PromoCode, Redemption
from tests import factories
from tests.cashier.desk import confirm, evaluate, receipt, rows_of
from tests.cashier.html import amounts

pytestmark = pytest.mark.django_db

# Latin code characters a Russian keyboard types with the same-looking Cyrillic letter.
_LOOKALIKES = str.maketrans("ABEKMHPCTXY", "авекмнрстху")


def lookalike_code() -> str:
    """A canonical code of letters that have a Cyrillic twin and digits only."""
    rng = random.Random(7)
    while True:
        body = "".join(rng.choice("ABEKMHPCTXY23456789") for _ in range(codes.DEFAULT_LENGTH))
        check = codes.check_char(body)
        if check in "ABEKMHPCTXY23456789":
            return body + check


def as_typed_on_a_russian_keyboard(code: str) -> str:
    """ "ABEK2345…" → "авек-2 345…": lower-case Cyrillic, dashes and a space."""
    cyrillic = codes.display(code).translate(_LOOKALIKES)
    return cyrillic[:6] + " " + cyrillic[6:]


@pytest.fixture(autouse=True)
def _fresh_guess_counters():
    """The guessing guard counts in the cache, which outlives a test's transaction."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ten_percent_code():
    return factories.PromoCodeFactory(batch=factories.CodeBatchFactory(name="Зима −10%"))


@pytest.fixture
def personal_batch():
    return factories.CodeBatchFactory(
        name="Персональные 300 ₽", is_personal=True, reward_kind="fixed", reward_value="300"
    )


def code_check(client, member, data):
    return client.post(
        reverse("cashier:code_check", args=[member.card_number]),
        data,
        headers={"HX-Request": "true"},
    )


def state(code) -> tuple[int, int]:
    """(uses, redemptions) of a code, from the database."""
    code.refresh_from_db()
    return code.uses, Redemption.objects.filter(code=code).count()


def assert_nothing_recorded(member, balance=500):
    member.refresh_from_db()
    assert Purchase.objects.count() == 0
    assert Redemption.objects.count() == 0
    assert member.points_balance == balance
    assert ledger_sum(member) == balance


# --- The worked example ---------------------------------------------------------------


def test_worked_example_with_the_10_percent_code_through_the_desk(
    desk, silver_member, store, ten_percent_code
):
    # given the cashier typed the 3,000 ₽ receipt, the code in lower case with dashes,
    # and asked for the most points
    member = silver_member
    typed = codes.display(ten_percent_code.code).lower()
    preview = evaluate(desk, member, {**receipt(store, code=typed), "spend_max": "1"})

    # then D1 150.00, D2 285.00, S 500, P 2,065.00, E 41, tier spend +2,565.00
    assert preview.status_code == 200
    assert rows_of(preview) == {
        "total": Decimal("3000.00"),
        "base-tier": Decimal("150.00"),
        "reward": Decimal("285.00"),
        "points-max": 500,
        "points-spent": 500,
        "paid": Decimal("2065.00"),
        "points-earned": 41,
        "tier-spend": Decimal("2565.00"),
    }
    label = f"{codes.display(ten_percent_code.code)}: Зима −10%"
    html = preview.content.decode()
    assert label in html
    assert 'data-state="valid"' in html  # the code check next to the field agrees
    assert_nothing_recorded(member)
    assert state(ten_percent_code) == (0, 0)

    # when the cashier confirms
    response = confirm(desk, member, receipt(store, code=typed, points_to_spend="500"))

    # then one purchase with exactly those figures, and the code used once for it
    purchase = Purchase.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cashier:purchase", args=[purchase.pk])
    assert (
        purchase.base_discount,
        purchase.code_discount,
        purchase.points_spent,
        purchase.paid,
        purchase.points_earned,
        purchase.tier_spend,
        purchase.reward_source,
        purchase.reward_reference,
    ) == (
        Decimal("150.00"),
        Decimal("285.00"),
        500,
        Decimal("2065.00"),
        41,
        Decimal("2565.00"),
        "code",
        ten_percent_code.code,
    )
    assert state(ten_percent_code) == (1, 1)
    assert Redemption.objects.get().purchase == purchase
    member.refresh_from_db()
    assert member.points_balance == ledger_sum(member) == 41

    # and the printable receipt names the code on its discount line
    summary = desk.get(response["Location"])
    assert rows_of(summary) == rows_of(preview)
    summary_html = summary.content.decode()
    assert amounts(summary_html) == {
        "total": "3,000.00&nbsp;₽",
        "base-tier": "−150.00&nbsp;₽",
        "reward": "−285.00&nbsp;₽",
        "points-max": "500",
        "points-spent": "−500",
        "paid": "2,065.00&nbsp;₽",
        "points-earned": "+41",
        "tier-spend": "+2,565.00&nbsp;₽",
    }
    assert f'<tr data-row="reward">\n      <th scope="row">{label}</th>' in summary_html


# --- Live check of the typed code -------------------------------------------------------


def test_live_check_says_what_a_valid_code_gives_on_this_total(
    desk, silver_member, store, ten_percent_code
):
    # when
    response = code_check(desk, silver_member, receipt(store, code=ten_percent_code.code))

    # then 10% of 3,000 − 5%
    assert response.status_code == 200
    check = response.context["code_check"]
    assert (check.state, check.discount, check.errors) == ("valid", Decimal("285.00"), ())
    html = response.content.decode()
    assert 'data-state="valid"' in html
    assert f"✓ {codes.display(ten_percent_code.code)}: Зима −10%" in html
    assert '<strong data-testid="code-gives">−285.00&nbsp;₽</strong>' in html
    assert_nothing_recorded(silver_member)
    assert state(ten_percent_code) == (0, 0)


def test_live_check_reads_cyrillic_lower_case_input_as_the_latin_code(desk, silver_member, store):
    # given a code whose letters all have a Cyrillic twin
    code = factories.PromoCodeFactory(code=lookalike_code())
    typed = as_typed_on_a_russian_keyboard(code.code)
    assert typed.isascii() is False

    # when
    response = code_check(desk, silver_member, receipt(store, code=typed))

    # then
    check = response.context["code_check"]
    assert (check.state, check.reward.reference, check.discount) == (
        "valid",
        code.code,
        Decimal("285.00"),
    )


def test_live_check_shows_the_points_a_points_code_grants(desk, silver_member, store):
    # given
    batch = factories.CodeBatchFactory(reward_kind="points", reward_value="100")
    code = factories.PromoCodeFactory(batch=batch)

    # when
    response = code_check(desk, silver_member, receipt(store, code=code.code))

    # then
    assert response.context["code_check"].points == 100
    assert '<strong data-testid="code-gives">+100 points</strong>' in response.content.decode()


def test_a_points_code_adds_points_on_its_breakdown_line(desk, silver_member, store):
    # given
    batch = factories.CodeBatchFactory(name="Бонус 100", reward_kind="points", reward_value="100")
    code = factories.PromoCodeFactory(batch=batch)

    # when
    response = evaluate(desk, silver_member, receipt(store, code=code.code))

    # then no money off, 100 points granted after the purchase
    assert rows_of(response)["reward"] == 100
    assert rows_of(response)["paid"] == Decimal("2850.00")
    assert amounts(response.content.decode())["reward"] == "+100"


def _refused(kind: str, member) -> str:
    """A code text the service refuses for `kind`."""
    now = timezone.now()
    if kind == "not_found":
        return lookalike_code()  # well formed, its check character right, not stored
    if kind == "bad_check_char":
        text = factories.PromoCodeFactory().code
        return text[:-1] + ("A" if text[-1] != "A" else "B")
    if kind == "foreign_characters":
        return "ЖУК-2345"
    batch = {
        "expired": {
            "valid_from": now - dt.timedelta(days=30),
            "valid_until": now - dt.timedelta(days=1),
        },
        "not_yet_valid": {
            "valid_from": now + dt.timedelta(days=1),
            "valid_until": now + dt.timedelta(days=30),
        },
        "inactive": {"is_active": False},
        "min_receipt": {"min_receipt": Decimal("5000.00")},
        "not_yours": {"is_personal": True},
        "used_up": {},
    }[kind]
    code = factories.PromoCodeFactory(batch=factories.CodeBatchFactory(**batch))
    if kind == "used_up":
        PromoCode.objects.filter(pk=code.pk).update(uses=1)
    if kind == "not_yours":
        PromoCode.objects.filter(pk=code.pk).update(
            member=factories.MemberFactory(tier=member.tier)
        )
    return code.code


REFUSALS = [
    ("not_found", "There is no such promo code."),
    ("bad_check_char", "The promo code is mistyped: check it character by character."),
    (
        "foreign_characters",
        "Promo codes never contain «Ж». Codes use the letters A–Z without I and O, "
        "and the digits 2–9.",
    ),
    ("expired", "This promo code has expired."),
    ("not_yet_valid", "This promo code is not valid yet."),
    ("inactive", "This promo code has been switched off."),
    ("min_receipt", "This promo code needs a receipt of at least 5,000.00 ₽."),
    ("not_yours", "This promo code belongs to another member."),
    ("used_up", "This promo code has already been used."),
]


@pytest.mark.parametrize(("kind", "message"), REFUSALS)
def test_live_check_says_why_a_code_is_refused(desk, silver_member, store, kind, message):
    # given
    text = _refused(kind, silver_member)
    codes_before = list(PromoCode.objects.values_list("code", "uses"))

    # when
    response = code_check(desk, silver_member, receipt(store, code=text))

    # then
    assert response.status_code == 200
    check = response.context["code_check"]
    assert (check.state, check.errors) == ("refused", (message,))
    html = response.content.decode()
    assert 'data-state="refused"' in html
    assert f"<p>{message}</p>".replace("'", "&#x27;") in html
    assert list(PromoCode.objects.values_list("code", "uses")) == codes_before
    assert_nothing_recorded(silver_member)


def test_live_check_waits_for_the_total(desk, silver_member, store, ten_percent_code):
    # when the code comes before the total
    response = code_check(desk, silver_member, receipt(store, total="", code=ten_percent_code.code))

    # then it asks for the total and looks nothing up
    check = response.context["code_check"]
    assert (check.state, check.hint) == ("hint", "Type the receipt total to check the code.")


def test_live_check_of_an_empty_field_says_nothing(desk, silver_member, store):
    # when the cashier cleared the field
    response = code_check(desk, silver_member, receipt(store, code="  "))

    # then the earlier verdict is wiped
    assert response.context["code_check"].state == ""
    assert response.content.decode().startswith(
        '<div id="code-check" class="code-check" data-testid="code-check" data-state=""'
    )


def test_breakdown_refusing_a_code_shows_it_in_the_code_check(desk, silver_member, store):
    # given a used code
    text = _refused("used_up", silver_member)

    # when the breakdown is asked for with it
    response = evaluate(desk, silver_member, receipt(store, code=text))

    # then no breakdown, and the reason under the code field (swapped out of band)
    assert response.context["rows"] is None
    assert response.context["code_check"].errors == ("This promo code has already been used.",)
    html = response.content.decode()
    assert 'data-testid="code-check" data-state="refused"' in html
    assert 'hx-swap-oob="true"><div class="field-errors"><p>This promo code' in html
    assert 'id="errors-code"' not in html  # the check is the code field's only message
    assert_nothing_recorded(silver_member)


# --- Refused codes on confirm -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["used_up", "not_found", "expired", "min_receipt"])
def test_confirm_with_a_refused_code_is_a_form_error_and_records_nothing(
    desk, silver_member, store, kind
):
    # given
    text = _refused(kind, silver_member)
    message = dict(REFUSALS)[kind]
    codes_before = list(PromoCode.objects.values_list("code", "uses"))

    # when
    response = confirm(desk, silver_member, receipt(store, code=text, points_to_spend="500"))

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"code": [message]}
    assert response.context["code_check"].errors == (message,)
    assert 'data-state="refused"' in response.content.decode()
    assert list(PromoCode.objects.values_list("code", "uses")) == codes_before
    assert_nothing_recorded(silver_member)


# --- Personal codes ---------------------------------------------------------------------


def test_member_panel_lists_the_personal_codes_usable_now(
    desk, silver_member, store, personal_batch
):
    # given one usable personal code, one used, and one of another member
    mine = factories.PromoCodeFactory(batch=personal_batch, member=silver_member)
    used = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(is_personal=True), member=silver_member, uses=1
    )
    others = factories.PromoCodeFactory(
        batch=personal_batch, member=factories.MemberFactory(tier=silver_member.tier)
    )

    # when
    response = desk.get(reverse("cashier:member", args=[silver_member.card_number]))

    # then
    assert [p.code for p in response.context["personal_codes"]] == [mine]
    html = response.content.decode()
    assert f'<input type="radio" name="choice" value="{mine.code}">' in html
    assert f'<strong class="code-text">{codes.display(mine.code)}</strong>' in html
    assert "Персональные 300 ₽ ·" in html
    assert "−300.00&nbsp;₽" in html
    assert '<input type="radio" name="choice" value="" checked>' in html
    assert used.code not in html
    assert others.code not in html


def test_without_a_typed_code_the_best_personal_code_applies_and_is_named(
    desk, silver_member, store, personal_batch, cashier
):
    # given a 300 ₽ code and a 10% code (285 ₽ on this receipt)
    fixed = factories.PromoCodeFactory(batch=personal_batch, member=silver_member)
    percent = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(name="Персональные 10%", is_personal=True),
        member=silver_member,
    )

    # when the cashier neither types nor picks
    preview = evaluate(desk, silver_member, receipt(store))

    # then the one worth most applies and the breakdown names it
    assert rows_of(preview)["reward"] == Decimal("300.00")
    assert (
        f'<th scope="row">{codes.display(fixed.code)}: Персональные 300 ₽</th>'
        in preview.content.decode()
    )
    assert preview.context["code_check"].state == ""

    # when confirmed
    response = confirm(desk, silver_member, receipt(store, points_to_spend="0"))

    # then that code was used
    assert response.status_code == 302
    assert Purchase.objects.get().code_discount == Decimal("300.00")
    assert state(fixed) == (1, 1)
    assert state(percent) == (0, 0)


def test_the_cashier_picks_a_personal_code(desk, silver_member, store, personal_batch):
    # given
    fixed = factories.PromoCodeFactory(batch=personal_batch, member=silver_member)
    percent = factories.PromoCodeFactory(
        batch=factories.CodeBatchFactory(name="Персональные 10%", is_personal=True),
        member=silver_member,
    )
    picked = receipt(store, choice=percent.code, points_to_spend="500")

    # when
    preview = evaluate(desk, silver_member, picked)
    response = confirm(desk, silver_member, picked)

    # then the worked example's figures with the picked code
    assert rows_of(preview)["reward"] == Decimal("285.00")
    assert f"{codes.display(percent.code)}: Персональные 10%" in preview.content.decode()
    assert response.status_code == 302
    purchase = Purchase.objects.get()
    assert (purchase.code_discount, purchase.paid, purchase.reward_reference) == (
        Decimal("285.00"),
        Decimal("2065.00"),
        percent.code,
    )
    assert state(percent) == (1, 1)
    assert state(fixed) == (0, 0)


def test_a_picked_code_used_up_meanwhile_is_an_error_by_the_list(
    desk, silver_member, store, personal_batch
):
    # given the page listed the code, then it was used at another till
    code = factories.PromoCodeFactory(batch=personal_batch, member=silver_member)
    PromoCode.objects.filter(pk=code.pk).update(uses=1)

    # when
    response = confirm(desk, silver_member, receipt(store, choice=code.code))

    # then
    assert response.context["form"].errors == {
        "choice": ["The chosen code or offer is not available for this receipt."]
    }
    assert state(code) == (1, 0)
    assert_nothing_recorded(silver_member)


# --- Guessing guard ---------------------------------------------------------------------


def test_too_many_wrong_codes_block_the_desk_user(
    desk, silver_member, store, ten_percent_code, settings, cashier
):
    # given a guess limit of 2 and two unknown codes tried
    settings.PROMO_CODE_GUESS_LIMIT = 2
    for kind in ("not_found", "bad_check_char"):
        code_check(desk, silver_member, receipt(store, code=_refused(kind, silver_member)))
    message = "Too many wrong promo codes. Wait a few minutes and try again."

    # when even a real code is tried now
    check = code_check(desk, silver_member, receipt(store, code=ten_percent_code.code))
    confirmed = confirm(desk, silver_member, receipt(store, code=ten_percent_code.code))

    # then both are refused and nothing is recorded
    assert check.context["code_check"].errors == (message,)
    assert confirmed.context["form"].errors == {"code": [message]}
    assert state(ten_percent_code) == (0, 0)
    assert_nothing_recorded(silver_member)

    # and without a typed code the desk still works (personal codes need no guessing)
    assert confirm(desk, silver_member, receipt(store)).status_code == 302


def test_one_wrong_code_counts_once_however_often_it_is_looked_up(
    desk, silver_member, store, ten_percent_code, settings
):
    # given a guess limit of 2
    settings.PROMO_CODE_GUESS_LIMIT = 2
    wrong = _refused("not_found", silver_member)

    # when the same wrong code goes through the live check, the breakdown and confirm,
    # typed two ways
    code_check(desk, silver_member, receipt(store, code=wrong))
    evaluate(desk, silver_member, receipt(store, code=wrong.lower()))
    confirm(desk, silver_member, receipt(store, code=codes.display(wrong)))

    # then the user is not blocked: a real code still works
    check = code_check(desk, silver_member, receipt(store, code=ten_percent_code.code))
    assert check.context["code_check"].state == "valid"


def test_refusals_a_guesser_learns_nothing_from_do_not_count(
    desk, silver_member, store, ten_percent_code, settings
):
    # given a guess limit of 1 and an existing but used code tried three times
    settings.PROMO_CODE_GUESS_LIMIT = 1
    used = _refused("used_up", silver_member)
    for _ in range(3):
        code_check(desk, silver_member, receipt(store, code=used))

    # when
    check = code_check(desk, silver_member, receipt(store, code=ten_percent_code.code))

    # then
    assert check.context["code_check"].state == "valid"


# --- Permissions and cost ---------------------------------------------------------------


def test_live_check_needs_the_desk_permission(client, outsider, silver_member, store):
    # given
    data = receipt(store, code=_refused("not_found", silver_member))
    url = reverse("cashier:code_check", args=[silver_member.card_number])

    # when
    anonymous = client.post(url, data)
    client.force_login(outsider)
    refused = client.post(url, data)

    # then
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("cashier:login"))
    assert refused.status_code == 403


def test_live_check_is_post_only(desk, silver_member):
    # when
    response = desk.get(reverse("cashier:code_check", args=[silver_member.card_number]))

    # then
    assert response.status_code == 405


def _check_queries(client, member, data) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert code_check(client, member, data).status_code == 200
    return len(ctx.captured_queries)


def test_live_check_costs_a_fixed_number_of_queries(
    desk, silver_member, store, ten_percent_code, personal_batch
):
    # given
    data = receipt(store, code=ten_percent_code.code)
    few = _check_queries(desk, silver_member, data)
    for _ in range(20):
        factories.PromoCodeFactory(
            batch=factories.CodeBatchFactory(is_personal=True), member=silver_member
        )
    factories.PromoCodeFactory.create_batch(50, batch=personal_batch)

    # when
    many = _check_queries(desk, silver_member, data)
    refused = _check_queries(desk, silver_member, receipt(store, code=_refused("used_up", None)))

    # then
    assert many == few
    assert refused <= few
    assert few <= 13  # 12 + the open closed sales the base rate looks at
