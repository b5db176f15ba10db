"""Demo promo codes for `seed_demo`: a public 10% batch and personal 300 ₽ codes for
the best customers, made by the real generation job (run in-process)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from campaigns.models import Campaign
from members.models import Member
from promocodes import codes
from promocodes.models import BatchRecipient, CodeBatch, GenerationJob, PromoCode
from promocodes.services import generation_job_run

CAMPAIGN = "Зимняя распродажа"
PUBLIC_BATCH = "Зима: −10% по промокоду"
PERSONAL_BATCH = "Подарок 300 ₽ лучшим покупателям"
PUBLIC_CODES = 1000
PERSONAL_MEMBERS = 50


def promo_demo_ensure(*, now: dt.datetime, report) -> str:
    """Create the demo batches that are missing; returns one public code to try."""
    with transaction.atomic():
        campaign, created = Campaign.objects.get_or_create(
            name=CAMPAIGN, defaults={"description": "Демо: промокоды зимней распродажи."}
        )
        report.add("campaigns", int(created))
        public, created = CodeBatch.objects.get_or_create(
            name=PUBLIC_BATCH,
            defaults={
                "campaign": campaign,
                "count": PUBLIC_CODES,
                "valid_from": now - dt.timedelta(days=7),
                "valid_until": now + dt.timedelta(days=60),
                "reward_kind": CodeBatch.Reward.PERCENT,
                "reward_value": Decimal(10),
                "reward_cap": Decimal(1000),
            },
        )
        report.add("promo code batches", int(created))
        best = list(
            Member.objects.order_by("-tier__threshold", "id").values_list("id", flat=True)[
                :PERSONAL_MEMBERS
            ]
        )
        personal, created = CodeBatch.objects.get_or_create(
            name=PERSONAL_BATCH,
            defaults={
                "campaign": campaign,
                "count": len(best),
                "is_personal": True,
                "valid_from": now - dt.timedelta(days=7),
                "valid_until": now + dt.timedelta(days=30),
                "min_receipt": Decimal(1500),
                "reward_kind": CodeBatch.Reward.FIXED,
                "reward_value": Decimal(300),
            },
        )
        report.add("promo code batches", int(created))
        if created:
            BatchRecipient.objects.bulk_create(
                BatchRecipient(batch=personal, member_id=member_id) for member_id in best
            )
    for batch in (public, personal):
        if not batch.jobs.exists():
            requested = batch.recipients.count() if batch.is_personal else batch.count
            job = GenerationJob.objects.create(batch=batch, requested=requested)
            job = generation_job_run(job_id=job.pk)
            report.add("promo codes", job.generated)
    first = PromoCode.objects.filter(batch=public, uses=0).order_by("id").first()
    return codes.display(first.code) if first else ""
