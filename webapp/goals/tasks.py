"""Delivering goal completions to Keap in the interactive lane, and the watchdog behind it.

Routed to the `interactive` queue (settings.CELERY_TASK_ROUTES). The rules about what is sent
when live in webapp.goals.delivery; retries, time limits and backoff live here.
"""

import logging
import random
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from webapp.celery import Task
from webapp.goals import delivery

log = logging.getLogger(__name__)

# Attempts in all (each one that provably never reached Keap counts), then the completion fails.
MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 5.0
# Every countdown stays under the broker's visibility timeout (3600 s), or Redis would deliver the
# message a second time while it still waits.
BACKOFF_CAP_SECONDS = 1800.0
# The client's worst case (four attempts, each waiting up to 20 s for budget and 20 s for Keap,
# plus backoff) stays well under these.
SOFT_TIME_LIMIT = 240
TIME_LIMIT = 300
# The watchdog: a completion claimed longer ago than this lost its worker (the time limit kills
# any attempt before it); one due in the queue longer than this lost its message.
SENDING_STALE = timedelta(seconds=TIME_LIMIT + 60)
QUEUED_STALE = timedelta(minutes=15)


def retry_countdown(attempts: int, wait_hint: float = 0.0) -> float:
    """Exponential backoff with full jitter, never sooner than the limiter's hint, capped."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return min(BACKOFF_CAP_SECONDS, max(wait_hint, random.uniform(0, ceiling)))  # noqa: S311


@shared_task(
    base=Task,
    bind=True,
    ignore_result=True,
    # Safe: a redelivered message cannot resend, because only the worker that moves the completion
    # from queued to sending (a conditional UPDATE) calls Keap; one that finds it already sending
    # marks it uncertain instead (webapp.goals.delivery).
    acks_late=True,
    max_retries=None,  # attempts are counted on the completion, which survives lost messages
    soft_time_limit=SOFT_TIME_LIMIT,
    time_limit=TIME_LIMIT,
)
def achieve_goal(self: Task, *, completion_id: int) -> str:
    """Send one goal completion to Keap (once), retrying only what never reached Keap."""
    try:
        outcome = delivery.deliver(completion_id=completion_id)
    except SoftTimeLimitExceeded:
        from webapp.goals.models import GoalCompletion

        attempt = GoalCompletion.objects.filter(pk=completion_id).values_list("attempts", flat=True)
        delivery.mark_interrupted(
            completion_id=completion_id, attempt=next(iter(attempt), 0), why="time limit"
        )
        raise
    if not outcome.retry:
        return outcome.status
    if outcome.attempts >= MAX_ATTEMPTS:
        delivery.give_up(completion_id=completion_id, reason=outcome.reason)
        log.warning("Goal completion %s failed after %d attempts", completion_id, MAX_ATTEMPTS)
        return "failed"
    countdown = retry_countdown(outcome.attempts, outcome.wait_hint)
    delivery.schedule_retry(completion_id=completion_id, countdown=countdown)
    log.info("Goal completion %s retries in %.1fs: %s", completion_id, countdown, outcome.reason)
    raise self.retry(countdown=countdown)


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def recover_goals() -> dict[str, int]:
    """Beat: queue again completions whose message was lost; mark dead mid-sends uncertain."""
    now = timezone.now()
    lost, stuck = delivery.recover(
        queued_before=now - QUEUED_STALE, sending_before=now - SENDING_STALE
    )
    for pk in lost:
        achieve_goal.delay(completion_id=pk)
    if lost or stuck:
        log.warning("Goal watchdog: %d queued again, %d marked uncertain", len(lost), stuck)
    return {"requeued": len(lost), "uncertain": stuck}
