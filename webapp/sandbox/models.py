"""What the sandbox remembers: the developer app, tenants, users, tokens, contacts, goals, quotas."""

import hmac
from datetime import datetime

from django.contrib.auth.hashers import check_password, make_password
from django.db import IntegrityError, models, transaction
from django.db.models import F

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
    # Recorded but not enforced: Keap documents no PKCE (docs/keap/API.md §1.2). Kept so a switch
    # can enforce.
    code_challenge = models.CharField(max_length=200, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        # Never the code itself (only its digest is stored anyway).
        return f"code #{self.pk} for tenant {self.tenant_id}"


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


class RequestCount(models.Model):
    """How many requests the sandbox saw per endpoint name, shared by every worker."""

    name = models.CharField(max_length=100, unique=True)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.count}"

    @classmethod
    def increment(cls, name: str) -> None:
        # An UPDATE with F() is atomic across workers; only the first request for a name inserts,
        # and a concurrent first insert is resolved by the unique constraint.
        if cls.objects.filter(name=name).update(count=F("count") + 1):
            return
        try:
            with transaction.atomic():
                cls.objects.create(name=name, count=1)
        except IntegrityError:
            cls.objects.filter(name=name).update(count=F("count") + 1)


class ClockOffset(models.Model):
    """Seconds the sandbox clock runs ahead of real time (one row, pk=1)."""

    # A float so tests can step a sliding window by fractions of a second.
    seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"clock +{self.seconds}s"


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


class Setting(models.Model):
    """A runtime override of one switch or limit set through the control API (env is the default)."""

    name = models.CharField(max_length=60, primary_key=True)
    value = models.JSONField()

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


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


class QuotaEvent(models.Model):
    """One admitted API request, kept for 60 s: the log the sliding windows count over."""

    principal = models.CharField(max_length=40)
    tenant_id = models.BigIntegerField()
    ts = models.FloatField()

    class Meta:
        indexes = [
            models.Index(fields=["principal", "ts"], name="quota_principal_ts"),
            models.Index(fields=["tenant_id", "ts"], name="quota_tenant_ts"),
            models.Index(fields=["ts"], name="quota_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.principal} at {self.ts}"


class QuotaDay(models.Model):
    """Requests admitted on one UTC day for one principal ("app:1", "key:7") or tenant ("tenant:3")."""

    key = models.CharField(max_length=40)
    day = models.IntegerField()
    used = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "day"], name="unique_quota_day")]

    def __str__(self) -> str:
        return f"{self.key} day {self.day}: {self.used}"


class TrafficCount(models.Model):
    """Authenticated API calls per tenant and endpoint, and how many of them got a 429."""

    tenant = models.CharField(max_length=40)
    endpoint = models.CharField(max_length=100)
    calls = models.BigIntegerField(default=0)
    throttled = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "endpoint"], name="unique_traffic_count")
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.endpoint}: {self.calls}"


class Fault(models.Model):
    """An injected misbehaviour: latency, a 5xx, a timeout or a malformed body.

    Applies to one tenant or all (tenant empty), optionally only under a path prefix, either with
    a probability or to the next `remaining` matching requests (deterministic, for tests).
    """

    KINDS = ["latency", "error", "timeout", "malformed"]

    kind = models.CharField(max_length=10)
    tenant = models.CharField(max_length=40, blank=True)
    path_prefix = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict)
    probability = models.FloatField(null=True, blank=True)
    remaining = models.IntegerField(null=True, blank=True)
    seen = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.kind} fault #{self.pk}"


class LegacyBucket(models.Model):
    """The legacy XML-RPC token bucket of one tenant (docs/keap/API.md §4.4)."""

    tenant_id = models.BigIntegerField(primary_key=True)
    tokens = models.FloatField()
    updated_ts = models.FloatField()
    throttled_threads = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"bucket of tenant {self.tenant_id}: {self.tokens}"


class HookSubscription(models.Model):
    """A REST hook subscription (docs/keap/API.md §2.5): one event key, one URL, one status.

    It belongs to its tenant and to the caller that created it (`principal`, as the quota
    meters callers: "app:<id>" for a developer app's tokens, "key:<id>" for a PAT/SAK), so
    another developer app connected to the same tenant neither sees nor changes it.
    """

    UNVERIFIED = "Unverified"
    VERIFIED = "Verified"
    INACTIVE = "Inactive"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="hooks")
    principal = models.CharField(max_length=40)
    developer_app = models.ForeignKey(
        DeveloperApp, null=True, blank=True, on_delete=models.SET_NULL
    )
    event_key = models.CharField(max_length=60)
    hook_url = models.TextField()
    status = models.CharField(max_length=12, default=UNVERIFIED)
    # Only the digest of the latest X-Hook-Secret sent: /delayedVerify compares against it.
    secret_digest = models.CharField(max_length=64, blank=True)
    # Scheme and host the creator reached the sandbox on: deliveries' apiUrl points there.
    api_base = models.CharField(max_length=200)
    # The latest confirmation round: when, what the receiver answered, whether it echoed.
    confirmation = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    inactive_at = models.DateTimeField(null=True, blank=True)
    inactive_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "event_key", "status"], name="hook_matching"),
        ]

    def __str__(self) -> str:
        return f"hook {self.pk} {self.event_key} ({self.status})"

    @property
    def key(self) -> str:
        return str(self.pk)


class HookEvent(models.Model):
    """A change waiting for its subscription's next delivery (the 30-60 s before the first try)."""

    subscription = models.ForeignKey(HookSubscription, on_delete=models.CASCADE)
    object_id = models.BigIntegerField()
    changed_ms = models.BigIntegerField()
    # Sandbox epoch seconds at which the change may go out.
    due_ts = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["due_ts"], name="hookevent_due")]

    def __str__(self) -> str:
        return f"object {self.object_id} for hook {self.subscription_id}"


class HookDelivery(models.Model):
    """One batch of object keys for one subscription, with every attempt to send it.

    `state` moves pending -> sending (claimed by exactly one sender) -> delivered, or back to
    pending for a retry, or to failed (fourth failure, or a 410). A batch never sent ends as
    dropped (an injected fault) or discarded (its subscription stopped being Verified).
    """

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    DROPPED = "dropped"
    DISCARDED = "discarded"

    subscription = models.ForeignKey(HookSubscription, on_delete=models.CASCADE)
    tenant = models.CharField(max_length=40)
    event_key = models.CharField(max_length=60)
    object_keys = models.JSONField(default=list)
    first_change_ms = models.BigIntegerField()
    # Sandbox epoch seconds: when the batch was formed, when it may next be tried, when done.
    formed_ts = models.FloatField()
    next_ts = models.FloatField()
    finished_ts = models.FloatField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    state = models.CharField(max_length=10, default=PENDING)
    # The sender holding it, and until when in real time (a dead worker's claim lapses).
    claim = models.CharField(max_length=32, blank=True)
    lease_until = models.FloatField(default=0)
    delayed = models.BooleanField(default=False)
    log = models.JSONField(default=list)

    class Meta:
        indexes = [
            models.Index(fields=["state", "next_ts"], name="hookdelivery_due"),
            models.Index(fields=["subscription", "state"], name="hookdelivery_sub"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of hook {self.subscription_id} ({self.state})"


class HookFault(models.Model):
    """An injected delivery misbehaviour: drop, delay, duplicate, reorder, or an answer the
    sandbox pretends its receiver gave (error status or timeout). Like `Fault`: one tenant or
    all, for the next `remaining` deliveries or with a probability."""

    KINDS = ["drop", "delay", "duplicate", "reorder", "error", "timeout"]

    kind = models.CharField(max_length=10)
    tenant = models.CharField(max_length=40, blank=True)
    params = models.JSONField(default=dict)
    probability = models.FloatField(null=True, blank=True)
    remaining = models.IntegerField(null=True, blank=True)
    seen = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.kind} hook fault #{self.pk}"


class ContactPlayer(models.Model):
    """Edits made in Keap's own web app, played at a steady rate for one tenant.

    Any worker's deliverer loop advances it: `played` is claimed with a conditional UPDATE, so
    two workers never play the same changes.
    """

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    # The mix of changes, as weights.
    adds = models.IntegerField(default=0)
    edits = models.IntegerField(default=0)
    deletes = models.IntegerField(default=0)
    rate = models.FloatField()
    started_ts = models.FloatField()
    ends_ts = models.FloatField(null=True, blank=True)
    played = models.IntegerField(default=0)
    added = models.IntegerField(default=0)
    edited = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    state = models.CharField(max_length=10, default=RUNNING)

    def __str__(self) -> str:
        return f"player {self.pk} for tenant {self.tenant_id} ({self.state})"
