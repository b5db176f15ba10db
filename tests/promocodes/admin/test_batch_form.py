"""The batch form's rules, each with the message marketing reads."""

import datetime as dt

import pytest
from django.utils import translation

from promocodes.forms import FORMAT_FIELDS, CodeBatchForm, CodesImportForm, recipients_find
from promocodes.models import BatchRecipient, CodeBatch
from tests import factories


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def _data(**changes) -> dict:
    data = {
        "name": "Весна 10%",
        "source": "generated",
        "count": "1000",
        "alphabet": "safe",
        "prefix": "",
        "length": "10",
        "valid_from": "2026-12-01 00:00",
        "valid_until": "2026-12-31 23:59",
        "min_receipt": "0",
        "reward_kind": "percent",
        "reward_value": "10",
        "reward_cap": "",
        "gift_name": "",
        "uses_per_code": "1",
        "is_active": "on",
        "recipients": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _errors(**changes) -> dict[str, list[str]]:
    form = CodeBatchForm(data=_data(**changes))
    assert not form.is_valid()
    return {field: [str(e) for e in errors] for field, errors in form.errors.items()}


def test_a_plain_generated_batch_is_valid():
    # when
    form = CodeBatchForm(data=_data())

    # then
    assert form.errors == {}
    assert form.cleaned_data["count"] == 1000
    assert form.cleaned_data["prefix"] == ""


def test_window_end_must_be_after_its_start():
    assert _errors(valid_until="2026-12-01 00:00") == {
        "valid_until": ["The end of the validity window must be after its start."]
    }
    assert _errors(valid_until="2026-11-30 00:00") == {
        "valid_until": ["The end of the validity window must be after its start."]
    }


@pytest.mark.parametrize("value", ["0", "-5", "100.01", "150"])
def test_percent_is_above_0_and_at_most_100(value):
    assert _errors(reward_value=value) == {
        "reward_value": ["A percent discount is more than 0 and at most 100."]
    }


def test_percent_of_100_with_a_cap_is_valid():
    form = CodeBatchForm(data=_data(reward_value="100", reward_cap="500"))

    assert form.errors == {}


def test_cap_must_be_positive_and_only_on_percent():
    assert _errors(reward_cap="0") == {
        "reward_cap": ["The cap is an amount in roubles above 0, or empty for no cap."]
    }
    assert _errors(reward_kind="fixed", reward_value="300", reward_cap="100") == {
        "reward_cap": ["Only a percent discount has a cap; clear the cap."]
    }


@pytest.mark.parametrize("value", ["0", "-1"])
def test_fixed_amount_is_above_0(value):
    assert _errors(reward_kind="fixed", reward_value=value) == {
        "reward_value": ["Enter the amount the code takes off, more than 0 roubles."]
    }


@pytest.mark.parametrize("value", ["0", "10.5", "-3"])
def test_points_are_a_whole_number_above_0(value):
    assert _errors(reward_kind="points", reward_value=value) == {
        "reward_value": ["Bonus points are a whole number, more than 0."]
    }


def test_gift_needs_a_name_and_keeps_no_value():
    assert _errors(reward_kind="gift", reward_value="0", gift_name="  ") == {
        "gift_name": ["Name the gift the code gives."]
    }
    form = CodeBatchForm(data=_data(reward_kind="gift", reward_value="5", gift_name="Кофе"))
    assert form.errors == {}
    assert form.cleaned_data["reward_value"] == 0
    assert form.cleaned_data["gift_name"] == "Кофе"


def test_gift_name_of_another_reward_is_dropped():
    form = CodeBatchForm(data=_data(gift_name="Кофе"))

    assert form.errors == {}
    assert form.cleaned_data["gift_name"] == ""


@pytest.mark.parametrize(
    ("prefix", "chars"),
    [("SPRING", "'I'"), ("ZIMA0", "'0', 'I'"), ("ВЕСНА", "'А', 'В', 'Е', 'Н', 'С'")],
)
def test_prefix_only_from_the_code_alphabet(prefix, chars):
    assert _errors(prefix=prefix) == {
        "prefix": [
            "The prefix may use only the letters A–Z without I and O and the digits 2–9 "
            f"(no look-alikes); it has {chars}."
        ]
    }


def test_prefix_is_read_in_upper_case_without_spaces():
    form = CodeBatchForm(data=_data(prefix=" sprng "))

    assert form.errors == {}
    assert form.cleaned_data["prefix"] == "SPRNG"


def test_guessable_format_names_the_minimum_length():
    # given a million codes of 5 random characters (32**5 ≈ 3.4e7 possible codes)
    errors = _errors(count="1000000", length="5")

    # then
    assert errors == {
        "length": [
            "Too easy to guess: with 1,000,000 live codes of this format one random guess in 34 "
            "would hit a code (at most one in 100,000,000 is allowed). Use at least 10 random "
            "characters."
        ]
    }


def test_guess_rule_counts_the_alphabet_size():
    # given digits only (8 of them): 10**6 codes need 8**L >= 1e14, L >= 16
    errors = _errors(count="1000000", alphabet="digits", length="15")

    assert errors["length"][0].endswith("Use at least 16 random characters.")
    assert CodeBatchForm(data=_data(count="1000000", alphabet="digits", length="16")).is_valid()


def test_guess_rule_counts_the_live_codes_of_other_batches_of_the_format():
    # given 200 live codes of the format QQ + 6 random characters in another batch, and
    # a used-up one that no guess can use any more
    other = factories.CodeBatchFactory(prefix="QQ", length=6, count=201)
    factories.PromoCodeFactory.create_batch(200, batch=other)
    factories.PromoCodeFactory(batch=other, uses=1)

    # when a batch of 900 more codes of the same format is checked
    errors = _errors(count="900", prefix="QQ", length="6")

    # then the guess odds count the 1,100 live codes of the format, not the 900 alone
    assert "with 1,100 live codes of this format" in errors["length"][0]


def test_code_longer_than_typed_input_allows_is_refused():
    assert _errors(prefix="ABCDEFGHJKLM", length="21") == {
        "length": ["The prefix and the random characters together may have at most 32 characters."]
    }


@pytest.mark.parametrize(
    ("count", "message"),
    [("", "Enter how many codes to make."), ("0", "Make at least one code.")],
)
def test_generated_batch_needs_a_count(count, message):
    assert _errors(count=count) == {"count": [message]}


def test_count_has_an_upper_limit():
    assert _errors(count="10000001", length="16") == {
        "count": ["One batch makes at most 10,000,000 codes."]
    }


def test_minimum_receipt_and_uses_per_code():
    assert _errors(min_receipt="-1", uses_per_code="0") == {
        "min_receipt": ["The minimum receipt cannot be negative."],
        "uses_per_code": ["A code may be used at least once."],
    }


# --- personal and imported batches -----------------------------------------------------


@pytest.fixture
def members(tiers):
    return [
        factories.MemberFactory(phone="+79123456789"),
        factories.MemberFactory(phone="+79120000002"),
    ]


def test_personal_batch_reads_cards_and_phones_one_per_line(members):
    # given the first member by card and phone (twice), the second by phone typed loosely
    lines = f"{members[0].card_number}\n8 912 345-67-89\n\n+7 (912) 000-00-02\n"

    # when
    form = CodeBatchForm(data=_data(is_personal="on", count="", recipients=lines))

    # then one code per member
    assert form.errors == {}
    assert form.cleaned_data["count"] == 2
    batch = form.save()
    assert set(BatchRecipient.objects.filter(batch=batch).values_list("member", flat=True)) == {
        members[0].pk,
        members[1].pk,
    }
    assert batch.count == 2


def test_unknown_recipients_are_listed_and_nothing_is_saved(members):
    # given a card nobody has, a phone nobody has and a line that is neither
    lines = f"{members[0].card_number}\n2000000000008\n+7 999 111-22-33\nВасилий\n"

    # when
    errors = _errors(is_personal="on", recipients=lines)

    # then
    assert errors == {
        "recipients": [
            "No member has these card numbers or phones: Василий, 2000000000008, +7 999 111-22-33."
        ]
    }
    assert not CodeBatch.objects.exists()
    assert not BatchRecipient.objects.exists()


def test_recipients_need_a_personal_batch(members):
    assert _errors(recipients=members[0].card_number) == {
        "recipients": ["Only a personal batch has recipients: tick “personal” or clear the list."]
    }


def test_personal_batch_without_a_list_issues_through_the_api(members):
    form = CodeBatchForm(data=_data(is_personal="on", count="500"))

    assert form.errors == {}
    assert form.cleaned_data["count"] == 500


def test_imported_batch_starts_empty_and_cannot_be_personal():
    form = CodeBatchForm(data=_data(source="imported", count="", length="1"))
    assert form.errors == {}
    assert form.cleaned_data["count"] == 0

    assert _errors(source="imported", is_personal="on") == {
        "is_personal": ["Imported codes belong to nobody: an imported batch cannot be personal."]
    }


def test_recipients_find_looks_up_in_chunks(members, monkeypatch):
    # given a lookup chunk of one
    monkeypatch.setattr("promocodes.forms.LOOKUP_CHUNK", 1)

    # when
    ids, unknown = recipients_find([members[0].card_number, "+79120000002", "+79990000000"])

    # then
    assert sorted(ids) == sorted(m.pk for m in members)
    assert unknown == ["+79990000000"]


# --- change page ---------------------------------------------------------------------


def _change_form_class():
    """The change page's form: format fields are read-only there, so not in the form."""
    fields = [f for f in CodeBatchForm.Meta.fields if f not in FORMAT_FIELDS]
    meta = type("Meta", (), {"model": CodeBatch, "fields": fields})
    return type("CodeBatchChangeForm", (CodeBatchForm,), {"Meta": meta})


def test_change_form_checks_window_and_reward_with_format_fields_read_only(batch):
    # given
    data = _data(valid_until="2026-11-01 00:00", reward_value="101")

    # when
    form = _change_form_class()(data=data, instance=batch)

    # then
    assert "recipients" not in form.fields
    assert form.errors == {
        "valid_until": ["The end of the validity window must be after its start."],
        "reward_value": ["A percent discount is more than 0 and at most 100."],
    }


# --- import form -----------------------------------------------------------------------


def test_import_form_needs_exactly_one_source():
    empty = CodesImportForm(data={"text": "  "})
    assert not empty.is_valid()
    assert empty.errors == {"__all__": ["Upload a file or paste the codes."]}


def test_window_of_an_expired_batch_cannot_be_extended(batch):
    # given a batch whose codes the expiry task has marked expired
    batch.expired_count = 3
    batch.save(update_fields=["expired_count"])
    later = (batch.valid_until + dt.timedelta(days=10)).strftime("%Y-%m-%d %H:%M:%S")
    data = _data(valid_from=batch.valid_from.strftime("%Y-%m-%d %H:%M:%S"), valid_until=later)

    # when
    form = _change_form_class()(data=data, instance=batch)

    # then
    assert form.errors == {
        "valid_until": [
            "The codes of this batch have been marked expired: a later end would not bring "
            "them back. Make a new batch instead."
        ]
    }
