"""Celery tasks of the program app: thin interfaces over its services; safe to run twice."""

from celery import shared_task

from loyalty.services import idempotency_records_prune


@shared_task(name="loyalty.tasks.idempotency_records_prune_task", acks_late=True)
def idempotency_records_prune_task() -> int:
    return idempotency_records_prune()
