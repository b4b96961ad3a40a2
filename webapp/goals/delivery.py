"""Delivering goal completions to Keap, and recovering them. A goal completed once is completed once.

Achieving a goal is not idempotent at Keap: every call fires the goal again, and Keap offers no way
to ask afterwards whether a call landed. So each completion moves through these states, every move
a conditional UPDATE (the row's current status, and for an attempt its attempt number, in the
WHERE clause), so two workers, a redelivered message and the watchdog can never both act on it:

    queued ──claim──► sending ──► succeeded   Keap answered (zero results: "no goal matched")
       ▲                 │ ├────► failed      Keap refused (unknown contact...), or it never could be
       │                 │ │                  sent (connection not active, retries used up)
       │                 │ └────► uncertain   it may have reached Keap, and we cannot know
       └── never reached Keap (no budget, limiter down, connection refused, 429): retried later
    uncertain/failed ──"Send again" (an explicit POST by a person)──► queued

The rule: a completion is sent only by the worker that moved it from queued to sending. A worker
that finds its completion already `sending` knows an earlier attempt died mid-call (killed, time
limit, lost machine): Keap may or may not have received it, so it is marked `uncertain`, never sent
again blindly. The same holds when Keap does not answer after the request went out (a read
timeout, a 5xx, a reset connection) or answers with something unreadable. Only failures that
prove the request never reached Keap (the limiter had no budget or was down, the connection was
refused, Keap answered 429, the token could not be had) put it back in the queue. A person
decides whether to send an uncertain goal again, by an explicit POST.

If a late answer arrives for the attempt that was marked uncertain in the meantime, the answer
wins: it is the truth about that attempt.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from webapp.connections import tokens
from webapp.goals.models import GoalCompletion
from webapp.keap.errors import (
    KeapAuthError,
    KeapError,
    KeapLimiterUnavailable,
    KeapNotFound,
    KeapProtocolError,
    KeapRejected,
    KeapThrottled,
    KeapTokenError,
    KeapUnavailable,
)
from webapp.keap.results import GoalResult
from webapp.limiter import Lane

log = logging.getLogger(__name__)

Status = GoalCompletion.Status
STUCK_SENDING = (
    "The worker sending this goal stopped before Keap's answer was recorded, so it may or may not "
    "have fired. Check in Keap, then send it again if it did not."
)


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt came to. `retry`: it never reached Keap and may be tried again."""

    status: str
    attempts: int = 0
    reason: str = ""
    retry: bool = False
    wait_hint: float = 0.0


def deliver(*, completion_id: int) -> Delivery:
    """Claim a queued completion and send it to Keap once, recording what happened.

    See the module docstring for the rule. Returns the outcome; a `retry` outcome has already put
    the completion back to queued.
    """
    now = timezone.now()
    claimed = GoalCompletion.objects.filter(pk=completion_id, status=Status.QUEUED).update(
        status=Status.SENDING, attempts=F("attempts") + 1, claimed_at=now, updated_at=now
    )
    if not claimed:
        return _not_claimed(completion_id)
    completion = GoalCompletion.objects.select_related("connection").get(pk=completion_id)
    attempt = completion.attempts
    try:
        # Get a usable token first: a refresh that fails here provably sent nothing to Keap.
        tokens.fresh_access_token(completion.connection_id)
        client = tokens.client_for(completion.connection_id, lane=Lane.INTERACTIVE)
        answer = client.achieve_goal(
            integration=completion.integration,
            call_name=completion.call_name,
            contact_id=completion.contact_id,
            api=completion.api,
        )
    except tokens.ConnectionNotActive as exc:
        return _finish(completion_id, attempt, Status.FAILED, error=_not_active(exc))
    except (KeapRejected, KeapNotFound) as exc:
        return _finish(completion_id, attempt, Status.FAILED, error=f"Keap refused it: {exc}")
    except (KeapAuthError, KeapTokenError) as exc:
        return _finish(completion_id, attempt, Status.FAILED, error=f"Keap refused access: {exc}")
    except (KeapThrottled, KeapLimiterUnavailable) as exc:
        return _requeue(completion_id, attempt, str(exc), getattr(exc, "wait_seconds", 0.0))
    except KeapUnavailable as exc:
        if _never_reached_keap(exc):
            return _requeue(completion_id, attempt, str(exc), 0.0)
        return _finish(
            completion_id,
            attempt,
            Status.UNCERTAIN,
            error=f"Keap did not answer once the goal was sent, so it may have fired ({exc}).",
        )
    except KeapProtocolError as exc:
        return _finish(
            completion_id,
            attempt,
            Status.UNCERTAIN,
            error=f"Keap answered, but the answer could not be read, so it may have fired ({exc}).",
        )
    except KeapError as exc:
        return _finish(
            completion_id, attempt, Status.UNCERTAIN, error=f"It may have reached Keap: {exc}"
        )
    return _finish(completion_id, attempt, Status.SUCCEEDED, results=_as_json(answer))


def _not_claimed(completion_id: int) -> Delivery:
    completion = GoalCompletion.objects.filter(pk=completion_id).first()
    if completion is None:
        return Delivery(status="gone")
    if completion.status == Status.SENDING:
        # An earlier attempt died mid-call. Whether Keap got it is unknowable: never resend.
        outcome = _finish(
            completion_id,
            completion.attempts,
            Status.UNCERTAIN,
            error=STUCK_SENDING,
            only_from=(Status.SENDING,),
        )
        log.warning("Goal completion %s was found mid-send: marked uncertain", completion_id)
        return outcome
    # Already finished, or waiting on a person: a duplicate message, nothing to do.
    return Delivery(status=completion.status, attempts=completion.attempts)


def _never_reached_keap(exc: KeapUnavailable) -> bool:
    # The client marks failures that provably sent nothing (connection refused) with
    # `landed = False`; anything without that proof may have reached Keap.
    return getattr(exc, "landed", True) is False


def _not_active(exc: Exception) -> str:
    if isinstance(exc, tokens.NeedsReconnect):
        return "The Keap connection needs its owner to reconnect; nothing was sent to Keap."
    return f"The Keap connection is not active; nothing was sent to Keap ({exc})."


def _as_json(answer: list[GoalResult]) -> list[dict[str, Any]]:
    return [
        {
            "success": r.success,
            "message": r.message,
            "campaign_id": r.campaign_id,
            "goal_id": r.goal_id,
        }
        for r in answer
    ]


def _finish(
    completion_id: int,
    attempt: int,
    status: str,
    *,
    error: str = "",
    results: list[dict[str, Any]] | None = None,
    only_from: tuple[str, ...] = (Status.SENDING, Status.UNCERTAIN),
) -> Delivery:
    """Record the outcome of attempt `attempt`, unless the completion moved on since.

    From `uncertain` too: a late answer to this very attempt is the truth about it.
    """
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "error": error[:2000], "updated_at": now}
    if results is not None:
        fields["results"] = results
    if status != Status.UNCERTAIN:
        fields["finished_at"] = now
    GoalCompletion.objects.filter(pk=completion_id, attempts=attempt, status__in=only_from).update(
        **fields
    )
    return Delivery(status=status, attempts=attempt, reason=error)


def _requeue(completion_id: int, attempt: int, reason: str, wait_hint: float) -> Delivery:
    now = timezone.now()
    GoalCompletion.objects.filter(pk=completion_id, attempts=attempt, status=Status.SENDING).update(
        status=Status.QUEUED,
        error=f"Retrying: {reason}"[:2000],
        next_attempt_at=now,
        updated_at=now,
    )
    return Delivery(
        status=Status.QUEUED, attempts=attempt, reason=reason, retry=True, wait_hint=wait_hint
    )


def schedule_retry(*, completion_id: int, countdown: float) -> None:
    """Note when a queued completion's retry is due, so the watchdog does not send it early."""
    GoalCompletion.objects.filter(pk=completion_id, status=Status.QUEUED).update(
        next_attempt_at=timezone.now() + timedelta(seconds=countdown)
    )


def give_up(*, completion_id: int, reason: str) -> None:
    """Retries are used up: a queued completion fails with the last reason (nothing was sent)."""
    now = timezone.now()
    GoalCompletion.objects.filter(pk=completion_id, status=Status.QUEUED).update(
        status=Status.FAILED,
        error=f"Gave up after repeated attempts; nothing reached Keap. Last reason: {reason}"[
            :2000
        ],
        finished_at=now,
        updated_at=now,
    )


def mark_interrupted(*, completion_id: int, attempt: int, why: str) -> None:
    """The attempt was cut short while sending (a time limit): it may have reached Keap."""
    _finish(
        completion_id,
        attempt,
        Status.UNCERTAIN,
        error=f"Sending was interrupted ({why}), so it may have fired.",
        only_from=(Status.SENDING,),
    )


# --- Recovering -------------------------------------------------------------------------------


def recover(*, queued_before: datetime, sending_before: datetime) -> tuple[list[int], int]:
    """The watchdog's work: ids of queued completions whose message was lost (to queue again),
    and how many were stuck sending (marked uncertain: their worker died mid-call)."""
    now = timezone.now()
    stuck = GoalCompletion.objects.stuck_sending(sending_before).update(
        status=Status.UNCERTAIN, error=STUCK_SENDING, updated_at=now
    )
    lost = list(
        GoalCompletion.objects.stuck_queued(queued_before).values_list("pk", flat=True)[:1000]
    )
    # Pushed forward so the next watchdog run does not queue them again before these land.
    GoalCompletion.objects.filter(pk__in=lost, status=Status.QUEUED).update(next_attempt_at=now)
    return lost, stuck
