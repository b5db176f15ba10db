"""Create an API key for a partner (creating the partner if missing); prints the key last.

    python manage.py create_partner_key "Интернет-магазин" --scopes members:read checkout
    python manage.py create_partner_key "Интернет-магазин" --expires-days 90

The key is shown once: only its hash is stored. Scripts read the last line.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from loyalty.models import Partner, PartnerAPIKey


class Command(BaseCommand):
    help = (
        "Create an API key for a partner, creating the partner (with every scope unless "
        "--scopes says otherwise) if missing. The key is printed on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("partner", help="Partner name (created if missing).")
        parser.add_argument(
            "--scopes",
            nargs="+",
            choices=Partner.Scope.values,
            metavar="SCOPE",
            help=(
                "Set the partner's scopes (default for a new partner: all of "
                f"{', '.join(Partner.Scope.values)}; an existing partner keeps its own)."
            ),
        )
        parser.add_argument("--expires-days", type=int, help="The key stops working after N days.")
        parser.add_argument(
            "--key-name", default="", help="A label for the key (default: the date)."
        )

    def handle(self, *args, partner: str, scopes, expires_days, key_name, **options):
        name = partner.strip()
        if not name:
            raise CommandError("The partner name is empty.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be 1 or more.")
        if scopes is not None:
            scopes = [s for s in Partner.Scope.values if s in scopes]  # ordered, no repeats
        now = timezone.now()
        with transaction.atomic():
            partner_obj, created = Partner.objects.get_or_create(
                name=name, defaults={"scopes": scopes or list(Partner.Scope.values)}
            )
            if not created and scopes is not None and scopes != partner_obj.scopes:
                partner_obj.scopes = scopes
                partner_obj.save(update_fields=["scopes"])
            api_key, key = PartnerAPIKey.objects.create_key(
                partner=partner_obj,
                name=(key_name or f"{now:%Y-%m-%d %H:%M}")[:50],
                expiry_date=now + dt.timedelta(days=expires_days) if expires_days else None,
            )
        self.stdout.write(
            f"{'Created' if created else 'Found'} partner “{partner_obj.name}” "
            f"(scopes: {', '.join(partner_obj.scopes) or 'none'})."
        )
        if not partner_obj.is_active:
            self.stderr.write("Warning: the partner is inactive; its keys are refused.")
        expiry = (
            f"expires {timezone.localtime(api_key.expiry_date):%Y-%m-%d %H:%M %Z}"
            if api_key.expiry_date
            else "no expiry"
        )
        self.stdout.write(f"New API key ({expiry}); it is shown only now. Send it as")
        self.stdout.write("  Authorization: Api-Key <key>")
        self.stdout.write(key)
