"""Code text without a database: the check character, generation, normalisation and the
guessing arithmetic (promocodes.codes)."""

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promocodes import codes
from promocodes.codes import ALPHABETS, CODE_CHARS, CodeFormat, CodeFormatError

SAMPLE_PAYLOADS = ["ABCDEFGHJ", "2222222222", "XY9A3MZQKP", "SPRNG" + "7HQ4M2RT9W"]


def with_check(payload: str) -> str:
    return payload + codes.check_char(payload)


def seeded_bytes(seed: int):
    """A reproducible stand-in for secrets.token_bytes."""
    rng = random.Random(seed)
    return rng.randbytes


def cycling_bytes():
    """0, 1, …, 255, 0, 1, … : every byte value equally often, in order."""
    cycle = itertools.cycle(range(256))
    return lambda n: bytes(next(cycle) for _ in range(n))


def generated(fmt: CodeFormat, count: int, **kwargs) -> list[str]:
    return list(codes.codes_split(codes.codes_generate(fmt, count, **kwargs), fmt))


# --- The check character -----------------------------------------------------------------


def test_a_generated_code_carries_a_valid_check_character():
    # given payloads of several shapes
    for payload in SAMPLE_PAYLOADS:
        # when the check character is appended
        code = with_check(payload)

        # then the code checks, and the check character is one of CODE_CHARS
        assert codes.has_valid_check(code)
        assert code[-1] in CODE_CHARS


def test_check_character_of_known_texts():
    # given the Luhn mod 32 rule, worked by hand for two short texts:
    # "B" (index 1, factor 2) → addend 2 → check (32 − 2) = 30 → "8";
    # "BA" (A: factor 2 → 0; B: factor 1 → 1) → check 31 → "9"
    # when / then
    assert codes.check_char("B") == "8"
    assert codes.check_char("BA") == "9"
    assert codes.check_char("") == "A"


@pytest.mark.parametrize("payload", SAMPLE_PAYLOADS)
def test_every_single_character_substitution_is_caught(payload):
    # given a valid code
    code = with_check(payload)

    # when each position in turn (the check character included) is replaced by each other
    # character of the alphabet
    slipped = [
        code[:pos] + char + code[pos + 1 :]
        for pos in range(len(code))
        for char in CODE_CHARS
        if char != code[pos]
    ]

    # then every one of the len × 31 typos fails the check
    assert len(slipped) == len(code) * 31
    assert [typo for typo in slipped if codes.has_valid_check(typo)] == []


def test_adjacent_transpositions_inside_the_code_are_caught_except_a_and_9():
    # given every ordered pair of different characters, swapped inside a code's payload
    # (both characters before the check character)
    missed = set()
    pairs = [(a, b) for a in CODE_CHARS for b in CODE_CHARS if a != b]
    for a, b in pairs:
        for left in ("", "K", "KM"):  # both parities of the pair's position
            payload = f"{left}{a}{b}QRST"
            code = with_check(payload)
            swapped = code[: len(left)] + b + a + code[len(left) + 2 :]
            if codes.has_valid_check(swapped):
                missed.add((a, b))

    # then Luhn mod 32 misses only the swap of the first and last characters (A ↔ 9):
    # 990 of the 992 ordered pairs (99.8 %) are caught
    assert len(pairs) == 992
    assert missed == {("A", "9"), ("9", "A")}


def test_adjacent_transposition_rate_over_generated_codes():
    # given 2,000 generated codes of the default format
    fmt = CodeFormat(prefix="", alphabet="safe", length=codes.DEFAULT_LENGTH)
    swaps = caught = 0

    # when each pair of different neighbours is swapped, the check character included
    for code in generated(fmt, 2_000, random_bytes=seeded_bytes(1)):
        for pos in range(len(code) - 1):
            if code[pos] == code[pos + 1]:
                continue
            swaps += 1
            caught += not codes.has_valid_check(
                code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
            )

    # then at least 99.5 % of them are caught (only A ↔ 9 slips through: about 0.2 %)
    rate = caught / swaps
    assert swaps > 19_000
    assert rate >= 0.995, rate


@settings(max_examples=300, deadline=None)
@given(
    payload=st.text(alphabet=CODE_CHARS, min_size=1, max_size=40),
    position=st.integers(min_value=0),
    replacement=st.sampled_from(CODE_CHARS),
)
def test_property_a_code_checks_and_one_substitution_does_not(payload, position, replacement):
    code = with_check(payload)
    assert codes.has_valid_check(code)
    position %= len(code)
    if replacement != code[position]:
        assert not codes.has_valid_check(code[:position] + replacement + code[position + 1 :])


def test_has_valid_check_needs_two_characters():
    # given / when / then: a single character has nothing to check
    assert not codes.has_valid_check("A")
    assert not codes.has_valid_check("")


# --- Generation ----------------------------------------------------------------------------


@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
@pytest.mark.parametrize("prefix", ["", "SPRNG", "X7"])
def test_generation_gives_exactly_count_codes_of_the_format(alphabet, prefix):
    # given a format
    fmt = CodeFormat(prefix=prefix, alphabet=alphabet, length=8)

    # when 5,000 codes are made
    block = codes.codes_generate(fmt, 5_000)
    made = list(codes.codes_split(block, fmt))

    # then exactly 5,000 fixed-width records: the prefix, 8 characters of the alphabet,
    # and a valid check character
    assert len(block) == 5_000 * fmt.code_length
    assert len(made) == 5_000
    for code in made:
        assert len(code) == len(prefix) + 8 + 1
        assert code.startswith(prefix)
        assert set(code[len(prefix) : -1]) <= set(ALPHABETS[alphabet])
        assert code[-1] in CODE_CHARS
        assert codes.has_valid_check(code)
    # and random enough that 5,000 draws from ≥ 8^8 = 16.7M do not repeat much
    assert len(set(made)) >= 4_990


def test_generation_of_nothing():
    fmt = CodeFormat(prefix="AB", alphabet="safe", length=10)
    assert codes.codes_generate(fmt, 0) == b""
    assert list(codes.codes_split(b"", fmt)) == []


@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
def test_every_character_is_equally_likely_when_the_bytes_are(alphabet):
    # given random bytes that take every value equally often, and an alphabet whose size
    # need not divide 256 (24 letters: bytes 240-255 must be dropped, or the first 16
    # letters would come up 10 % more often)
    size = len(ALPHABETS[alphabet])
    keep = 256 - 256 % size
    fmt = CodeFormat(prefix="", alphabet=alphabet, length=keep // 8)

    # when 8 × 256 codes are made from them
    made = generated(fmt, 8 * 256, random_bytes=cycling_bytes())

    # then every character of the alphabet is used exactly as often as every other
    counts = Counter(char for code in made for char in code[:-1])
    assert set(counts) == set(ALPHABETS[alphabet])
    assert len(set(counts.values())) == 1, counts


@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
def test_characters_are_uniform_at_every_position(alphabet):
    # given 40,000 codes of 10 random characters from a seeded source
    fmt = CodeFormat(prefix="", alphabet=alphabet, length=10)
    size = len(ALPHABETS[alphabet])
    made = generated(fmt, 40_000, random_bytes=seeded_bytes(7))

    # when the characters are counted per position
    for position in range(10):
        counts = Counter(code[position] for code in made)

        # then each is within 15 % of its share (≥ 5 standard deviations: a biased
        # mapping of bytes to letters would be 10 % off everywhere, the overall test
        # below catches that)
        expected = 40_000 / size
        assert set(counts) == set(ALPHABETS[alphabet])
        assert all(abs(n - expected) <= 0.15 * expected for n in counts.values()), counts

    # and over every position the counts are within 3 % of their share
    overall = Counter(char for code in made for char in code[:-1])
    expected = 400_000 / size
    assert all(abs(n - expected) <= 0.03 * expected for n in overall.values()), overall


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.text(alphabet=CODE_CHARS, max_size=12),
    alphabet=st.sampled_from(sorted(ALPHABETS)),
    length=st.integers(min_value=1, max_value=codes.MAX_CODE_LENGTH),
    count=st.integers(min_value=1, max_value=50),
)
def test_property_generated_codes_are_well_formed(prefix, alphabet, length, count):
    fmt = CodeFormat(prefix=prefix, alphabet=alphabet, length=length)
    made = generated(fmt, count)
    assert len(made) == count
    for code in made:
        assert len(code) == fmt.code_length
        assert code.startswith(prefix)
        assert set(code[len(prefix) : -1]) <= set(ALPHABETS[alphabet])
        assert codes.has_valid_check(code)
        if len(code) <= codes.MAX_TEXT_LENGTH:
            assert codes.normalise(codes.display(code).lower()) == code


def test_prefix_error_names_the_foreign_characters():
    # given / when / then
    assert codes.prefix_error("SPRNG") is None
    assert codes.prefix_error("") is None
    message = codes.prefix_error("SALE0I")
    assert "'0'" in message
    assert "'I'" in message


# --- Normalisation -------------------------------------------------------------------------


def test_display_groups_by_four():
    assert codes.display("ABCDEFGHJKL") == "ABCD-EFGH-JKL"
    assert codes.display("ABCD") == "ABCD"


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("abcd-efgh-jkl", "ABCDEFGHJKL"),
        ("  AbCd EfGh jKl ", "ABCDEFGHJKL"),
        ("ABCD—EFGH–JKL", "ABCDEFGHJKL"),  # em and en dashes from a word processor
        ("ABCD\u00a0EFGH\tJKL", "ABCDEFGHJKL"),
        ("2345-6789", "23456789"),
    ],
)
def test_normalise_ignores_case_spaces_and_dashes(typed, canonical):
    assert codes.normalise(typed) == canonical


def test_cyrillic_look_alikes_are_read_as_latin():
    # given the twelve Cyrillic capitals that look like Latin ones, and their small forms
    cyrillic = "АВЕКМНОРСТХУ"
    latin = "ABEKMHOPCTXY"

    # when / then: each reads as its Latin twin (О → O, which no code contains)
    for cyr, lat in zip(cyrillic, latin, strict=True):
        if lat == "O":
            continue
        assert codes.normalise(cyr) == lat
        assert codes.normalise(cyr.lower()) == lat
    assert codes.normalise("ВЕКМ-НРСТ-ХУА") == "BEKMHPCTXYA"
    assert codes.normalise("векм нрст хуа") == "BEKMHPCTXYA"


def test_cyrillic_o_reads_as_latin_o_which_codes_never_contain():
    # given a Cyrillic О (Latin O is left out of the alphabet: it looks like 0)
    # when / then
    with pytest.raises(CodeFormatError) as caught:
        codes.normalise("АВО2")
    assert caught.value.code == "not_found"
    assert "«O»" in str(caught.value.message)


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("ABCD-0FGH", ["«0»"]),
        ("ABC1", ["«1»"]),
        ("IOU2", ["«I»", "«O»"]),
        ("ДЖЗ2", ["«Д»", "«Ж»", "«З»"]),
        ("AB_CD", ["«_»"]),
        ("AB.CD!", ["«!»", "«.»"]),
    ],
)
def test_other_characters_are_refused_with_a_message_naming_them(typed, named):
    # when
    with pytest.raises(CodeFormatError) as caught:
        codes.normalise(typed)

    # then the refusal is not_found and the message lists each foreign character once
    assert caught.value.code == "not_found"
    message = str(caught.value.message)
    for char in named:
        assert message.count(char) == 1, message
    assert "A–Z" in message or "A-Z" in message


def test_invisible_and_pasted_separators_are_ignored():
    # given a code pasted with a narrow no-break space, a zero-width space, a soft hyphen,
    # a minus sign, a BOM and a line break
    pasted = "\ufeffABCD\u202fEFGH\u200b\u00ad\u2212JK\nL"

    # when / then
    assert codes.normalise(pasted) == "ABCDEFGHJKL"


def test_imported_codes_may_use_every_latin_letter_and_digit():
    # given a code made elsewhere, typed with a Cyrillic О and a dash
    # when / then the looser imported form keeps O, 0, I and 1
    assert codes.normalise("welc-ОМЕ10", imported=True) == "WELCOME10"
    with pytest.raises(CodeFormatError) as caught:
        codes.normalise("LETO!", imported=True)
    assert "«!»" in str(caught.value.message)


@pytest.mark.parametrize("typed", ["", "   ", " - - ", "\t"])
def test_empty_input_asks_for_the_code(typed):
    with pytest.raises(CodeFormatError) as caught:
        codes.normalise(typed)
    assert caught.value.code == "code_required"


def test_the_longest_code_the_code_column_holds_normalises():
    # given the longest code the code column holds (40 characters)
    payload = "SPRNG" + "A" * 34
    code = with_check(payload)
    assert len(code) == 40

    # when / then it is accepted, and one character more is refused as too long
    assert codes.normalise(codes.display(code)) == code
    with pytest.raises(CodeFormatError) as caught:
        codes.normalise(code + "A")
    assert caught.value.code == "not_found"


@settings(max_examples=200, deadline=None)
@given(payload=st.text(alphabet=CODE_CHARS, min_size=1, max_size=30), data=st.data())
def test_property_normalise_undoes_display_case_and_layout(payload, data):
    code = with_check(payload)
    to_cyrillic = str.maketrans("ABEKMHPCTXY", "АВЕКМНРСТХУ")
    typed = codes.display(code).translate(to_cyrillic)
    if data.draw(st.booleans()):
        typed = typed.lower()
    typed = typed.replace("-", data.draw(st.sampled_from(["-", " ", "", " - "])))
    assert codes.normalise(typed) == code


# --- Guessing ------------------------------------------------------------------------------


def test_a_million_default_codes_leave_a_guesser_no_practical_chance():
    # given 1M live codes of the default length (10 random characters of 32)
    # when
    p = codes.guess_probability(alphabet="safe", length=codes.DEFAULT_LENGTH, live_codes=1_000_000)

    # then one random well-formed guess hits with probability 1e6 / 32^10 ≈ 8.9e-10
    assert p == 1_000_000 / 32**10
    assert p <= codes.GUESS_PROBABILITY_MAX == 1e-8


@pytest.mark.parametrize(
    ("alphabet", "live_codes", "length"),
    [
        ("safe", 1_000_000, 10),  # 32^9 ≈ 3.5e13 would give 2.8e-8
        ("safe", 1, 6),  # 32^6 ≈ 1.07e9
        ("letters", 1_000_000, 11),
        ("digits", 1_000_000, 16),
        ("safe", 10_000_000, 10),  # 1e7 / 32^10 ≈ 8.9e-9
        ("safe", 20_000_000, 11),
    ],
)
def test_length_needed(alphabet, live_codes, length):
    # when
    needed = codes.length_needed(alphabet=alphabet, live_codes=live_codes)

    # then it is the shortest length within the limit
    assert needed == length
    limit = codes.GUESS_PROBABILITY_MAX
    assert codes.guess_probability(alphabet=alphabet, length=needed, live_codes=live_codes) <= limit
    assert (
        codes.guess_probability(alphabet=alphabet, length=needed - 1, live_codes=live_codes) > limit
    )
