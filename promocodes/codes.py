"""Promo code text: alphabets, the check character, input normalisation and fast
generation. Pure functions, no database.

Every code character comes from CODE_CHARS, 32 letters and digits with no look-alikes
(no 0/O, 1/I). The last character of a generated code is a check character computed
with Luhn mod 32 over everything before it (prefix included), so any single mistyped
character, and almost any swap of two neighbours, is caught before the database is
asked. Codes are stored and compared in their canonical form: upper case, no dashes.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

CODE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_N = len(CODE_CHARS)
_INDEX = {c: i for i, c in enumerate(CODE_CHARS)}

# Named alphabets a batch may draw its random part from; all are subsets of CODE_CHARS
# so the check character covers them.
ALPHABETS = {
    "safe": CODE_CHARS,
    "letters": "".join(c for c in CODE_CHARS if c.isalpha()),
    "digits": "".join(c for c in CODE_CHARS if c.isdigit()),
}

# One random well-formed guess may hit a live code with at most this probability.
GUESS_PROBABILITY_MAX = 1e-8
DEFAULT_LENGTH = 10  # 32**10 ≈ 1.1e15: with 1M live codes a guess hits with p ≈ 9e-10
MAX_CODE_LENGTH = 32
# The longest canonical code the database stores (PromoCode.code): a prefix, the random
# part and the check character together, or an imported code.
MAX_TEXT_LENGTH = 40
GROUP = 4  # displayed as ABCD-EFGH-JKL

# Cyrillic letters that look like Latin ones, typed with the Russian keyboard layout.
_CYRILLIC_LOOKALIKES = str.maketrans("АВЕКМНОРСТХУ", "ABEKMHOPCTXY")
# Characters dropped from typed or pasted input: spaces of every kind, invisible format
# characters (zero-width space, soft hyphen, BOM…), line breaks and dashes, the minus sign.
_IGNORED_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf", "Pd"}
_IGNORED_EXTRA = {"\u2212"}
# Codes made elsewhere (imported) may use every Latin letter and digit.
IMPORTED_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


class CodeFormatError(ValueError):
    """The typed text cannot be a promo code; `code` is the stable refusal code."""

    def __init__(self, code: str, message):
        self.code = code
        self.message = message
        super().__init__(str(message))


def check_char(text: str) -> str:
    """The Luhn mod 32 check character of `text` (characters from CODE_CHARS)."""
    total = sum(
        _luhn_addend(2 if pos % 2 == 0 else 1, char) for pos, char in enumerate(reversed(text))
    )
    return CODE_CHARS[(_N - total % _N) % _N]


def _luhn_addend(factor: int, char: str) -> int:
    addend = factor * _INDEX[char]
    return addend // _N + addend % _N


def has_valid_check(code: str) -> bool:
    return len(code) >= 2 and check_char(code[:-1]) == code[-1]


def _stripped(text: str) -> str:
    return "".join(
        c
        for c in text
        if unicodedata.category(c) not in _IGNORED_CATEGORIES and c not in _IGNORED_EXTRA
    )


def normalise(text: str, *, imported: bool = False) -> str:
    """The canonical form of typed text: upper case, without spaces and dashes, with
    Cyrillic look-alike letters read as Latin. Raises CodeFormatError for characters no
    code contains (the message names them). `imported`: the looser form of codes made
    elsewhere, any Latin letter or digit (O, 0, I and 1 included)."""
    code = _stripped(text).upper().translate(_CYRILLIC_LOOKALIKES)
    if not code:
        raise CodeFormatError("code_required", _("Enter the promo code."))
    allowed = IMPORTED_CHARS if imported else _INDEX
    foreign = sorted({c for c in code if c not in allowed})
    if foreign:
        chars = ", ".join(f"«{c}»" for c in foreign)
        if imported:
            message = _(
                "A code may use only the Latin letters A–Z and the digits 0–9; "
                "this one has %(chars)s."
            ) % {"chars": chars}
        else:
            message = _(
                "Promo codes never contain %(chars)s. Codes use the letters A–Z without I "
                "and O, and the digits 2–9."
            ) % {"chars": chars}
        raise CodeFormatError("not_found", message)
    if len(code) > MAX_TEXT_LENGTH:
        raise CodeFormatError("not_found", _("This is too long to be a promo code."))
    return code


def display(code: str) -> str:
    """A canonical code in groups of four for printing: ABCD-EFGH-JKL."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def prefix_error(prefix: str) -> str | None:
    """Why `prefix` cannot start generated codes, or None."""
    foreign = sorted({c for c in prefix if c not in _INDEX})
    if foreign:
        return str(
            _(
                "The prefix may use only the letters A–Z without I and O and the digits "
                "2–9 (no look-alikes); it has %(chars)s."
            )
            % {"chars": ", ".join(repr(c) for c in foreign)}
        )
    return None


def guess_probability(*, alphabet: str, length: int, live_codes: int) -> float:
    """Chance that one random well-formed guess is one of `live_codes` codes."""
    return live_codes / float(len(ALPHABETS[alphabet])) ** length


def length_needed(*, alphabet: str, live_codes: int) -> int:
    """The shortest random part keeping guess_probability within the limit."""
    size = len(ALPHABETS[alphabet])
    return max(1, math.ceil(math.log(max(live_codes, 1) / GUESS_PROBABILITY_MAX, size) - 1e-9))


@dataclass(frozen=True)
class CodeFormat:
    prefix: str
    alphabet: str  # a key of ALPHABETS
    length: int  # random characters, the check character not counted

    @property
    def code_length(self) -> int:
        return len(self.prefix) + self.length + 1


RandomBytes = Callable[[int], bytes]


def codes_generate(fmt: CodeFormat, count: int, *, random_bytes: RandomBytes = secrets.token_bytes):
    """`count` random codes in canonical form with their check character, as one bytes
    block of `count` fixed-width ASCII records (no separators; see `codes_split`).

    Built with C-level bytes operations only (translate, strided slices, big-integer
    sums), so a million codes take tens of milliseconds, not a Python loop per code:
    1. random bytes → indexes into the alphabet, by rejection so every character is
       equally likely;
    2. for each random position, the Luhn addend of every code at once (translate),
       placed in 16-bit slots of one big integer; summing those integers sums every
       code's addends at once (no slot can overflow into the next);
    3. the check character from each slot's sum; then the records are interleaved.
    """
    alphabet = ALPHABETS[fmt.alphabet]
    size = len(alphabet)
    if count <= 0:
        return b""
    idx = _random_indexes(size, count * fmt.length, random_bytes)
    # Positions counted from the right of the text the check covers (prefix + random);
    # the rightmost character has factor 2.
    width = fmt.length
    prefix_total = 0
    for pos_from_right, char in enumerate(reversed(fmt.prefix), start=width):
        prefix_total += _luhn_addend(2 if pos_from_right % 2 == 0 else 1, char)
    sums = prefix_total * int.from_bytes(b"\x01\x00" * count, "little")
    chars = [bytearray(count) for _ in range(width)]
    to_char = bytes(ord(alphabet[i % size]) for i in range(256))
    for position in range(width):
        column = idx[position::width]
        factor = 2 if (width - 1 - position) % 2 == 0 else 1
        addends = bytes(_luhn_addend(factor, alphabet[i % size]) for i in range(256))
        slots = bytearray(2 * count)
        slots[0::2] = column.translate(addends)
        sums += int.from_bytes(slots, "little")
        chars[position] = column.translate(to_char)
    low = sums.to_bytes(2 * count + 8, "little")[0 : 2 * count : 2]
    check = low.translate(bytes(ord(CODE_CHARS[(_N - v % _N) % _N]) for v in range(256)))
    record = fmt.code_length
    out = bytearray(record * count)
    for i, char in enumerate(fmt.prefix.encode()):
        out[i::record] = bytes([char]) * count
    offset = len(fmt.prefix)
    for position in range(width):
        out[offset + position :: record] = chars[position]
    out[record - 1 :: record] = check
    return bytes(out)


def codes_split(block: bytes, fmt: CodeFormat) -> Iterator[str]:
    record = fmt.code_length
    text = block.decode("ascii")
    return (text[i : i + record] for i in range(0, len(text), record))


def _random_indexes(size: int, n: int, random_bytes: RandomBytes) -> bytes:
    """`n` uniformly random bytes in range(size) (rejection sampling on random bytes)."""
    limit = 256 - 256 % size  # bytes at or above this would make low indexes likelier
    keep = bytes(range(limit, 256))
    to_index = bytes(b % size for b in range(256))
    out = bytearray()
    while len(out) < n:
        wanted = n - len(out)
        raw = random_bytes(wanted + wanted * (256 - limit) // limit + 16)
        out += raw.translate(None, keep) if keep else raw
    return bytes(out[:n]).translate(to_index)
