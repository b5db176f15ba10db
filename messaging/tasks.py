"""Celery entry points; the work is in messaging.services."""

from celery import shared_task
from django.conf import settings

from messaging import services


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def messages_deliver_task(self, batch_size: int | None = None) -> int:
    """Deliver due messages for up to MESSAGES_DELIVERY_RUN_SECONDS; if some are still
    due then, queue another run (on the same queue) instead of holding the worker longer."""
    kwargs = {"batch_size": batch_size} if batch_size else {}
    stats = services.messages_deliver(time_budget=settings.MESSAGES_DELIVERY_RUN_SECONDS, **kwargs)
    if services.messages_due():
        queue = (self.request.delivery_info or {}).get("routing_key")
        messages_deliver_task.apply_async(args=[batch_size], queue=queue)
    return stats.handled


@shared_task(acks_late=True)
def surveys_queue_due_task() -> int:
    return services.surveys_queue_due()
