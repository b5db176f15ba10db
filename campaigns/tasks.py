"""Celery entry points of campaigns; the work is in campaigns.services. Each is safe to
run twice and at once (the beat fires every minute, a redelivered task runs again)."""

from celery import shared_task
from django.utils import timezone

from campaigns.services import schedule


@shared_task(acks_late=True, reject_on_worker_lost=True)
def campaigns_advance_task() -> dict:
    from campaigns.services.events import referral_rewards_sweep

    counts = schedule.campaigns_advance()
    counts["referrals_looked_at"] = referral_rewards_sweep(at=timezone.now())
    return counts


@shared_task(acks_late=True, reject_on_worker_lost=True)
def offers_expire_task() -> int:
    return schedule.offers_expire()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def birthday_gifts_issue_task() -> int:
    # Imported here: the birthday mechanic lives with the purchase events it shares code with.
    from campaigns.services.events import birthday_gifts_issue

    return birthday_gifts_issue(at=timezone.now())
