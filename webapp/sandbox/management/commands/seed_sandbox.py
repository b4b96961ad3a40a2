from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.sandbox import seed
from webapp.sandbox.models import Tenant


class Command(BaseCommand):
    help = (
        "Migrate the Keap sandbox database and seed it (developer app, tenants, users, "
        "campaigns, contacts). Idempotent; --contacts N replaces each tenant's contacts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Only register the developer app when tenants exist already.",
        )
        parser.add_argument(
            "--contacts",
            type=int,
            default=None,
            help="Replace each tenant's contacts with N deterministic ones.",
        )
        parser.add_argument(
            "--tenant",
            action="append",
            default=None,
            help="Only these tenants' contacts (repeatable; default all).",
        )

    def handle(
        self,
        *args: Any,
        if_empty: bool = False,
        contacts: int | None = None,
        tenant: list[str] | None = None,
        **options: Any,
    ) -> None:
        # Seeding a fresh file must just work (`make run` seeds before it serves).
        call_command("migrate", interactive=False, verbosity=0)
        if if_empty and seed.is_seeded():
            seed.register_developer_app()
            seed.ensure_records()
            self.stdout.write("Keap sandbox already seeded; developer app re-registered.")
            return
        seed.seed()
        if contacts is None:
            seed.seed_missing_contacts(settings.SANDBOX_SEED_CONTACTS)
            self.stdout.write("Keap sandbox seeded.")
            return
        if contacts < 0:
            raise CommandError("--contacts must be 0 or more")
        tenants = Tenant.objects.all()
        if tenant:
            tenants = tenants.filter(app_name__in=tenant)
        for row in tenants:
            seed.seed_contacts(row, contacts)
        self.stdout.write(f"Keap sandbox seeded with {contacts} contacts per tenant.")
