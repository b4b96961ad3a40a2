"""What the sandbox counts and switches: request counts, the clock, settings, quota windows, traffic, faults."""

from django.db import IntegrityError, models, transaction
from django.db.models import F


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


class Setting(models.Model):
    """A runtime override of one switch or limit set through the control API (env is the default)."""

    name = models.CharField(max_length=60, primary_key=True)
    value = models.JSONField()

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


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
