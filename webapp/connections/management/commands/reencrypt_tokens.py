"""Re-seal every stored secret with the newest key in TOKEN_ENCRYPTION_KEYS."""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Model

from webapp import encryption

# The convention that finds them: every model field whose name ends in `_sealed` holds a value
# sealed by webapp.encryption (connection tokens today, developer app secrets tomorrow).
SUFFIX = "_sealed"
# allauth.mfa keeps its sealed values (webapp.accounts.adapter) inside a JSON field instead.
MFA_SEALED_KEYS = ("secret", "seed")


def sealed_fields(model: type[Model]) -> list[str]:
    return [field.name for field in model._meta.concrete_fields if field.name.endswith(SUFFIX)]


class Command(BaseCommand):
    help = (
        "Re-encrypt every sealed value (Keap tokens, secrets) with the newest key. Run it after "
        "putting a new key first in TOKEN_ENCRYPTION_KEYS; then the old key can be removed."
    )

    def handle(self, *args: object, **options: object) -> None:
        newest = encryption.configured_keys()[0].id
        totals = {"rows": 0, "resealed": 0, "current": 0, "empty": 0}
        failures: list[str] = []
        for model in apps.get_models():
            fields = sealed_fields(model)
            if not fields:
                continue
            for pk in model._default_manager.values_list("pk", flat=True).iterator():
                # One row at a time, locked: a token refresh running now cannot be overwritten.
                with transaction.atomic():
                    row = model._default_manager.select_for_update().filter(pk=pk).first()
                    if row is None:
                        continue
                    totals["rows"] += 1
                    changed = []
                    for name in fields:
                        label = f"{model._meta.label} {pk} {name}"
                        resealed = _reseal(getattr(row, name), label, totals, failures)
                        if resealed is not None:
                            setattr(row, name, resealed)
                            changed.append(name)
                    if changed:
                        row.save(update_fields=changed)
        self._reseal_authenticators(totals, failures)
        self.stdout.write(
            f"Newest key {newest}: {totals['rows']} rows checked, {totals['resealed']} values "
            f"re-encrypted, {totals['current']} already on the newest key, {totals['empty']} empty, "
            f"{len(failures)} failed."
        )
        if failures:
            for failure in failures:
                self.stderr.write(failure)
            raise CommandError(
                f"{len(failures)} values could not be opened with the configured keys; "
                "they were left as they are. Add the key that sealed them and run this again."
            )

    def _reseal_authenticators(self, totals: dict[str, int], failures: list[str]) -> None:
        """Two-factor secrets (TOTP secret, recovery-code seed) in allauth's Authenticator.data."""
        from allauth.mfa.models import Authenticator

        for pk in Authenticator.objects.values_list("pk", flat=True).iterator():
            with transaction.atomic():
                row = Authenticator.objects.select_for_update().filter(pk=pk).first()
                if row is None:
                    continue
                totals["rows"] += 1
                changed = False
                for key in MFA_SEALED_KEYS:
                    if key not in row.data:
                        continue
                    label = f"{Authenticator._meta.label} {pk} {key}"
                    resealed = _reseal(row.data[key], label, totals, failures)
                    if resealed is not None:
                        row.data[key] = resealed
                        changed = True
                if changed:
                    row.save(update_fields=["data"])


def _reseal(value: str, label: str, totals: dict[str, int], failures: list[str]) -> str | None:
    """The value sealed with the newest key, or None when it is empty, already there, or cannot
    be opened (recorded in `failures`, left as it is)."""
    if not value:
        totals["empty"] += 1
        return None
    try:
        if not encryption.needs_reseal(value):
            totals["current"] += 1
            return None
        resealed = encryption.encrypt(encryption.decrypt(value))
    except encryption.DecryptionError as exc:
        failures.append(f"{label}: {exc}")
        return None
    totals["resealed"] += 1
    return resealed
