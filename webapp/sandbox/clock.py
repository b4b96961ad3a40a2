"""The sandbox's clock: real time plus an offset kept in the database.

Everything in the sandbox asks this module for the time, never `timezone.now()`, so a simulator
control can move time forward (expire tokens, roll quota windows and days) for every worker at
once. The offset is a float, so a test can step a one-second window by a fraction.
"""

import time
from datetime import UTC, datetime

from django.db import connection


def offset() -> float:
    """Seconds the sandbox runs ahead of real time."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT seconds FROM sandbox_clockoffset WHERE id = 1")
        row = cursor.fetchone()
    return float(row[0]) if row else 0.0


def epoch() -> float:
    """Sandbox time as epoch seconds, with sub-millisecond precision."""
    return time.time() + offset()


def now() -> datetime:
    """Sandbox time as an aware UTC datetime."""
    return datetime.fromtimestamp(epoch(), tz=UTC)


def advance(seconds: float) -> float:
    """Move the sandbox clock forward (never back: quota logs assume time only grows)."""
    from webapp.sandbox.models import ClockOffset

    if seconds < 0:
        raise ValueError("the sandbox clock only moves forward")
    row, _ = ClockOffset.objects.get_or_create(pk=1)
    row.seconds = float(row.seconds) + seconds
    row.save(update_fields=["seconds"])
    return row.seconds
