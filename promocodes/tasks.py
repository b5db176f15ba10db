"""Celery entry points; the work is in promocodes.services."""

from celery import shared_task

from promocodes import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def generation_job_run_task(job_id: int, chunk_size: int | None = None) -> int:
    """Run a generation job; `chunk_size` (codes per transaction) is for tests and
    benchmarks, the service's default suits production."""
    kwargs = {"chunk_size": chunk_size} if chunk_size else {}
    return services.generation_job_run(job_id=job_id, **kwargs).generated


@shared_task
def generation_jobs_resume_task() -> list[int]:
    return services.generation_jobs_resume()


@shared_task
def promo_codes_expire_task() -> int:
    return services.promo_codes_expire()
