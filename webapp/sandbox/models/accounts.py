"""Who may call: the developer app, tenants, Keap users and their seats, codes, grants, tokens and keys."""

import hmac
from datetime import datetime

from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models import Max

from webapp.sandbox.credentials import digest

KEAP_HOST_SUFFIX = ".infusionsoft.com"


class DeveloperApp(models.Model):
    """A Keap developer app (client id and secret) that customers can authorize."""

    name = models.CharField(max_length=100, default="Onramp")
    client_id = models.CharField(max_length=200, unique=True)
    client_secret_digest = models.CharField(max_length=64)
    redirect_uris = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.name

    def set_client_secret(self, secret: str) -> None:
        self.client_secret_digest = digest(secret)

    def check_client_secret(self, secret: str) -> bool:
        return hmac.compare_digest(self.client_secret_digest, digest(secret))

    def allows_redirect_uri(self, uri: str) -> bool:
        # Exact string match, as Keap documents: no prefix or host-only matching.
        return uri in self.redirect_uris


class Tenant(models.Model):
    """A Keap application (tenant) such as `ab123`, with its business profile."""

    app_name = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    email = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    phone_ext = models.CharField(max_length=10, blank=True)
    website = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=60, default="America/New_York")
    currency_code = models.CharField(max_length=3, default="USD")
    language_tag = models.CharField(max_length=20, default="en-US")
    business_type = models.CharField(max_length=100, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    address_locality = models.CharField(max_length=100, blank=True)
    address_region = models.CharField(max_length=100, blank=True)
    address_postal_code = models.CharField(max_length=20, blank=True)
    address_country_code = models.CharField(max_length=3, default="USA")
    # The highest contact id this tenant ever gave out. Keap never gives an id out twice, so a
    # deleted contact's id never comes back on the next one (a sync keyed on ids relies on it).
    contact_id_high = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["app_name"]

    def __str__(self) -> str:
        return self.app_name

    @property
    def host(self) -> str:
        """The tenant's Keap host, as in `x-keap-tenant-id` and the token's scope."""
        return f"{self.app_name}{KEAP_HOST_SUFFIX}"

    @property
    def scope(self) -> str:
        return f"full|{self.host}"

    def issue_contact_ids(self, count: int) -> range:
        """`count` new contact ids, above every id this tenant ever had.

        Call it holding the write lock, inside the transaction that stores them.
        """
        stored = Tenant.objects.filter(pk=self.pk).values_list("contact_id_high", flat=True).get()
        # Also above what is there, should anything have written ids without noting them.
        present = self.contacts.aggregate(top=Max("keap_id"))["top"] or 0
        start = max(stored, present) + 1
        self.note_contact_ids(start + count - 1)
        return range(start, start + count)

    def note_contact_ids(self, high: int) -> None:
        """Remember that ids up to `high` were given out (by a seed that picks its own ids)."""
        Tenant.objects.filter(pk=self.pk, contact_id_high__lt=high).update(contact_id_high=high)
        self.contact_id_high = max(self.contact_id_high, high)


class KeapUser(models.Model):
    """A person who signs in to Keap and can authorize apps on the tenants they belong to."""

    email = models.CharField(max_length=200, unique=True)
    password = models.CharField(max_length=200)
    given_name = models.CharField(max_length=40)
    family_name = models.CharField(max_length=40)
    middle_name = models.CharField(max_length=40, blank=True)
    preferred_name = models.CharField(max_length=40, blank=True)
    global_user_id = models.BigIntegerField(unique=True)
    infusionsoft_id = models.CharField(max_length=200, unique=True)
    tenants = models.ManyToManyField(Tenant, through="Membership", related_name="users")

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def set_password(self, raw: str) -> None:
        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        return check_password(raw, self.password)


class Membership(models.Model):
    """A Keap user's seat in one tenant."""

    keap_user = models.ForeignKey(KeapUser, on_delete=models.CASCADE)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    is_admin = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["keap_user", "tenant"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.keap_user_id} in {self.tenant_id}"


class AuthorizationCode(models.Model):
    """A single-use code from the consent page, bound to app, redirect URI, tenant and user."""

    code_digest = models.CharField(max_length=64, unique=True)
    developer_app = models.ForeignKey(DeveloperApp, on_delete=models.CASCADE)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    keap_user = models.ForeignKey(KeapUser, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    # What the authorization request carried, for the record the controls show. Keap documents no
    # PKCE (docs/keap/API.md §1.2): the challenge is checked only behind the `enforce_pkce` switch.
    state = models.CharField(max_length=256, blank=True)
    code_challenge = models.CharField(max_length=200, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        # Never the code itself (only its digest is stored anyway).
        return f"code #{self.pk} for tenant {self.tenant_id}"


class CodeExchange(models.Model):
    """One authorization-code exchange the token endpoint received, and how it was answered.

    Simulator-only, so tests can see what a client really sent. The verifier is kept only as its
    S256 transform, the value PKCE compares with the challenge, never as sent.
    """

    code = models.ForeignKey(AuthorizationCode, null=True, blank=True, on_delete=models.SET_NULL)
    redirect_uri = models.TextField(blank=True)
    code_verifier_s256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"code exchange #{self.pk}"


class GrantQuerySet(models.QuerySet["Grant"]):
    def revoke(self, *, now: datetime) -> int:
        """Kill every token of these grants, as a user removing the app's access in Keap does."""
        grant_ids = list(self.values_list("pk", flat=True))
        AccessToken.objects.filter(grant_id__in=grant_ids).delete()
        return Grant.objects.filter(pk__in=grant_ids).update(
            refresh_token_digest=None, refresh_expires_at=None, revoked_at=now
        )


class Grant(models.Model):
    """One developer app's access to one tenant on behalf of one Keap user.

    Holds the single current refresh token: Keap rotates refresh tokens and the old one dies at
    once (docs/keap/API.md §1.6), so there is never more than one per grant.
    """

    developer_app = models.ForeignKey(DeveloperApp, on_delete=models.CASCADE)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    keap_user = models.ForeignKey(KeapUser, on_delete=models.CASCADE)
    refresh_token_digest = models.CharField(max_length=64, unique=True, null=True, blank=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    # The code this chain of tokens descends from, so a replayed code can revoke exactly them.
    origin_code = models.ForeignKey(
        AuthorizationCode, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["developer_app", "tenant", "keap_user"], name="unique_grant"
            )
        ]

    def __str__(self) -> str:
        return f"grant #{self.pk} (tenant {self.tenant_id}, user {self.keap_user_id})"


class AccessToken(models.Model):
    """A bearer token for the REST and XML-RPC API, stored only as its digest."""

    token_digest = models.CharField(max_length=64, unique=True)
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="access_tokens")
    origin_code = models.ForeignKey(
        AuthorizationCode, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"access token #{self.pk} of grant #{self.grant_id}"


class ApiKey(models.Model):
    """A Personal Access Token or Service Account Key, sent as `X-Keap-API-Key`.

    Keap's rules for both are in docs/keap/API.md §1.10.
    """

    PAT = "pat"
    SAK = "sak"
    KINDS = [(PAT, "Personal Access Token"), (SAK, "Service Account Key")]

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    # A PAT acts as the user who made it; a SAK as the tenant's first admin.
    keap_user = models.ForeignKey(KeapUser, on_delete=models.CASCADE)
    kind = models.CharField(max_length=3, choices=KINDS)
    key_digest = models.CharField(max_length=64, unique=True)
    # The first characters, so a person can tell keys apart on the control page.
    hint = models.CharField(max_length=16)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.hint}… for {self.tenant_id}"
