"""Log formatters: one JSON object per line (LOG_FORMAT=json) or a plain line, secrets redacted.

webapp.redaction already rewrites each record's message when it is created. The formatters redact
again what is added later: exception tracebacks and extra fields (a library may log a token in
either), so JSON output is no weaker than the plain message.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from webapp.observability.context import CONTEXT_FIELDS
from webapp.redaction import redact

JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


class JsonFormatter(_JsonFormatter):
    """`{"time", "level", "logger", "message", "request_id", "task_id", "task_name", ...extra}`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", JSON_FIELDS)
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 in UTC with milliseconds, which log stores parse without configuration.
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # Django's django.request lines carry the request object itself: keep its method and path
        # (its repr would add the query string, where OAuth callbacks carry codes).
        request = log_data.get("request")
        if request is not None and not isinstance(request, str):
            log_data["request"] = f"{getattr(request, 'method', '')} {getattr(request, 'path', '')}"
        for field in CONTEXT_FIELDS:  # present on every line, null outside a request or task
            log_data.setdefault(field, None)
        return {key: _redacted(value) for key, value in log_data.items()}


class PlainFormatter(logging.Formatter):
    """A human-readable line with the request id, for development (LOG_FORMAT=plain)."""

    def __init__(self, fmt: str | None = PLAIN_FORMAT, *args: Any, **kwargs: Any) -> None:
        super().__init__(fmt, *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        saved = {field: getattr(record, field, None) for field in CONTEXT_FIELDS}
        for field, value in saved.items():
            setattr(record, field, "-" if value is None else value)
        try:
            return redact(super().format(record))
        finally:
            for field, value in saved.items():
                setattr(record, field, value)
