"""Create the demo customer and staff user that `make run` prints. Safe to run again.

Staff must sign in with a second factor, so the demo staff user gets an authenticator (TOTP) and
recovery codes; the secret is printed every run, to be added to an authenticator app.
"""

from allauth.account.models import EmailAddress
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.accounts.models import User

DEMO_USERS = (
    # email, password, is_staff
    ("demo@onramp.test", "onramp-demo", False),
    ("staff@onramp.test", "onramp-staff", True),
)


class Command(BaseCommand):
    help = "Create a demo customer and a staff user with known passwords (development only)."

    def add_arguments(self, parser: CommandParser) -> None:
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
            if is_staff:
                self._show_totp(user)

    def _show_totp(self, user: User) -> None:
        """Give the staff user an authenticator (once) and print how to get its codes."""
        totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if totp is None:
            TOTP.activate(user, generate_totp_secret())
            totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
        RecoveryCodes.activate(user)
        secret = decrypt(totp.data["secret"])
        uri = get_mfa_adapter().build_totp_url(user, secret)
        self.stdout.write(
            f"  two-factor for {user.email}: add this secret to an authenticator app: {secret}\n"
            f"  ({uri})\n"
            f"  or print the current code: .venv/bin/python -c "
            f"\"import pyotp; print(pyotp.TOTP('{secret}').now())\""
        )
