"""Importing codes made elsewhere: normalised, all or nothing, only into imported batches;
imported codes redeem without a check character of ours."""

from decimal import Decimal

import pytest

from loyalty.actors import Actor
from members.models import Channel
from members.services import checkout_commit
from promocodes import codes, errors
from promocodes.models import CodeBatch, PromoCode, Redemption
from promocodes.services import codes_import, promo_code_validate
from tests import factories

ACTOR = Actor.for_task("test")


@pytest.fixture
def imported():
    return factories.CodeBatchFactory(source=CodeBatch.Source.IMPORTED, count=0, uses_per_code=2)


def state() -> tuple[list, dict]:
    return (
        list(PromoCode.objects.order_by("pk").values_list("batch_id", "code")),
        dict(CodeBatch.objects.values_list("pk", "count")),
    )


def test_import_adds_the_codes_normalised(imported):
    # given lines typed by people: case, dashes, spaces, Cyrillic look-alikes, a blank
    texts = ["sale-2345", "  ХАКМ 2345 ", "", "   ", "ZZZZ"]

    # when
    result = codes_import(batch=imported, texts=texts, actor=ACTOR)

    # then three canonical codes with the batch's uses, and the batch counts them
    assert result == type(result)(imported=3, duplicates=[], invalid=[])
    assert list(
        PromoCode.objects.filter(batch=imported)
        .order_by("code")
        .values_list("code", "max_uses", "uses", "status", "member_id")
    ) == [
        ("SALE2345", 2, 0, "active", None),
        ("XAKM2345", 2, 0, "active", None),
        ("ZZZZ", 2, 0, "active", None),
    ]
    imported.refresh_from_db()
    assert imported.count == 3


def test_an_invalid_line_refuses_the_whole_file(imported):
    # given a file with one line no code can be
    before = state()

    # when
    result = codes_import(
        batch=imported, texts=["SALE2345", "SALE_0001", "ZZZZ", "LETO!"], actor=ACTOR
    )

    # then nothing is imported and each bad line is reported with its number and why
    assert result.imported == 0
    assert [(line, text) for line, text, _why in result.invalid] == [
        (2, "SALE_0001"),
        (4, "LETO!"),
    ]
    assert "«_»" in result.invalid[0][2]
    assert "«!»" in result.invalid[1][2]
    assert state() == before


def test_a_line_too_long_refuses_the_whole_file(imported):
    # given
    before = state()

    # when
    result = codes_import(batch=imported, texts=["SALE2345", "A" * 41], actor=ACTOR)

    # then
    assert result.imported == 0
    assert [line for line, _t, _w in result.invalid] == [2]
    assert state() == before


def test_a_duplicate_in_the_file_refuses_the_whole_file(imported):
    # given the same code twice, written differently
    before = state()

    # when
    result = codes_import(batch=imported, texts=["SALE2345", "ZZZZ", "sale-2345"], actor=ACTOR)

    # then
    assert (result.imported, result.duplicates, result.invalid) == (0, ["SALE2345"], [])
    assert state() == before


def test_a_code_that_exists_already_refuses_the_whole_file(imported):
    # given a code of another batch
    existing = factories.PromoCodeFactory()
    before = state()

    # when the file repeats it
    result = codes_import(
        batch=imported, texts=["SALE2345", codes.display(existing.code).lower()], actor=ACTOR
    )

    # then
    assert (result.imported, result.duplicates, result.invalid) == (0, [existing.code], [])
    assert state() == before


def test_import_into_a_generated_batch_is_refused():
    # given
    generated = factories.CodeBatchFactory()
    before = state()

    # when / then
    with pytest.raises((errors.BatchNotImported, errors.BatchNotGenerated)):
        codes_import(batch=generated, texts=["SALE2345"], actor=ACTOR)
    assert state() == before


def test_an_imported_code_redeems_without_a_check_character(imported, member, store, cashier):
    # given an imported code that fails our check character
    codes_import(batch=imported, texts=["SALE2345"], actor=ACTOR)
    assert not codes.has_valid_check("SALE2345")

    # when it is validated, then typed at the desk
    validation = promo_code_validate(text="sale 2345", member=member, total="1000", store=store)
    result = checkout_commit(
        member=member,
        store=store,
        receipt_number="R-1",
        total="1000.00",
        actor=Actor.for_user(cashier, Channel.CASHIER),
        code="sale-2345",
    )

    # then it applies: 10 % of 1,000
    assert validation.is_valid
    assert validation.discount == Decimal("100.00")
    assert result.breakdown.code_discount == Decimal("100.00")
    code = PromoCode.objects.get(code="SALE2345")
    assert code.uses == 1
    assert Redemption.objects.get().code == code


def test_an_imported_code_with_a_valid_check_character_redeems_too(imported, member, store):
    # given an imported code that happens to pass our check
    text = "SALE234" + codes.check_char("SALE234")
    codes_import(batch=imported, texts=[text], actor=ACTOR)

    # when
    validation = promo_code_validate(text=text, member=member, total="1000", store=store)

    # then
    assert validation.is_valid
    assert validation.code.batch == imported


def test_an_imported_code_with_o_0_i_and_1_imports_and_redeems(imported, member, store):
    # given a code made elsewhere with characters our own codes never use
    result = codes_import(batch=imported, texts=["WELCOME10", "VIP-2O1I"], actor=ACTOR)
    assert result.imported == 2

    # when it is typed in lower case with the Cyrillic О of the Russian layout
    validation = promo_code_validate(text="welcОme-10", member=member, total="1000", store=store)

    # then it is found and applies: 10 % of 1,000
    assert validation.is_valid
    assert validation.code.code == "WELCOME10"
    assert validation.discount == Decimal("100.00")
    assert set(PromoCode.objects.filter(batch=imported).values_list("code", flat=True)) == {
        "WELCOME10",
        "VIP2O1I",
    }
