"""Carry the request id from the web process into the Celery tasks it enqueues.

The publisher puts the current request id into the task message's headers; in the worker the id
(and the task's own id and name) is set for the task's run and restored afterwards, so every line
the task logs carries the id of the request that asked for it. A task enqueued by another task
inherits that task's request id in the same way.
"""

import logging
import logging.config
from contextvars import Token
from typing import Any

from celery import signals

from webapp.observability.context import REQUEST_ID, TASK_ID, TASK_NAME, valid_request_id

HEADER = "request_id"
# task id -> tokens to restore the previous values at postrun. prerun and postrun of one task run
# in the same process and thread, so a plain dict keyed by task id is enough.
_RESTORE: dict[str, tuple[Token[str | None], Token[str | None], Token[str | None]]] = {}


def _add_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = REQUEST_ID.get()
    if headers is not None and request_id and not headers.get(HEADER):
        headers[HEADER] = request_id


def _enter_task(task_id: str, task: Any = None, **kwargs: Any) -> None:
    request = getattr(task, "request", None)
    # Eager tasks (tests, CELERY_TASK_ALWAYS_EAGER) never pass through a message: keep the caller's id.
    request_id = valid_request_id(getattr(request, HEADER, None)) or REQUEST_ID.get()
    _RESTORE[task_id] = (
        REQUEST_ID.set(request_id),
        TASK_ID.set(task_id),
        TASK_NAME.set(getattr(task, "name", None)),
    )


def _leave_task(task_id: str, **kwargs: Any) -> None:
    tokens = _RESTORE.pop(task_id, None)
    if tokens is None:
        return
    request_token, id_token, name_token = tokens
    for var, token in ((REQUEST_ID, request_token), (TASK_ID, id_token), (TASK_NAME, name_token)):
        try:
            var.reset(token)
        except ValueError:  # set in another context (should not happen); just clear it
            var.set(None)


def _use_django_logging(**kwargs: Any) -> None:
    # Connecting to setup_logging stops Celery from replacing the root logger's handlers with its
    # own format, so workers and beat log exactly as the web process does (LOG_FORMAT, LOG_LEVEL).
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def connect() -> None:
    """Hook the request id and logging into Celery. Called once, where the app is made."""
    signals.before_task_publish.connect(_add_request_id, weak=False, dispatch_uid="onramp-rid-pub")
    signals.task_prerun.connect(_enter_task, weak=False, dispatch_uid="onramp-rid-prerun")
    signals.task_postrun.connect(_leave_task, weak=False, dispatch_uid="onramp-rid-postrun")
    signals.setup_logging.connect(_use_django_logging, weak=False, dispatch_uid="onramp-logging")
