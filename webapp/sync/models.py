"""The local copy of each connection's Keap contacts."""

from django.db import models

from webapp.connections.models import KeapConnection


class ContactQuerySet(models.QuerySet["Contact"]):
    def for_connection(self, connection: KeapConnection) -> "ContactQuerySet":
        return self.filter(connection=connection)


class Contact(models.Model):
    """One Keap contact as last synced, unique per connection and Keap id."""

    connection = models.ForeignKey(
        KeapConnection, on_delete=models.CASCADE, related_name="contacts"
    )
    keap_id = models.BigIntegerField()
    given_name = models.CharField(max_length=255, blank=True)
    family_name = models.CharField(max_length=255, blank=True)
    email = models.CharField("primary email", max_length=320, blank=True)
    email_addresses = models.JSONField(default=list, blank=True)
    phone_numbers = models.JSONField(default=list, blank=True)
    company = models.CharField(max_length=255, blank=True)
    tag_ids = models.JSONField(default=list, blank=True)
    keap_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ("family_name", "given_name", "keap_id")
        constraints = [
            models.UniqueConstraint(
                fields=("connection", "keap_id"), name="one_copy_per_keap_contact"
            )
        ]
        indexes = [models.Index(fields=("connection", "email"), name="contact_email")]

    def __str__(self) -> str:
        name = f"{self.given_name} {self.family_name}".strip()
        return name or self.email or f"Keap contact {self.keap_id}"
