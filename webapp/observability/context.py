"""The request id (and Celery task) that every log line of the current work carries.

One context variable per value: gunicorn threads and Celery pool processes each have their own, so
a request's id never leaks into another's lines. The ids are stamped onto each LogRecord when it is
created (a record factory, as webapp.redaction does for secrets), because that is the moment and the
thread in which the context is known; a handler or filter running later, or elsewhere, would not see
it. Every record therefore has `request_id`, `task_id` and `task_name` attributes (None outside one).
"""

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("onramp_request_id", default=None)
TASK_ID: ContextVar[str | None] = ContextVar("onramp_task_id", default=None)
TASK_NAME: ContextVar[str | None] = ContextVar("onramp_task_name", default=None)

# An incoming X-Request-ID is kept only if it is short and made of characters that are safe in a
# log line, a header and a URL; anything else is replaced by a fresh id rather than cleaned up.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
CONTEXT_FIELDS = ("request_id", "task_id", "task_name")


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_request_id(value: object) -> str | None:
    """The value if it is an acceptable request id, else None."""
    if isinstance(value, str) and _SAFE_ID.fullmatch(value):
        return value
    return None


def install_record_factory() -> None:
    """Stamp the current request id and task onto every LogRecord. Safe to call more than once."""
    current = logging.getLogRecordFactory()
    if getattr(current, "stamps_context", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        record.task_id = TASK_ID.get()
        record.task_name = TASK_NAME.get()
        return record

    factory.stamps_context = True  # type: ignore[attr-defined]  # a marker: installed once
    logging.setLogRecordFactory(factory)
