"""Runtime switches and limits: environment defaults, overridden through the control API.

Overrides live in the `Setting` table so that every gunicorn worker and thread sees a change at
once. `current()` is read once per API request (inside the quota transaction), so it stays cheap:
one small SELECT.
"""

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from webapp.sandbox.models import Setting


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a non-negative integer")
    return value


def _positive_int(value: Any) -> int:
    number = _non_negative_int(value)
    if number < 1:
        raise ValueError("must be a positive integer")
    return number


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 10**7:
        raise ValueError("must be a number of seconds, 0 or more")
    return value


def _positive_seconds(value: Any) -> float:
    seconds = _seconds(value)
    if not seconds > 0:
        raise ValueError("must be a number of seconds above 0")
    return seconds


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _one_of(*choices: Any) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(map(str, choices))}")
        return value

    return check


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "access_token_seconds": _positive_int,
    "refresh_token_seconds": _positive_int,
    "app_limit_per_second": _non_negative_int,
    "app_limit_per_minute": _non_negative_int,
    "app_limit_per_day": _non_negative_int,
    "tenant_limit_per_minute": _non_negative_int,
    "tenant_limit_per_day": _non_negative_int,
    "key_limit_per_second": _non_negative_int,
    "key_limit_per_minute": _non_negative_int,
    "key_limit_per_day": _non_negative_int,
    # "keap": {"code":"429","message":"Quota Exceeded",...}; "fault": Apigee's policies.ratelimit.*
    "throttle_body": _one_of("keap", "fault"),
    "retry_after": _boolean,
    # "invalid_request": today's gateway; "invalid_grant": the Mashery-era body
    # (docs/keap/API.md §1.7).
    "refresh_error": _one_of("invalid_request", "invalid_grant"),
    "refresh_revokes_access_token": _boolean,
    # "quota": XML-RPC shares the REST quotas; "legacy": the old per-tenant token bucket.
    "xmlrpc_throttle": _one_of("quota", "legacy"),
    "legacy_bucket_size": _positive_int,
    "legacy_refill_ms": _positive_int,
    "legacy_max_throttled": _non_negative_int,
    # "reject": limit/page_size over 1000 is a 400; "clamp": served as 1000.
    "page_size_overflow": _one_of("reject", "clamp"),
    "v2_default_page_size": lambda value: _one_of(*range(1, 1001))(value),
    # Keap's serialiser was seen sending nulls for empty v1 fields; its OpenAPI document allows
    # none, so they are left out unless this is on.
    "v1_nulls": _boolean,
    "goal_unknown_contact_status": _one_of(400, 404),
    # true: an access token in the query string (`?access_token=`) authenticates like a Bearer
    # header, as in Keap's older docs; false: only headers do.
    "query_access_token": _boolean,
    # true: PKCE (RFC 7636) with S256 only, for codes whose authorization request sent a
    # code_challenge; false: challenges are ignored, as Keap ignores them.
    "enforce_pkce": _boolean,
    # REST hook delivery (hooks.py, deliverer.py). A min above its max is read as the same range.
    "hook_first_delay_min_seconds": _seconds,
    "hook_first_delay_max_seconds": _seconds,
    "hook_retry1_min_seconds": _seconds,
    "hook_retry1_max_seconds": _seconds,
    "hook_retry2_seconds": _seconds,
    "hook_retry3_seconds": _seconds,
    "hook_attempts": _positive_int,
    "hook_timeout_seconds": _positive_seconds,
    # Keap's cap is 1,000 objects a delivery; smaller batches let tests see splitting cheaply.
    "hook_batch_size": lambda value: _one_of(*range(1, 1001))(value),
    "hook_poll_seconds": _positive_seconds,
}


@cache
def _validated_defaults() -> dict[str, Any]:
    values = dict(settings.SANDBOX_DEFAULTS)
    for name, value in values.items():
        try:
            VALIDATORS[name](value)
        except ValueError as exc:
            raise ValueError(f"SANDBOX_{name.upper()}: {exc}") from exc
    return values


def defaults() -> dict[str, Any]:
    """The environment's values, validated (a bad env value fails loudly at first use)."""
    return dict(_validated_defaults())


def current_with_clock() -> tuple[dict[str, Any], float]:
    """Every switch and limit as it applies right now, and the clock offset: one query, as
    every API request needs both."""
    values = defaults()
    offset = 0.0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, value FROM sandbox_setting UNION ALL "
            "SELECT '', seconds FROM sandbox_clockoffset WHERE id = 1"
        )
        rows = cursor.fetchall()
    for name, raw in rows:
        if name == "":
            offset = float(raw)
        elif name in values:
            values[name] = json.loads(raw) if isinstance(raw, str) else raw
    return values, offset


def current() -> dict[str, Any]:
    """Every switch and limit as it applies right now."""
    return current_with_clock()[0]


def validate(values: dict[str, Any]) -> dict[str, Any]:
    """Check a batch of overrides; raise ValueError naming the first bad one."""
    clean = {}
    for name, value in values.items():
        if name not in VALIDATORS:
            raise ValueError(f"unknown setting {name!r}")
        try:
            clean[name] = VALIDATORS[name](value)
        except ValueError as exc:
            raise ValueError(f"{name} {exc}") from exc
    return clean


def update(values: dict[str, Any]) -> dict[str, Any]:
    """Store validated overrides and return the resulting settings."""
    clean = validate(values)
    with transaction.atomic():
        for name, value in clean.items():
            Setting.objects.update_or_create(name=name, defaults={"value": value})
    return current()


def reset(names: list[str] | None = None) -> dict[str, Any]:
    """Forget overrides (all, or the named ones) so the environment's defaults apply again."""
    rows = Setting.objects.all()
    if names:
        rows = rows.filter(name__in=names)
    rows.delete()
    return current()
