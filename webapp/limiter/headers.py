"""Read Keap's `x-keap-*` quota headers into numbers the limiter can trust.

Keap is the truth about what has been used, but its headers are loosely specified (docs/keap/API.md §4.2):
the tenant headers carry two windows pipe-delimited (`10000|250000`, `minute|day`), older responses
carry one, and any of them may be missing. Anything absurd (negative, huge, not a number, a window
unit we do not know) is dropped with a warning; parsing never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

logger = logging.getLogger("webapp.limiter")

# No Keap budget comes near this; a bigger number is garbage, not a quota.
MAX_COUNT = 1_000_000_000
# Plausible epoch milliseconds for a quota reset: 2001-09-09 .. 2286-11-20.
MIN_EPOCH_MS = 1_000_000_000_000
MAX_EPOCH_MS = 9_999_999_999_999
FIELDS = ("limit", "used", "available")


@dataclass(frozen=True)
class QuotaWindow:
    limit: int | None = None
    used: int | None = None
    available: int | None = None
    reset_at_ms: int | None = None  # epoch milliseconds of the next reset (day window only)


@dataclass(frozen=True)
class QuotaSnapshot:
    app_day: QuotaWindow | None = None
    app_minute: QuotaWindow | None = None
    tenant_minute: QuotaWindow | None = None
    tenant_day: QuotaWindow | None = None


def _count(name: str, raw: str | None, maximum: int = MAX_COUNT) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    if text == "":
        return None
    if not text.isascii() or not text.isdigit():
        logger.warning("limiter: ignoring header %s=%r: not a whole number", name, raw[:80])
        return None
    if len(text) > 20 or int(text) > maximum:
        logger.warning("limiter: ignoring header %s=%r: implausibly large", name, raw[:80])
        return None
    return int(text)


def _window_kind(name: str, unit: str | None, interval: str | None, default: str) -> str | None:
    """'minute' or 'day' for a (unit, interval) pair; None (with a warning) for anything else."""
    unit = (unit or default).strip().lower()
    interval = (interval or "1").strip()
    if unit in {"minute", "day"} and interval == "1":
        return unit
    logger.warning(
        "limiter: ignoring %s window %r x %r: not one minute or one day", name, unit, interval
    )
    return None


def parse_quota_headers(headers: Mapping[str, str]) -> QuotaSnapshot:
    """The app day, app minute, tenant minute and tenant day windows found in `headers`."""
    try:
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
    except Exception:  # a header object we cannot even iterate: know nothing rather than fail
        logger.warning("limiter: could not read response headers", exc_info=True)
        return QuotaSnapshot()
    found: dict[str, QuotaWindow] = {}

    def window(prefix: str, index: int | None, default_unit: str, reset_ms: int | None) -> None:
        def get(field: str) -> str | None:
            value = lower.get(f"{prefix}-{field}")
            if index is None or value is None:
                return value
            parts = value.split("|")
            return parts[index] if index < len(parts) else None

        values = {f: _count(f"{prefix}-{f}", get(f)) for f in FIELDS}
        if all(v is None for v in values.values()):
            return
        kind = _window_kind(prefix, get("time-unit"), get("interval"), default_unit)
        if kind is None:
            return
        limit, available = values["limit"], values["available"]
        if limit is not None and available is not None and available > limit:
            logger.warning("limiter: ignoring %s: more available than its limit", prefix)
            values["available"] = None
        scope = "tenant" if prefix.startswith("x-keap-tenant") else "app"
        found[f"{scope}_{kind}"] = QuotaWindow(
            limit=values["limit"],
            used=values["used"],
            available=values["available"],
            reset_at_ms=reset_ms if kind == "day" else None,
        )

    reset_ms = _count(
        "x-keap-product-quota-expiry-time",
        lower.get("x-keap-product-quota-expiry-time"),
        maximum=MAX_EPOCH_MS,
    )
    if reset_ms is not None and reset_ms < MIN_EPOCH_MS:
        logger.warning("limiter: ignoring quota expiry-time %r: not epoch milliseconds", reset_ms)
        reset_ms = None
    window("x-keap-product-quota", None, "day", reset_ms)
    window("x-keap-product-throttle", None, "minute", None)

    # The tenant headers: one window (older, minute) or several, pipe-delimited, position by position.
    tenant = "x-keap-tenant-throttle"
    widths = [len(v.split("|")) for f, v in lower.items() if f.startswith(tenant + "-")]
    count = max(widths, default=0)
    if count > 4:
        logger.warning("limiter: ignoring %s: %d windows", tenant, count)
        count = 0
    units = lower.get(f"{tenant}-time-unit")
    for i in range(count):
        default = ("minute", "day")[i] if units is None and i < 2 else "?"
        window(tenant, i, default, None)
    return QuotaSnapshot(
        app_day=found.get("app_day"),
        app_minute=found.get("app_minute"),
        tenant_minute=found.get("tenant_minute"),
        tenant_day=found.get("tenant_day"),
    )
