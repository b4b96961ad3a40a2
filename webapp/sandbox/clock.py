"""The sandbox's clock: real time plus an offset kept in the database.

Everything in the sandbox asks this module for the time, never `timezone.now()`, so a simulator
control can move time forward (expire tokens, roll daily quotas) for every worker at once.
"""

from datetime import datetime, timedelta

from django.utils import timezone


def now() -> datetime:
    from webapp.sandbox.models import ClockOffset

    offset = ClockOffset.objects.filter(pk=1).values_list("seconds", flat=True).first() or 0
    return timezone.now() + timedelta(seconds=offset)
