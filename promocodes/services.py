"""Business writes on promo codes: generation jobs, issuing personal codes, redeeming
inside the checkout transaction, rollback on refund, expiry and import."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from loyalty import rules
from loyalty.actors import Actor
from members.models import LedgerEntry, Member, Purchase
from promocodes import codes, errors, selectors
from promocodes.models import BatchRecipient, CodeBatch, GenerationJob, PromoCode, Redemption

log = logging.getLogger(__name__)

CHUNK_SIZE = 50_000


# --- Validate and redeem (step 3 of the checkout) ---------------------------------------


@dataclass(frozen=True)
class Validation:
    """The dry run of a code on a receipt: `refusal` is None when it would apply."""

    code: PromoCode | None
    refusal: errors.CodeRefused | None
    discount: Decimal
    points: int
    reward: rules.Reward | None

    @property
    def is_valid(self) -> bool:
        return self.refusal is None


def promo_code_validate(
    *, text: str, member: Member, total, store=None, at: dt.datetime | None = None
) -> Validation:
    """What the typed code would give this member on a receipt of `total`; changes nothing.

    Refusals come back in `refusal` (never raised), except a bad total (InvalidAmount).
    """
    from members.services import checkout_evaluate

    if not text:
        # An empty code would make the checkout pick the member's personal codes instead.
        refusal = errors.CodeRequired()
        return Validation(code=None, refusal=refusal, discount=Decimal(0), points=0, reward=None)
    try:
        result = checkout_evaluate(member=member, store=store, total=total, code=text, at=at)
    except errors.CodeRefused as exc:
        return Validation(code=None, refusal=exc, discount=Decimal(0), points=0, reward=None)
    b = result.breakdown
    return Validation(
        code=PromoCode.objects.select_related("batch").get(code=b.reward.reference),
        refusal=None,
        discount=b.code_discount,
        points=b.reward_points,
        reward=b.reward,
    )


def promo_code_redeem(
    *, reward: rules.Reward, member: Member, purchase: Purchase, discount: Decimal, at: dt.datetime
) -> Redemption:
    """Use the code of `reward` once for `purchase`, inside the checkout transaction.

    One guarded UPDATE decides: it adds a use only while the code has uses left and is
    active and in its window, so of many concurrent receipts exactly `max_uses` win; the
    losers get CodeUsedUp (or the refusal that now applies) and their checkout rolls
    back. The CHECK uses <= max_uses backs it.
    """
    # The batch condition is a subquery on purpose: a filter across the join would make
    # Django write `WHERE id IN (SELECT … uses < max_uses …)`, and PostgreSQL re-checks
    # only the outer WHERE of a row it waited for, so losers would pass `uses` over
    # `max_uses` and hit the CHECK (a 500) instead of getting used_up.
    usable_batches = CodeBatch.objects.filter(
        is_active=True, valid_from__lte=at, valid_until__gt=at
    ).values("pk")
    won = PromoCode.objects.filter(
        code=reward.reference,
        uses__lt=F("max_uses"),
        status=PromoCode.Status.ACTIVE,
        batch__in=usable_batches,
    ).update(uses=F("uses") + 1)
    code = PromoCode.objects.select_related("batch").get(code=reward.reference)
    if not won:
        raise selectors.code_refusal(code, member=member, total=None, at=at) or errors.CodeUsedUp()
    redemption = Redemption(
        code=code,
        batch=code.batch,
        purchase=purchase,
        member=member,
        discount=discount,
        points=int(reward.value) if reward.kind == rules.RewardKind.POINTS else 0,
        created_at=at,
    )
    if redemption.points:
        from members.services.points import lot_open

        redemption.points_lot = lot_open(
            member=member,
            amount=redemption.points,
            kind=LedgerEntry.Kind.GRANT,
            at=at,
            actor=Actor.for_task("promo_code_redeem"),
            reason=_stored(_("Promo code %(code)s"), code=codes.display(code.code)),
        )
    redemption.save()
    return redemption


def promo_code_rollback(*, purchase: Purchase, actor: Actor, at: dt.datetime | None = None) -> bool:
    """Give back the code a fully refunded purchase used, if it is still valid; once.

    Returns True when the code got its use back. Bonus points the code granted are taken
    back as far as they are unspent. The caller (the refund) holds the member's lock.
    """
    at = at or timezone.now()
    redemption = (
        Redemption.objects.select_related("code__batch")
        .filter(purchase=purchase, rolled_back_at__isnull=True)
        .first()
    )
    if redemption is None:
        return False
    if not Redemption.objects.filter(pk=redemption.pk, rolled_back_at__isnull=True).update(
        rolled_back_at=at
    ):
        return False  # a concurrent rollback won
    code = redemption.code
    returned = _still_valid(code, member=purchase.member, at=at) and bool(
        PromoCode.objects.filter(pk=code.pk, uses__gt=0).update(uses=F("uses") - 1)
    )
    if returned:
        Redemption.objects.filter(pk=redemption.pk).update(is_code_returned=True)
    if redemption.points and redemption.points_lot_id:
        from members.models import PointsLot
        from members.services.points import lots_take

        # Only what is left of the bonus lot: points in other lots were earned on other
        # receipts (their refunds take them back), and spent bonus points are gone.
        unspent = (
            PointsLot.objects.select_for_update()
            .values_list("remaining", flat=True)
            .get(pk=redemption.points_lot_id)
        )
        lots_take(
            member=purchase.member,
            amount=min(redemption.points, unspent),
            kind=LedgerEntry.Kind.REFUND,
            at=at,
            actor=actor,
            purchase=purchase,
            reason=_stored(_("Promo code rolled back")),
            prefer_lot_id=redemption.points_lot_id,
        )
    return returned


def _stored(message: str, **params) -> str:
    """A ledger reason in the program's language, whatever the language of the request
    that wrote it (the ledger is read by staff long after)."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(message) % params if params else str(message)


def _still_valid(code: PromoCode, *, member: Member, at: dt.datetime) -> bool:
    """Usable by `member` at `at` but for its uses: a code a rollback may give back."""
    refusal = selectors.code_refusal(code, member=member, total=None, at=at)
    return refusal is None or refusal.code == errors.CodeUsedUp.code


# --- Personal codes ---------------------------------------------------------------------


@transaction.atomic
def promo_code_issue(
    *, batch: CodeBatch, member: Member, request_id: str = "", actor: Actor
) -> tuple[PromoCode, bool]:
    """The member's personal code of `batch`, made now if they have none; (code, created).

    Idempotent: the same member and batch always get the same code, and a `request_id`
    already used for another member raises RequestIdConflict. A batch made for a list of
    members issues only to them (NotRecipient); one without a list issues on request, at
    most `count` codes (BatchFull). Raises BatchNotPersonal, CodeInactive or CodeExpired
    when the batch cannot issue.
    """
    request_id = request_id.strip()
    if not batch.is_personal:
        raise errors.BatchNotPersonal()
    existing = PromoCode.objects.filter(batch=batch, member=member).first()
    if existing is not None:
        return existing, False
    if request_id and PromoCode.objects.filter(batch=batch, request_id=request_id).exists():
        raise errors.RequestIdConflict()
    now = timezone.now()
    if not batch.is_active:
        raise errors.CodeInactive()
    if now >= batch.valid_until:
        raise errors.CodeExpired()
    # The batch's row lock serialises issuing, so the cap below cannot be overrun.
    CodeBatch.objects.select_for_update().filter(pk=batch.pk).values_list("pk").first()
    if batch.recipients.exists():
        if not batch.recipients.filter(member=member).exists():
            raise errors.NotRecipient()
    elif batch.codes.count() >= batch.count:
        raise errors.BatchFull()
    for _attempt in range(5):
        fmt = batch.code_format
        text = next(codes.codes_split(codes.codes_generate(fmt, 1), fmt))
        try:
            with transaction.atomic():
                code = PromoCode.objects.create(
                    batch=batch,
                    code=text,
                    member=member,
                    max_uses=batch.uses_per_code,
                    request_id=request_id,
                )
        except IntegrityError:
            # A concurrent request for this member (or request_id) won, or, once in a
            # quadrillion, the random code exists: look again, then draw again.
            existing = PromoCode.objects.filter(batch=batch, member=member).first()
            if existing is not None:
                return existing, False
            if request_id and PromoCode.objects.filter(batch=batch, request_id=request_id).exists():
                raise errors.RequestIdConflict() from None
            continue
        log.info("promo code issued", extra={"batch": batch.pk, "actor": actor.label})
        return code, True
    raise IntegrityError("could not draw a free promo code in 5 attempts")


# --- Generation -------------------------------------------------------------------------


@transaction.atomic
def batch_generation_start(*, batch: CodeBatch, actor: Actor) -> GenerationJob:
    """Queue the job that fills `batch` up to its count (a personal batch: one code per
    recipient who has none yet); a job already queued or running is returned instead."""
    if batch.source != CodeBatch.Source.GENERATED:
        raise errors.BatchNotGenerated()
    # Two starts at once (a double click) must not make two jobs that both fill the batch.
    CodeBatch.objects.select_for_update().filter(pk=batch.pk).values_list("pk").first()
    running = batch.jobs.filter(
        status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING]
    ).first()
    if running is not None:
        return running
    # What is still missing, so starting again after a finished job (or after codes were
    # issued one by one) tops the batch up instead of making its codes a second time.
    if batch.is_personal:
        has_code = PromoCode.objects.filter(batch=batch, member_id=OuterRef("member_id"))
        requested = batch.recipients.filter(~Exists(has_code)).count()
    else:
        requested = max(0, batch.count - batch.codes.count())
    job = GenerationJob.objects.create(batch=batch, requested=requested)
    from promocodes.tasks import generation_job_run_task

    transaction.on_commit(lambda: generation_job_run_task.delay(job.pk))
    log.info("generation job queued", extra={"job": job.pk, "actor": actor.label})
    return job


# Runs of one job (the first and the resumed ones) before it is given up as FAILED: a
# job that keeps dying would otherwise be resumed every minute for ever.
JOB_ATTEMPTS_MAX = 5

# Chunks in a row that add no code before a job gives up: the batch's code space is
# (nearly) used up, and drawing again would spin forever.
STALLED_CHUNKS_MAX = 10


def generation_job_run(
    *, job_id: int, chunk_size: int = CHUNK_SIZE, random_bytes=secrets.token_bytes
) -> GenerationJob:
    """Make the job's codes chunk by chunk until it has exactly `requested` of them.

    Each chunk commits its codes together with the job's new `generated`, so a run that
    dies mid-way loses only the chunk in flight, and the next run (the resume task, or
    the broker redelivering the message) starts from the committed count: exactly the
    requested number of codes, none twice. Two runs of one job never overlap: each holds
    the job's advisory lock (PostgreSQL) for its whole run. A job whose chunks keep
    adding nothing (codes too short for the count) ends FAILED with the reason.
    """
    with _job_lock(job_id) as acquired:
        if not acquired:
            return GenerationJob.objects.get(pk=job_id)
        job = GenerationJob.objects.select_related("batch").get(pk=job_id)
        if job.status in (GenerationJob.Status.DONE, GenerationJob.Status.FAILED):
            return job
        now = timezone.now()
        if job.attempts >= JOB_ATTEMPTS_MAX:
            job.status = GenerationJob.Status.FAILED
            job.finished_at = now
            job.error = _stored(
                _("Given up after %(attempts)s runs that did not finish. Last error: %(error)s"),
                attempts=job.attempts,
                error=job.error or "—",
            )
            job.save(update_fields=["status", "finished_at", "error"])
            log.error("generation job given up", extra={"job": job_id})
            return job
        GenerationJob.objects.filter(pk=job_id).update(
            status=GenerationJob.Status.RUNNING,
            started_at=job.started_at or now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
        )
        try:
            stalled = 0
            while True:
                with transaction.atomic():
                    job = (
                        GenerationJob.objects.select_for_update()
                        .select_related("batch")
                        .get(pk=job_id)
                    )
                    wanted = min(chunk_size, job.requested - job.generated)
                    if wanted <= 0:
                        job.status = GenerationJob.Status.DONE
                        job.finished_at = job.heartbeat_at = timezone.now()
                        job.save(update_fields=["status", "finished_at", "heartbeat_at"])
                        log.info("generation job done", extra={"job": job_id})
                        return job
                    made, collisions = _codes_insert(job.batch, wanted, random_bytes)
                    job.generated += made
                    job.collisions += collisions
                    job.heartbeat_at = timezone.now()
                    fields = ["generated", "collisions", "heartbeat_at"]
                    if made == 0 and collisions == 0:
                        # A personal batch whose remaining recipients got their codes another
                        # way (issued one by one) meanwhile: nothing is left to make.
                        job.requested = job.generated
                        fields.append("requested")
                    stalled = stalled + 1 if made == 0 and collisions else 0
                    if stalled >= STALLED_CHUNKS_MAX:
                        job.status = GenerationJob.Status.FAILED
                        job.finished_at = job.heartbeat_at
                        job.error = _stored(
                            _(
                                "%(chunks)s chunks in a row made no new code: the batch's codes "
                                "are too short for its count. Make them longer and generate again."
                            ),
                            chunks=stalled,
                        )
                        fields += ["status", "finished_at", "error"]
                    job.save(update_fields=fields)
                    if job.status == GenerationJob.Status.FAILED:
                        log.error("generation job stalled", extra={"job": job_id})
                        return job

        except Exception as exc:
            # Kept for staff on the job's page; the resume task runs the job again, and
            # after JOB_ATTEMPTS_MAX runs it is given up as FAILED.
            GenerationJob.objects.filter(pk=job_id).update(error=f"{type(exc).__name__}: {exc}")
            raise


class _job_lock:
    """A session-level advisory lock on the job (PostgreSQL); SQLite runs one writer."""

    def __init__(self, job_id: int):
        self.job_id = job_id

    def __enter__(self) -> bool:
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_SPACE, self.job_id])
            self.acquired = cursor.fetchone()[0]
        return self.acquired

    def __exit__(self, *exc) -> None:
        if connection.vendor == "postgresql" and self.acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_SPACE, self.job_id])


_LOCK_SPACE = 7301  # advisory lock namespace of promo code generation jobs
_CODE = PromoCode._meta.db_table
_RECIPIENT = BatchRecipient._meta.db_table


def _codes_insert(batch: CodeBatch, wanted: int, random_bytes) -> tuple[int, int]:
    """Insert up to `wanted` new codes for `batch`; returns (inserted, collisions).

    Codes are made in memory and written with COPY; the rare chunk that hits an existing
    code is written again with INSERT … ON CONFLICT DO NOTHING, so collisions are skipped
    and the job tops them up with its next chunk.
    """
    fmt = batch.code_format
    members: list[int | None]
    if batch.is_personal:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT r.member_id FROM {_RECIPIENT} r
                    WHERE r.batch_id = %s AND NOT EXISTS (
                        SELECT 1 FROM {_CODE} c WHERE c.batch_id = r.batch_id
                            AND c.member_id = r.member_id)
                    ORDER BY r.member_id LIMIT %s""",
                [batch.pk, wanted],
            )
            members = [row[0] for row in cursor.fetchall()]
        wanted = len(members)
    else:
        members = [None] * wanted
    block = codes.codes_generate(fmt, wanted, random_bytes=random_bytes)
    texts = list(codes.codes_split(block, fmt))
    if connection.vendor == "postgresql":
        return _insert_postgresql(batch, texts, members)
    return _insert_portable(batch, texts, members)


def _insert_postgresql(batch, texts: list[str], members: list[int | None]) -> tuple[int, int]:
    from psycopg.errors import UniqueViolation

    columns = "(batch_id, code, member_id, max_uses, uses, status, request_id)"
    tail = f"\t{batch.uses_per_code}\t0\t{PromoCode.Status.ACTIVE}\t\n"
    try:
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.copy(f"COPY {_CODE} {columns} FROM STDIN") as copy,
        ):
            prefix = f"{batch.pk}\t"
            if batch.is_personal:
                copy.write(
                    "".join(f"{prefix}{t}\t{m}{tail}" for t, m in zip(texts, members, strict=True))
                )
            else:
                copy.write("".join(f"{prefix}{t}\t\\N{tail}" for t in texts))
        return len(texts), 0
    except (IntegrityError, UniqueViolation) as exc:
        # copy() raises psycopg's own error (Django wraps a cursor's execute(), not its
        # copy()); a wrapped one would carry it as its cause.
        if not isinstance(exc, UniqueViolation) and not isinstance(exc.__cause__, UniqueViolation):
            raise
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {_CODE} {columns}
                SELECT %s, t.code, t.member_id, %s, 0, %s, ''
                FROM unnest(%s::text[], %s::bigint[]) AS t(code, member_id)
                ON CONFLICT DO NOTHING""",
            [batch.pk, batch.uses_per_code, PromoCode.Status.ACTIVE, texts, members],
        )
        inserted = cursor.rowcount
    return inserted, len(texts) - inserted


def _insert_portable(batch, texts: list[str], members: list[int | None]) -> tuple[int, int]:
    rows = [
        PromoCode(batch=batch, code=t, member_id=m, max_uses=batch.uses_per_code)
        for t, m in zip(texts, members, strict=True)
    ]
    before = PromoCode.objects.filter(batch=batch).count()
    PromoCode.objects.bulk_create(rows, batch_size=5_000, ignore_conflicts=True)
    inserted = PromoCode.objects.filter(batch=batch).count() - before
    return inserted, len(texts) - inserted


def generation_jobs_resume(*, stale_after: dt.timedelta = dt.timedelta(minutes=2)) -> list[int]:
    """Queue again the jobs whose run died (no progress for `stale_after`); their ids."""
    from promocodes.tasks import generation_job_run_task

    cutoff = timezone.now() - stale_after
    stale = list(
        GenerationJob.objects.filter(
            status__in=[GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING],
            created_at__lt=cutoff,
        )
        .exclude(heartbeat_at__gte=cutoff)
        .values_list("pk", flat=True)
    )
    for job_id in stale:
        generation_job_run_task.delay(job_id)
    return stale


# --- Expiry -----------------------------------------------------------------------------


def promo_codes_expire(*, at: dt.datetime | None = None, batch_size: int = 50_000) -> int:
    """Mark the unused codes of batches past their window expired; returns how many.

    A used-up code stays as it is (it counts as redeemed, not expired). Set-based, one
    short transaction per `batch_size` codes (keyset on id, through the partial index of
    usable codes, so finished batches cost nothing); running it again marks nothing.
    """
    at = at or timezone.now()
    total = 0
    for batch in CodeBatch.objects.filter(valid_until__lte=at).only("pk"):
        last_id = 0
        while True:
            with transaction.atomic():
                ids = list(
                    PromoCode.objects.filter(
                        batch=batch,
                        status=PromoCode.Status.ACTIVE,
                        uses__lt=F("max_uses"),
                        id__gt=last_id,
                    )
                    .order_by("id")
                    .values_list("id", flat=True)[:batch_size]
                )
                if not ids:
                    break
                marked = PromoCode.objects.filter(
                    id__in=ids, status=PromoCode.Status.ACTIVE, uses__lt=F("max_uses")
                ).update(status=PromoCode.Status.EXPIRED)
                CodeBatch.objects.filter(pk=batch.pk).update(
                    expired_count=F("expired_count") + marked
                )
                total += marked
                last_id = ids[-1]
    return total


# --- Import -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    imported: int
    duplicates: list[str]
    invalid: list[tuple[int, str, str]]  # (line, text, why)


IMPORT_CHUNK = 5_000


@transaction.atomic
def codes_import(
    *, batch: CodeBatch, texts: list[str], actor: Actor, dry_run: bool = False
) -> ImportResult:
    """Add codes made elsewhere to an imported batch; all or nothing.

    Every text is normalised like typed input; a line that cannot be a code, or a code
    that exists already (in the file or any batch) refuses the whole file, so a
    half-imported file never has to be untangled. `dry_run` checks and writes nothing.
    Existing codes are looked up and new ones written in chunks (COPY on PostgreSQL).
    """
    if batch.source != CodeBatch.Source.IMPORTED:
        raise errors.BatchNotImported()
    invalid: list[tuple[int, str, str]] = []
    canonical: dict[str, int] = {}
    duplicates: list[str] = []
    for line, text in enumerate(texts, start=1):
        if not text.strip():
            continue
        try:
            code = codes.normalise(text, imported=True)
        except codes.CodeFormatError as exc:
            invalid.append((line, text, str(exc.message)))
            continue
        if code in canonical:
            duplicates.append(code)
        canonical.setdefault(code, line)
    new = list(canonical)
    existing: set[str] = set()
    for start in range(0, len(new), IMPORT_CHUNK):
        chunk = new[start : start + IMPORT_CHUNK]
        existing.update(PromoCode.objects.filter(code__in=chunk).values_list("code", flat=True))
    duplicates += sorted(existing)
    if invalid or duplicates:
        return ImportResult(imported=0, duplicates=duplicates, invalid=invalid)
    if dry_run:
        return ImportResult(imported=len(new), duplicates=[], invalid=[])
    write = _insert_postgresql if connection.vendor == "postgresql" else _insert_portable
    for start in range(0, len(new), CHUNK_SIZE):
        chunk = new[start : start + CHUNK_SIZE]
        inserted, _collisions = write(batch, chunk, [None] * len(chunk))
        if inserted != len(chunk):
            raise errors.ImportConflict()  # a concurrent import took some: roll back all
    CodeBatch.objects.filter(pk=batch.pk).update(count=F("count") + len(new))
    log.info("codes imported", extra={"batch": batch.pk, "count": len(new), "actor": actor.label})
    return ImportResult(imported=len(new), duplicates=[], invalid=[])
