"""A tenant's records in Keap: contacts, tags, companies, campaigns with their API goals, and goal
achievements."""

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


class TagCategory(models.Model):
    """A category that groups a tenant's tags."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tag_categories")
    keap_id = models.BigIntegerField()
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "keap_id"], name="unique_tag_category_id")
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A tag (Keap's "contact group"). Which contacts carry it, and since when, lives on each
    contact (`Contact.data`'s `tag_ids` and `tag_applied`), where the renderers read it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tags")
    keap_id = models.BigIntegerField()
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)
    category = models.ForeignKey(TagCategory, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "keap_id"], name="unique_tag_id")]

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    """A company in one tenant; contacts name it by id (`Contact.company_id`)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="companies")
    keap_id = models.BigIntegerField()
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    website = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_locality = models.CharField(max_length=100, blank=True)
    address_region = models.CharField(max_length=100, blank=True)
    address_zip_code = models.CharField(max_length=20, blank=True)
    address_country_code = models.CharField(max_length=3, blank=True)
    created_ms = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "keap_id"], name="unique_company_id")
        ]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """A Campaign Builder campaign; only its API goals matter to the sandbox."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    published = models.BooleanField(default=True)
    # Epoch milliseconds; campaigns seeded before it was kept have none.
    created_ms = models.BigIntegerField(null=True, blank=True)

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
