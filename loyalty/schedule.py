"""The beat schedule: defined in settings.LOYALTY_PERIODIC_TASKS, kept in the database."""

from django.conf import settings


def sync_periodic_tasks(**kwargs) -> None:
    """Create the periodic tasks that are missing; never overwrite what staff changed."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    for name, spec in settings.LOYALTY_PERIODIC_TASKS.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab, _created = CrontabSchedule.objects.get_or_create(
            timezone=settings.TIME_ZONE,
            **dict.fromkeys(("minute", "hour", "day_of_week", "day_of_month", "month_of_year"), "*")
            | spec["crontab"],
        )
        PeriodicTask.objects.create(
            name=name, task=spec["task"], crontab=crontab, description=str(spec["description"])
        )
