"""Tier review (scheduled; the only place members move down) and the what-if count
marketing sees before saving a threshold change. Both use the same set-based SQL, so
the what-if counts are exactly what the next review does."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from loyalty.models import ProgramSettings, Tier
from members.models import Member
from members.selectors import qualifying_subquery


@dataclass(frozen=True)
class TierMoves:
    up: int
    down: int


def _bands(thresholds: dict[int, Decimal]) -> list[tuple[int, Decimal, Decimal | None]]:
    """(tier id, from, below) for each tier, ordered by threshold. The lowest tier's band
    starts at minus infinity so that every member falls into one band."""
    ordered = sorted(thresholds.items(), key=lambda kv: kv[1])
    bands = []
    for i, (tier_id, threshold) in enumerate(ordered):
        upper = ordered[i + 1][1] if i + 1 < len(ordered) else None
        bands.append((tier_id, threshold if i else None, upper))
    return bands


def _moves(
    thresholds: dict[int, Decimal], *, program: ProgramSettings, at: dt.datetime, apply: bool
) -> TierMoves:
    members = Member.objects.alias(q=qualifying_subquery(program, at))
    up = down = 0
    for tier_id, lower, upper in _bands(thresholds):
        band = members
        if lower is not None:
            band = band.filter(q__gte=lower)
        if upper is not None:
            band = band.filter(q__lt=upper)
        mine = thresholds[tier_id]
        lower_tiers = [t for t, th in thresholds.items() if th < mine]
        higher_tiers = [t for t, th in thresholds.items() if th > mine]
        moving_up = band.filter(tier_id__in=lower_tiers)
        moving_down = band.filter(tier_id__in=higher_tiers)
        if apply:
            up += Member.objects.filter(pk__in=moving_up.values("pk")).update(tier_id=tier_id)
            down += Member.objects.filter(pk__in=moving_down.values("pk")).update(tier_id=tier_id)
        else:
            up += moving_up.count()
            down += moving_down.count()
    return TierMoves(up=up, down=down)


def tier_what_if(
    *,
    thresholds: dict[int, Decimal],
    at: dt.datetime | None = None,
    program: ProgramSettings | None = None,
) -> TierMoves:
    """How many members would move up and down if the tiers had these thresholds.

    `thresholds` may name only the tiers that change; the others keep their threshold.
    """
    proposed = dict(Tier.objects.values_list("id", "threshold")) | thresholds
    return _moves(
        proposed, program=program or ProgramSettings.load(), at=at or timezone.now(), apply=False
    )


@transaction.atomic
def tier_review(*, at: dt.datetime | None = None) -> TierMoves:
    """Put every member on the tier their qualifying value earns now (up or down).

    Set-based: one UPDATE per tier band. Safe to run twice: the second run finds
    everyone already on their tier.
    """
    thresholds = dict(Tier.objects.values_list("id", "threshold"))
    return _moves(thresholds, program=ProgramSettings.load(), at=at or timezone.now(), apply=True)
