"""Print a new key for TOKEN_ENCRYPTION_KEYS."""

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand

from webapp.encryption import key_id


class Command(BaseCommand):
    help = "Print a new Fernet key for TOKEN_ENCRYPTION_KEYS (put it first in the list)."

    def handle(self, *args: object, **options: object) -> None:
        key = Fernet.generate_key().decode()
        self.stdout.write(key)
        self.stderr.write(f"key id {key_id(key)}: put it first in TOKEN_ENCRYPTION_KEYS")
