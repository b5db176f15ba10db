from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty program")

    def ready(self):
        from loyalty.schedule import sync_periodic_tasks

        # Setup, not domain logic: make sure the schedule defined in code exists in the
        # database (editable in admin) after every migrate.
        post_migrate.connect(sync_periodic_tasks, sender=self)
