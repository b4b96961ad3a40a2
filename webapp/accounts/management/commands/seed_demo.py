"""Create the demo customer and staff user that `make run` prints. Safe to run again."""

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from webapp.accounts.models import User

DEMO_USERS = (
    # email, password, is_staff
    ("demo@onramp.test", "onramp-demo", False),
    ("staff@onramp.test", "onramp-staff", True),
)


class Command(BaseCommand):
    help = "Create a demo customer and a staff user with known passwords (development only)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (never in production)."
        )

    def handle(self, *args: object, force: bool = False, **options: object) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with known passwords; it refuses to run "
                "with DEBUG off unless given --force."
            )
        for email, password, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(email=email)
            if created:
                user.set_password(password)
            user.is_staff = user.is_superuser = is_staff
            user.save()
            # Mark the address confirmed, so the demo can sign in without reading the console mail.
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            self.stdout.write(f"{'Created' if created else 'Kept'} {email}")
