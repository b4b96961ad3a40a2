"""A tenant's records in Keap: contacts, campaigns with their API goals, and goal achievements."""

from django.db import models

from webapp.sandbox.models.accounts import Tenant


class Contact(models.Model):
    """A contact in one tenant. `keap_id` is the id Keap shows; ids are per tenant, as in Keap.

    Columns hold what is filtered and sorted on; everything else lives in `data` in a neutral
    shape that the v1 and v2 serialisers each render in their own dialect.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    keap_id = models.BigIntegerField()
    given_name = models.CharField(max_length=100, blank=True)
    middle_name = models.CharField(max_length=100, blank=True)
    family_name = models.CharField(max_length=100, blank=True)
    # "|a@x.test|b@y.test|", lowercased: exact and prefix matches on any address by LIKE.
    email_key = models.CharField(max_length=400, blank=True)
    email1 = models.CharField(max_length=200, blank=True)
    company_id = models.BigIntegerField(null=True, blank=True)
    # Epoch milliseconds on the sandbox clock: compact, and exact to compare and page on.
    created_ms = models.BigIntegerField()
    updated_ms = models.BigIntegerField()
    data = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "keap_id"], name="unique_contact_id")
        ]
        indexes = [models.Index(fields=["tenant", "updated_ms", "keap_id"], name="contact_upd")]

    def __str__(self) -> str:
        return f"contact {self.keap_id} of tenant {self.tenant_id}"


class Campaign(models.Model):
    """A Campaign Builder campaign; only its API goals matter to the sandbox."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    published = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class Goal(models.Model):
    """An API goal: achieved by (integration, call name), or by campaign id and goal id in v2."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="goals")
    name = models.CharField(max_length=200)
    integration = models.CharField(max_length=100)
    call_name = models.CharField(max_length=100)

    class Meta:
        indexes = [models.Index(fields=["integration", "call_name"], name="goal_lookup")]

    def __str__(self) -> str:
        return f"{self.integration}/{self.call_name}"


class GoalAchievement(models.Model):
    """One achieve-goal call that the sandbox accepted, with the goals it fired."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    contact_id = models.BigIntegerField()
    integration = models.CharField(max_length=100, blank=True)
    call_name = models.CharField(max_length=100, blank=True)
    goal_ids = models.JSONField(default=list)
    api = models.CharField(max_length=10)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.integration}/{self.call_name} for contact {self.contact_id}"
