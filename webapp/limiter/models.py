"""Tables of the database limiter (the embedded default; production uses Redis).

They hold the same state as the Redis keys (see redis_backend.py) and stay as small: grants older
than a minute and days before yesterday are deleted as the limiter goes.
"""

from django.db import models


class AppLock(models.Model):
    """One row per developer app; every decision holds its row lock, so decisions for one app run
    one at a time across processes (on SQLite the IMMEDIATE transaction already locks the file)."""

    app = models.CharField(max_length=255, primary_key=True)

    def __str__(self) -> str:
        return self.app


class Grant(models.Model):
    """A call granted within the last minute, or a phantom grant added to match Keap's counts."""

    class Scope(models.TextChoices):
        GRANT = "g", "grant (counts in every window)"
        APP_MINUTE = "a", "reconciled: app minute only"
        TENANT_MINUTE = "t", "reconciled: tenant minute only"

    app = models.CharField(max_length=255)
    tenant = models.CharField(max_length=255)
    lane = models.CharField(max_length=1)
    scope = models.CharField(max_length=1, choices=Scope.choices, default=Scope.GRANT)
    at_us = models.BigIntegerField()
    # Granted and not yet settled: its call may reach Keap at any moment, so it counts in the app's
    # second as if granted now (see base.py).
    in_flight = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["app", "at_us"], name="limiter_grant_app_at"),
            models.Index(fields=["app", "tenant", "at_us"], name="limiter_grant_tenant_at"),
        ]

    def __str__(self) -> str:
        return f"{self.app}/{self.tenant}@{self.at_us}"


class DayCount(models.Model):
    """Calls on one UTC day (day number since the epoch); tenant "" is the whole app."""

    app = models.CharField(max_length=255)
    tenant = models.CharField(max_length=255)
    day = models.IntegerField()
    used = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "tenant", "day"], name="limiter_daycount_unique")
        ]

    def __str__(self) -> str:
        return f"{self.app}/{self.tenant or '(app)'} day {self.day}: {self.used}"


class Pause(models.Model):
    """A 429 pause: the app (tenant "") or one tenant refuses calls until `until_us`."""

    app = models.CharField(max_length=255)
    tenant = models.CharField(max_length=255)
    until_us = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "tenant"], name="limiter_pause_unique")
        ]

    def __str__(self) -> str:
        return f"{self.app}/{self.tenant or '(app)'} until {self.until_us}"


class Waiter(models.Model):
    """A refused caller waiting for an app-wide slot: an interactive caller ("i", by its id) or a
    bulk tenant ("b", by tenant name); alive until `wake_us` plus the grace period."""

    app = models.CharField(max_length=255)
    kind = models.CharField(max_length=1)
    name = models.CharField(max_length=255)
    wake_us = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "kind", "name"], name="limiter_waiter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.app}/{self.kind}:{self.name} wakes {self.wake_us}"
