"""Asking for campaign goals: a completion requested once per idempotency key, then queued.

A completion is created by a person (the goal form), an operator's system (the JSON API) or a
person again ("Send again" on an uncertain or failed one), and its delivery is enqueued after the
transaction commits (webapp.goals.tasks). What happens to it then, and the rule that a goal
completed once is completed once, is webapp.goals.delivery's.
"""

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.connections.models import KeapConnection
from webapp.goals import tasks
from webapp.goals.models import ApiKey, GoalCompletion
from webapp.goals.validation import GoalRequest

log = logging.getLogger(__name__)

Status = GoalCompletion.Status


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different goal completion."""


def request_goal(
    *, connection: KeapConnection, goal: GoalRequest, requested_by: Any = None
) -> tuple[GoalCompletion, bool]:
    """Create a goal completion and queue its delivery after commit; (completion, created).

    The same idempotency key with the same parameters returns the existing completion (and queues
    nothing); with different parameters it raises IdempotencyConflict. `requested_by` is a user
    or an ApiKey.
    """
    params = {
        "contact_id": goal.contact_id,
        "call_name": goal.call_name,
        "integration": goal.integration,
    }
    key = goal.idempotency_key
    existing = GoalCompletion.objects.filter(connection=connection, idempotency_key=key).first()
    if existing is not None:
        return _same_or_conflict(existing, params), False
    by_key = requested_by if isinstance(requested_by, ApiKey) else None
    try:
        with transaction.atomic():
            completion = GoalCompletion.objects.create(
                connection=connection,
                idempotency_key=key,
                api=connection.developer_app.goal_api,
                requested_by=by_key.owner if by_key else requested_by,
                requested_with_key=by_key,
                **params,
            )
    except IntegrityError:
        # Someone with the same key got there first (a double submit racing itself).
        existing = GoalCompletion.objects.get(connection=connection, idempotency_key=key)
        return _same_or_conflict(existing, params), False
    tasks.achieve_goal.delay_on_commit(completion_id=completion.pk)
    return completion, True


def _same_or_conflict(existing: GoalCompletion, params: dict[str, Any]) -> GoalCompletion:
    mine = {name: getattr(existing, name) for name in params}
    if mine != params:
        raise IdempotencyConflict(
            f"Idempotency key {existing.idempotency_key!r} was already used for contact "
            f"{existing.contact_id}, integration {existing.integration!r}, call name "
            f"{existing.call_name!r}; use a new key for a different goal."
        )
    return existing


def send_again(*, completion: GoalCompletion) -> bool:
    """A person chose to send an uncertain or failed goal again: queue it. False if it was not."""
    now = timezone.now()
    moved = GoalCompletion.objects.filter(
        pk=completion.pk, status__in=(Status.UNCERTAIN, Status.FAILED)
    ).update(status=Status.QUEUED, next_attempt_at=now, finished_at=None, updated_at=now)
    if moved:
        tasks.achieve_goal.delay_on_commit(completion_id=completion.pk)
    return bool(moved)
