"""Campaign steps on N members: a time-limited offer issued at its start and a closed
sale's invitations announced, each by campaigns.services.schedule.campaigns_advance (what
the beat task runs), against raw INSERT … SELECT statements writing the same rows, in
the same run. Issue #5, acceptance 8.

The N members (id i) have an e-mail; three in four consented to e-mail (i % 4 <> 0).
Each scenario has one campaign for every member (no segment), 10% held out, e-mail
messages:

- offer: an active time-limited offer not yet issued. The step writes N participants
  (holdout recorded), an offer to each member not held out, an "offer" message to each
  of those who consented, and the campaign's issued_at.
- closed sale: a scheduled sale starting within its lead days. The step writes N
  participants (the invitations, holdout recorded), a "sale_announce" message to each
  invited member not held out who consented, and the campaign's step markers.

Methods, each measured the same way: the step's tables emptied (TRUNCATE) and the
campaign's step markers cleared, VACUUM ANALYZE and CHECKPOINT, then the wall-clock time
of one transaction from this process, commit included:

- campaigns_advance(at=…): the service, as the beat task calls it.
- raw INSERT … SELECT: the yardstick. One INSERT … SELECT per table (the holdout hash
  written out in SQL) and the marker UPDATE, in one transaction, without ON CONFLICT or
  the service's queries; the offers' and messages' constant columns are copied from the
  service's first run, so it writes exactly the rows the service wrote.

They alternate (service, raw, service, …), `runs` times each; the figures are medians.
After every service run, untimed: row counts equal to what the holdout hash and the
consents say (computed here, in Python), one row per member in each table, nothing for
a held-out member, and a second campaigns_advance adding nothing. After every later run,
service or raw, its rows are compared with the first's (a digest of every column but
ids and the queue time).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from bench import memory
from bench.data import members_insert
from bench.database import settle
from bench.memory import PeakRss
from campaigns.models import Campaign, Grant, Offer, Participant, RewardChoices
from campaigns.services import core
from campaigns.services.schedule import campaigns_advance
from members.models import Member
from messaging.models import Channel, Kind, Message

SERVICE = "campaigns_advance"
RAW = "raw INSERT … SELECT"
HOLDOUT_PERCENT = Decimal(10)
CAMPAIGN_PREFIX = "Бенчмарк: "

_MEMBER = Member._meta.db_table
_CAMPAIGN = Campaign._meta.db_table
_PARTICIPANT = Participant._meta.db_table
_OFFER = Offer._meta.db_table
_MESSAGE = Message._meta.db_table
_STEP_TABLES = [_PARTICIPANT, _OFFER, Grant._meta.db_table, _MESSAGE]
_MARKERS = ["invited_at", "announced_at", "opened_at", "issued_at", "last_chance_at", "finished_at"]

# The Fibonacci hash of campaigns.services.core.holdout_bucket, written out for the raw
# statements (the checks compare its result with holdout_bucket's, member by member).
_CAMPAIGN_SHIFT = 7919
_HOLDOUT_SQL = (
    "((m.id + %(shift)s) * 2654435761 %% 4294967296) * 10000 / 4294967296 < %(threshold)s"
)


def consented(member_id: int) -> bool:
    """Whether bench member `member_id` consented to e-mail (set so by members_make)."""
    return member_id % 4 != 0


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    message_kind: str
    markers: tuple[str, ...]  # set by the step (cleared before each run)

    @property
    def issues_offers(self) -> bool:
        return self.kind == Campaign.Kind.OFFER


OFFER = Scenario("offer", Campaign.Kind.OFFER, Kind.OFFER, ("issued_at",))
SALE = Scenario(
    "closed sale", Campaign.Kind.CLOSED_SALE, Kind.SALE_ANNOUNCE, ("invited_at", "announced_at")
)


@dataclass(frozen=True)
class Written:
    participants: int
    holdout: int
    offers: int
    messages: int

    @property
    def rows(self) -> int:
        return self.participants + self.offers + self.messages


@dataclass(frozen=True)
class Run:
    method: str
    seconds: float
    written: Written
    rss_before: int | None = None
    rss_peak: int | None = None
    load: float | None = None  # 1-minute load average when it started (others' CPU use)

    @property
    def rss_growth(self) -> int | None:
        return memory.growth(self.rss_before, self.rss_peak)


@dataclass(frozen=True)
class StepCheck:
    """What the service's runs wrote, against what the holdout hash and consents say."""

    expected: Written
    written: list[Written]  # each service run
    duplicates: int  # rows beyond one per member, in any table, over all service runs
    not_due: int  # offers or messages to members due none (held out, no consent), all runs
    second_run_rows: int  # what a second campaigns_advance added, over all service runs
    differs: int  # later runs, service or raw, whose rows differ from the first's


@dataclass(frozen=True)
class StepFigures:
    scenario: Scenario
    runs: list[Run]
    check: StepCheck

    def of(self, method: str) -> list[Run]:
        return [r for r in self.runs if r.method == method]

    def median(self, method: str) -> float:
        return statistics.median(r.seconds for r in self.of(method))

    @property
    def ratio(self) -> float:
        return self.median(SERVICE) / self.median(RAW)

    @property
    def rows(self) -> int:
        return self.check.expected.rows


@dataclass(frozen=True)
class CampaignFigures:
    members: int
    consented: int
    steps: list[StepFigures]


# --- Data -------------------------------------------------------------------------------


def members_make(count: int) -> int:
    """`count` members, id i, with an e-mail; those with i % 4 <> 0 consented to it.
    Every member table is emptied first. Returns how many consented."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {_MEMBER} RESTART IDENTITY CASCADE")
        members_insert(
            cursor,
            count=count,
            at=timezone.now(),
            email="'bench' || i || '@example.com'",
            first_name="'Участник' || i",
            last_name="'Акционный'",
            consents=(True, False, False),
        )
        cursor.execute(f"UPDATE {_MEMBER} SET consent_email = false WHERE id % 4 = 0")
    settle([_MEMBER])
    return sum(1 for i in range(1, count + 1) if consented(i))


def campaigns_reset() -> None:
    """Empty the step tables and remove the bench's campaigns (and their history)."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(_STEP_TABLES)}")
    bench = Campaign.objects.filter(name__startswith=CAMPAIGN_PREFIX)
    ids = list(bench.values_list("id", flat=True))
    bench.delete()
    Campaign.history.filter(id__in=ids).delete()


def _campaign(scenario: Scenario, at: dt.datetime) -> Campaign:
    if scenario.issues_offers:
        # Starting now: the beat's next run issues the offers.
        return Campaign.objects.create(
            name=f"{CAMPAIGN_PREFIX}весенняя коллекция −30%",
            kind=Campaign.Kind.OFFER,
            status=Campaign.Status.ACTIVE,
            starts_at=at - dt.timedelta(seconds=30),
            ends_at=at + dt.timedelta(days=14),
            reward_kind=RewardChoices.PERCENT,
            reward_value=Decimal(30),
            holdout_percent=HOLDOUT_PERCENT,
            channel=Channel.EMAIL,
        )
    # Opens in two days, announced three days ahead: the announcement is due now.
    return Campaign.objects.create(
        name=f"{CAMPAIGN_PREFIX}закрытая распродажа −20%",
        kind=Campaign.Kind.CLOSED_SALE,
        status=Campaign.Status.SCHEDULED,
        starts_at=at + dt.timedelta(days=2),
        ends_at=at + dt.timedelta(days=5),
        reward_kind=RewardChoices.PERCENT,
        reward_value=Decimal(20),
        lead_days=3,
        holdout_percent=HOLDOUT_PERCENT,
        channel=Channel.EMAIL,
    )


def _step_reset(campaign: Campaign, status: str) -> None:
    """The campaign as before its step: tables emptied, markers cleared, statistics and
    dirty buffers settled."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(_STEP_TABLES)}")
    Campaign.objects.filter(pk=campaign.pk).update(status=status, **dict.fromkeys(_MARKERS))
    settle([*_STEP_TABLES, _CAMPAIGN, _MEMBER])


# --- The two methods --------------------------------------------------------------------


def _service(at: dt.datetime) -> None:
    campaigns_advance(at=at)


@dataclass(frozen=True)
class _Constants:
    """The columns that are the same on every row the step writes, as the service wrote
    them (so the raw statements write the same rows)."""

    offer: dict | None
    message: dict


def _constants(campaign: Campaign, scenario: Scenario) -> _Constants:
    offer = None
    if scenario.issues_offers:
        offer = (
            Offer.objects.filter(campaign=campaign)
            .values(
                "event_key",
                "title",
                "reward_kind",
                "reward_value",
                "reward_cap",
                "min_receipt",
                "gift_name",
                "valid_from",
                "valid_until",
                "status",
                "created_at",
            )
            .first()
        )
    message = (
        Message.objects.filter(campaign=campaign)
        .values("kind", "channel", "event_key", "context", "is_marketing", "status")
        .first()
    )
    if message is None or (scenario.issues_offers and offer is None):
        raise RuntimeError(f"{SERVICE} wrote no {scenario.name} rows to copy")
    if message["kind"] != scenario.message_kind:
        raise RuntimeError(f"{SERVICE} queued {message['kind']}, not {scenario.message_kind}")
    return _Constants(offer=offer, message=message)


def _raw(campaign: Campaign, scenario: Scenario, constants: _Constants, at: dt.datetime) -> None:
    params = {
        "campaign": campaign.pk,
        "shift": campaign.pk * _CAMPAIGN_SHIFT,
        "threshold": core.holdout_threshold(campaign),
        "at": at,
    }
    reached = (
        f"FROM {_PARTICIPANT} p JOIN {_MEMBER} m ON m.id = p.member_id "
        "WHERE p.campaign_id = %(campaign)s AND NOT p.is_holdout"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_PARTICIPANT} (campaign_id, member_id, is_holdout, created_at)
            SELECT %(campaign)s, m.id, {_HOLDOUT_SQL}, %(at)s FROM {_MEMBER} m
            """,
            params,
        )
        if constants.offer is not None:
            cursor.execute(
                f"""
                INSERT INTO {_OFFER} (campaign_id, member_id, event_key, title, reward_kind,
                    reward_value, reward_cap, min_receipt, gift_name, valid_from, valid_until,
                    status, created_at)
                SELECT %(campaign)s, p.member_id, %(event_key)s, %(title)s, %(reward_kind)s,
                    %(reward_value)s, %(reward_cap)s, %(min_receipt)s, %(gift_name)s,
                    %(valid_from)s, %(valid_until)s, %(status)s, %(created_at)s
                FROM {_PARTICIPANT} p
                WHERE p.campaign_id = %(campaign)s AND NOT p.is_holdout
                """,
                params | constants.offer,
            )
        message = constants.message
        cursor.execute(
            f"""
            INSERT INTO {_MESSAGE} (kind, channel, member_id, campaign_id, event_key, context,
                is_marketing, status, suppressed_reason, attempts, send_after, recipient,
                subject, body, provider_id, provider_response, error, resent_by, created_at,
                updated_at)
            SELECT %(kind)s, %(channel)s, p.member_id, %(campaign)s, %(event_key)s,
                %(context)s::jsonb, %(is_marketing)s, %(status)s, '', 0, now(), '', '', '',
                '', '', '', '', now(), now()
            {reached} AND m.consent_email
            """,
            params | message | {"context": json.dumps(message["context"])},
        )
        cursor.execute(
            f"UPDATE {_CAMPAIGN} SET "
            + ", ".join(f"{marker} = %(at)s" for marker in scenario.markers)
            + " WHERE id = %(campaign)s",
            params,
        )


# --- Checks -----------------------------------------------------------------------------


def _written(campaign: Campaign) -> Written:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (SELECT COUNT(*) FROM {_PARTICIPANT} WHERE campaign_id = %(c)s),
                (SELECT COUNT(*) FROM {_PARTICIPANT} WHERE campaign_id = %(c)s AND is_holdout),
                (SELECT COUNT(*) FROM {_OFFER} WHERE campaign_id = %(c)s),
                (SELECT COUNT(*) FROM {_MESSAGE} WHERE campaign_id = %(c)s)
            """,
            {"c": campaign.pk},
        )
        return Written(*cursor.fetchone())


def _expected(campaign: Campaign, scenario: Scenario, members: int) -> Written:
    """What the step must write, from holdout_bucket and the consents, member by member."""
    threshold = core.holdout_threshold(campaign)
    held = [
        core.holdout_bucket(campaign_id=campaign.pk, member_id=i) < threshold
        for i in range(1, members + 1)
    ]
    reached = [i for i, is_held in zip(range(1, members + 1), held, strict=True) if not is_held]
    return Written(
        participants=members,
        holdout=sum(held),
        offers=len(reached) if scenario.issues_offers else 0,
        messages=sum(1 for i in reached if consented(i)),
    )


def _duplicates_and_not_due(campaign: Campaign) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT
                (SELECT COUNT(*) - COUNT(DISTINCT member_id) FROM {_PARTICIPANT}
                 WHERE campaign_id = %(c)s)
                + (SELECT COUNT(*) - COUNT(DISTINCT member_id) FROM {_OFFER}
                   WHERE campaign_id = %(c)s)
                + (SELECT COUNT(*) - COUNT(DISTINCT (member_id, kind, channel)) FROM {_MESSAGE}
                   WHERE campaign_id = %(c)s),
                (SELECT COUNT(*) FROM {_OFFER} o JOIN {_PARTICIPANT} p
                    ON p.campaign_id = o.campaign_id AND p.member_id = o.member_id
                 WHERE o.campaign_id = %(c)s AND p.is_holdout)
                + (SELECT COUNT(*) FROM {_MESSAGE} x JOIN {_PARTICIPANT} p
                    ON p.campaign_id = x.campaign_id AND p.member_id = x.member_id
                   WHERE x.campaign_id = %(c)s AND (p.is_holdout OR x.member_id %% 4 = 0))
                + (SELECT COUNT(*) FROM {_MESSAGE} x WHERE x.campaign_id = %(c)s
                   AND NOT EXISTS (SELECT 1 FROM {_PARTICIPANT} p
                       WHERE p.campaign_id = x.campaign_id AND p.member_id = x.member_id))
            """,
            {"c": campaign.pk},
        )
        duplicates, not_due = cursor.fetchone()
    return int(duplicates), int(not_due)


def _digest(campaign: Campaign) -> tuple[str, str, str]:
    """Every column of the step's rows but ids and the messages' queue time, hashed."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT
                (SELECT md5(string_agg(concat_ws('|', member_id, is_holdout, created_at), ','
                    ORDER BY member_id)) FROM {_PARTICIPANT} WHERE campaign_id = %(c)s),
                (SELECT md5(string_agg(concat_ws('|', member_id, event_key, title, reward_kind,
                    reward_value, reward_cap, min_receipt, gift_name, valid_from, valid_until,
                    status, source_purchase_id, purchase_id, used_at, created_at), ','
                    ORDER BY member_id)) FROM {_OFFER} WHERE campaign_id = %(c)s),
                (SELECT md5(string_agg(concat_ws('|', kind, channel, member_id, event_key,
                    context::text, is_marketing, status, suppressed_reason, attempts, claim,
                    recipient, subject, body, provider_id, error, sent_at), ','
                    ORDER BY member_id, kind, channel)) FROM {_MESSAGE}
                 WHERE campaign_id = %(c)s)
            """,
            {"c": campaign.pk},
        )
        return cursor.fetchone()


# --- The bench --------------------------------------------------------------------------


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _measure(method: str, fn: Callable[[], None], campaign: Campaign) -> Run:
    load = _load()
    with PeakRss() as peak:
        started = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - started
    return Run(method, elapsed, _written(campaign), peak.before, peak.peak, load)


def _step_bench(
    scenario: Scenario, *, members: int, runs: int, log: Callable[[str], None]
) -> StepFigures:
    at = timezone.now().replace(microsecond=0)
    campaign = _campaign(scenario, at)
    status = campaign.status
    expected = _expected(campaign, scenario, members)
    measured: list[Run] = []
    written: list[Written] = []
    duplicates = not_due = second_run_rows = differs = 0
    constants = digest = None
    for n in range(runs):
        for method in (SERVICE, RAW):
            _step_reset(campaign, status)
            if method == SERVICE:
                run = _measure(method, partial(_service, at), campaign)
                written.append(run.written)
                extra = _duplicates_and_not_due(campaign)
                duplicates += extra[0]
                not_due += extra[1]
                if constants is None:
                    constants = _constants(campaign, scenario)
                    digest = _digest(campaign)
                else:
                    differs += int(_digest(campaign) != digest)
                _service(at)
                second_run_rows += _written(campaign).rows - run.written.rows
            else:
                run = _measure(method, partial(_raw, campaign, scenario, constants, at), campaign)
                differs += int(_digest(campaign) != digest)
            measured.append(run)
            log(
                f"{scenario.name}, {method} ({n + 1}/{runs}): {run.seconds:.2f} s, "
                f"{run.written.rows:,} rows"
            )
    _step_reset(campaign, status)
    return StepFigures(
        scenario=scenario,
        runs=measured,
        check=StepCheck(
            expected=expected,
            written=written,
            duplicates=duplicates,
            not_due=not_due,
            second_run_rows=second_run_rows,
            differs=differs,
        ),
    )


def campaigns_bench(*, members: int, runs: int, log: Callable[[str], None]) -> CampaignFigures:
    log(f"campaigns: {members:,} members, three in four with e-mail consent…")
    count_consented = members_make(members)
    campaigns_reset()
    steps = []
    try:
        # No delivery kick after a commit: there is no broker, and sending is not timed.
        with override_settings(MESSAGES_DELIVER_ON_COMMIT=False):
            for scenario in (OFFER, SALE):
                steps.append(_step_bench(scenario, members=members, runs=runs, log=log))
                campaigns_reset()
    finally:
        campaigns_reset()
    return CampaignFigures(members=members, consented=count_consented, steps=steps)
