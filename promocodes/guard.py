"""Slowing down code guessing: an atomic counter of failed lookups per guesser.

DRF throttles limit request rates, but a guesser inside the rate still tries thousands
of codes a day. Each unknown or mistyped code counts against its guesser (a partner
key, a desk user); past GUESS_LIMIT failures in GUESS_WINDOW the guesser is refused
with TooManyGuesses until the window ends, and every refusal is logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

from promocodes import codes, errors

log = logging.getLogger(__name__)

# Refusals that tell a guesser the code does not exist (the rest need a real code).
GUESS_REFUSALS = {errors.CodeNotFound.code, errors.CodeBadCheckChar.code}


def _key(guesser: str) -> str:
    return f"promocodes:guesses:{guesser}"


def _seen_key(guesser: str, text: str) -> str:
    try:
        canonical = codes.normalise(text)
    except codes.CodeFormatError:
        canonical = text.strip().upper()
    digest = hashlib.sha256(f"{guesser}\n{canonical}".encode()).hexdigest()[:32]
    return f"promocodes:guessed:{digest}"


@contextmanager
def guessing(guesser: str, code: str, *, once_per_text: bool = False) -> Iterator[None]:
    """Around a checkout with a typed `code`: refuse a guesser that failed too often
    lately, and count the CodeRefused the block raises. Without a code: nothing."""
    if not code:
        yield
        return
    guesses_check(guesser)
    try:
        yield
    except errors.CodeRefused as refusal:
        guess_failed(guesser, refusal, once_for=code if once_per_text else "")
        raise


def guesses_check(guesser: str) -> None:
    """Raise TooManyGuesses when `guesser` has failed too often lately."""
    failures = cache.get(_key(guesser), 0)
    if failures >= settings.PROMO_CODE_GUESS_LIMIT:
        log.warning("promo code guessing blocked", extra={"guesser": guesser, "failures": failures})
        raise errors.TooManyGuesses(retry_after=settings.PROMO_CODE_GUESS_WINDOW)


def guess_failed(guesser: str, refusal: errors.CodeRefused, *, once_for: str = "") -> None:
    """Count a refusal against `guesser` if it is one a guesser learns from.

    `once_for`: the typed text, counted once per window however often it is looked up
    again (the desk looks up what the cashier typed for the live check, the breakdown
    and the confirm: one mistyped code must not count three times).
    """
    if refusal.code not in GUESS_REFUSALS:
        return
    if once_for and not cache.add(
        _seen_key(guesser, once_for), 1, timeout=settings.PROMO_CODE_GUESS_WINDOW
    ):
        return
    key = _key(guesser)
    # add() then incr() is atomic on Redis and within one process on locmem; the window
    # starts at the first failure and is not extended by later ones.
    cache.add(key, 0, timeout=settings.PROMO_CODE_GUESS_WINDOW)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=settings.PROMO_CODE_GUESS_WINDOW)
        failures = 1
    if failures % 5 == 0 or failures >= settings.PROMO_CODE_GUESS_LIMIT:
        log.warning(
            "repeated unknown promo codes",
            extra={"guesser": guesser, "failures": failures, "refusal": refusal.code},
        )
