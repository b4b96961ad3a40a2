from django.core.management import call_command
from django.core.management.base import BaseCommand

from webapp.sandbox import seed


class Command(BaseCommand):
    help = (
        "Migrate the Keap sandbox database and seed it (developer app, tenants, users). Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Only register the developer app when tenants exist already.",
        )

    def handle(self, *args, if_empty: bool = False, **options):
        # Seeding a fresh file must just work (`make run` seeds before it serves).
        call_command("migrate", interactive=False, verbosity=0)
        if if_empty and seed.is_seeded():
            seed.register_developer_app()
            self.stdout.write("Keap sandbox already seeded; developer app re-registered.")
            return
        seed.seed()
        self.stdout.write("Keap sandbox seeded.")
