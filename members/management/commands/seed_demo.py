"""Load the demo data: `python manage.py seed_demo` (safe to run again)."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the demo program: stores MSK-01, SPB-01, EKB-01, users admin, marketer and "
        "cashier, a partner API key, and members with 18 months of purchases and refunds. "
        "Creates only what is missing, so a second run adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=2000, help="Members to create.")
        parser.add_argument("--purchases", type=int, default=20000, help="Purchases to create.")
        parser.add_argument("--months", type=int, default=18, help="Months of history.")
        parser.add_argument("--seed", type=int, default=2026, help="Random seed of the plan.")
        parser.add_argument(
            "--key-file",
            type=Path,
            default=settings.VAR_DIR / "demo-partner-key.txt",
            help="Where the demo partner's plain API key is kept (written once).",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Load demo users with known passwords even with DEBUG off.",
        )

    def handle(self, *args, **options):
        if not (settings.DEBUG or settings.TESTING or options["allow_production"]):
            raise CommandError(
                "Refusing to create demo users with known passwords while DEBUG is off; "
                "pass --allow-production if this really is a demo installation."
            )
        if min(options["members"], options["purchases"], options["months"]) < 1:
            raise CommandError("--members, --purchases and --months must be 1 or more.")
        # Imported here: it needs Faker, a development requirement, and a production
        # install should get the refusal above rather than an ImportError.
        from members import demo

        started = time.monotonic()
        report = demo.demo_seed(
            members=options["members"],
            purchases=options["purchases"],
            months=options["months"],
            seed=options["seed"],
            key_file=options["key_file"],
            progress=lambda msg: self.stdout.write(msg),
        )
        elapsed = time.monotonic() - started
        if report.created:
            made = ", ".join(f"{count} {what}" for what, count in report.created.items())
            self.stdout.write(self.style.SUCCESS(f"Demo data created in {elapsed:.1f} s: {made}."))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Demo data already loaded, nothing to add ({elapsed:.1f} s).")
            )
        self.stdout.write("")
        self.stdout.write("Demo logins (user / password):")
        for user in demo.DEMO_USERS:
            self.stdout.write(f"  {user.username:<9} / {user.password:<14} {user.role}")
        self.stdout.write(f"Demo partner API key ({demo.PARTNER_NAME}):")
        self.stdout.write(f"  Authorization: Api-Key {report.partner_key}")
        self.stdout.write(f"  (kept in {report.partner_key_file})")
        if report.promo_code:
            self.stdout.write(f"A 10% promo code to try at the cashier desk: {report.promo_code}")
