"""Celery tasks: thin interfaces over the services; safe to run twice."""

from celery import shared_task

from members.services import points_expire, tier_review


@shared_task(name="members.tasks.points_expire_task", acks_late=True)
def points_expire_task() -> int:
    return points_expire()


@shared_task(name="members.tasks.tier_review_task", acks_late=True)
def tier_review_task() -> dict:
    moves = tier_review()
    return {"up": moves.up, "down": moves.down}
