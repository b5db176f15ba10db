"""Celery entry points; the work is in promocodes.services."""

from celery import shared_task

from promocodes import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generation_job_run_task(job_id: int) -> int:
    return services.generation_job_run(job_id=job_id).generated


@shared_task
def generation_jobs_resume_task() -> list[int]:
    return services.generation_jobs_resume()


@shared_task
def promo_codes_expire_task() -> int:
    return services.promo_codes_expire()
