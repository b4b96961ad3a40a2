"""Keap's throttles and quotas, exact across every worker process and thread.

Semantics (Onramp's limiter mirrors these exactly; change both together):

* A *principal* is what Keap meters a caller by: the developer app (`app:<id>`) for OAuth bearer
  tokens, or the key itself (`key:<id>`) for a PAT/SAK. Each request also belongs to a *tenant*.
* Limits (defaults from docs/keap/API.md §4.1, all switchable, see `switches.py`):
  - per developer app: `app_limit_per_second` 25, `app_limit_per_minute` 1,500,
    `app_limit_per_day` 150,000;
  - per PAT/SAK: `key_limit_per_second` 10, `key_limit_per_minute` 240, `key_limit_per_day` 30,000;
  - per tenant, whatever the credential: `tenant_limit_per_minute` 10,000,
    `tenant_limit_per_day` 250,000.
  A limit of 0 refuses everything.
* Per-second and per-minute windows SLIDE: a request at sandbox time t is admitted only if fewer
  than N requests were admitted in (t - 1 s, t] (or (t - 60 s, t]). So at most N requests fall
  in any interval of 1 s (60 s). Time is the sandbox clock (`clock.epoch()`: real time plus the
  control API's offset) as a float, i.e. sub-millisecond precision, read while holding the write
  lock so admitted timestamps never go backwards.
* Day windows are FIXED UTC days: the count resets at 00:00:00 UTC of the sandbox clock.
  `x-keap-product-quota-expiry-time` is that next midnight in epoch milliseconds.
* Every authenticated API request (REST and XML-RPC, any path, including ones that end in 4xx,
  5xx or an injected fault) consumes one unit of every window it is checked against. A request
  refused with 429 consumes nothing. Unauthenticated requests (401 faults) are not metered.
* Check order: principal second (spike), principal minute, tenant minute, principal day, tenant
  day. The first exhausted window decides the refusal (the spike one has its own fault body).
* Headers on every metered response (429s included) show the state after this request:
  `x-keap-product-quota-*` is the principal's day, `x-keap-product-throttle-*` its sliding
  minute, `x-keap-tenant-throttle-*` the tenant's minute and day, pipe-delimited. `used` counts
  admitted requests in the window; `available` is `max(0, limit - used)`.
* `Retry-After` (off unless `retry_after` is on) is the whole number of seconds, rounded up and at
  least 1, until the refusing window admits a request again.

How: one row per admitted request in `QuotaEvent` (pruned after 60 s) counted by indexed range
queries, and a counter row per principal/tenant and UTC day in `QuotaDay`, all read and written
inside one SQLite IMMEDIATE transaction under `locking.write_lock()`. The same transaction bumps
the traffic counters and picks injected faults, so an API call costs one write transaction.
"""

import json
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from webapp.sandbox import clock, switches
from webapp.sandbox.locking import write_lock

DAY = 86_400
_last_prune = 0.0


@dataclass
class Decision:
    """What the gateway should do with one API request."""

    admitted: bool
    settings: dict[str, Any]
    now: float
    headers: dict[str, str] = field(default_factory=dict)
    refused_by: str = ""
    retry_after: int | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    legacy_delay: float = 0.0
    legacy_fault: bool = False


def admit(
    *,
    principal: str,
    key_kind: str,
    tenant_id: int,
    tenant_name: str,
    endpoint: str,
    path: str,
    legacy: bool = False,
) -> Decision:
    """Meter one authenticated API request; return whether it may proceed, and its headers.

    `key_kind` is "app" or "key" and picks the limit family. `legacy` asks for the XML-RPC
    token-bucket mode (only honoured when the `xmlrpc_throttle` switch is "legacy").
    """
    with write_lock(), transaction.atomic(), connection.cursor() as cur:
        settings, offset = switches.current_with_clock()
        t = time.time() + offset
        decision = Decision(admitted=True, settings=settings, now=t)
        prefix = "app" if key_kind == "app" else "key"
        limits = {
            "second": settings[f"{prefix}_limit_per_second"],
            "minute": settings[f"{prefix}_limit_per_minute"],
            "day": settings[f"{prefix}_limit_per_day"],
            "tenant_minute": settings["tenant_limit_per_minute"],
            "tenant_day": settings["tenant_limit_per_day"],
        }
        day = int(t // DAY)
        tenant_key = f"tenant:{tenant_id}"
        # Every window and whether any fault is armed, in one statement: at benchmark rates
        # the per-statement overhead is what this transaction costs.
        cur.execute(
            "SELECT "
            "(SELECT COUNT(*) FROM sandbox_quotaevent WHERE principal = %s AND ts > %s), "
            "(SELECT COUNT(*) FROM sandbox_quotaevent WHERE principal = %s AND ts > %s), "
            "(SELECT COUNT(*) FROM sandbox_quotaevent WHERE tenant_id = %s AND ts > %s), "
            "(SELECT used FROM sandbox_quotaday WHERE key = %s AND day = %s), "
            "(SELECT used FROM sandbox_quotaday WHERE key = %s AND day = %s), "
            "(SELECT COUNT(*) FROM sandbox_fault)",
            [principal, t - 1, principal, t - 60, tenant_id, t - 60,
             principal, day, tenant_key, day],
        )  # fmt: skip
        second, minute, tenant_minute, day_used, tenant_day_used, armed = cur.fetchone()
        used = {
            "second": second,
            "minute": minute,
            "tenant_minute": tenant_minute,
            "day": day_used or 0,
            "tenant_day": tenant_day_used or 0,
        }
        if legacy and settings["xmlrpc_throttle"] == "legacy":
            _legacy_bucket(cur, decision, tenant_id, t)
        else:
            for window in ("second", "minute", "tenant_minute", "day", "tenant_day"):
                if used[window] >= limits[window]:
                    decision.admitted = False
                    decision.refused_by = window
                    break
        if decision.admitted and not decision.legacy_fault:
            cur.execute(
                "INSERT INTO sandbox_quotaevent (principal, tenant_id, ts) VALUES (%s, %s, %s)",
                [principal, tenant_id, t],
            )
            cur.execute(
                "INSERT INTO sandbox_quotaday (key, day, used) VALUES (%s, %s, 1), (%s, %s, 1) "
                "ON CONFLICT (key, day) DO UPDATE SET used = used + 1",
                [principal, day, tenant_key, day],
            )
            for window in used:
                used[window] += 1
            if armed:
                decision.faults = _pick_faults(cur, tenant_name, path)
        elif not decision.admitted and settings["retry_after"]:
            decision.retry_after = _retry_after(
                cur, decision.refused_by, principal, tenant_id, t, used, limits
            )
        _count_traffic(cur, tenant_name, endpoint, throttled=not decision.admitted)
        _prune(cur, t)
    decision.headers = _headers(limits, used, day)
    return decision


def release_legacy_thread(tenant_id: int) -> None:
    """A throttled legacy XML-RPC call finished waiting: free its thread slot."""
    with write_lock(), transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "UPDATE sandbox_legacybucket SET throttled_threads = throttled_threads - 1 "
            "WHERE tenant_id = %s AND throttled_threads > 0",
            [tenant_id],
        )


def usage(*, principal: str, key_kind: str, tenant_id: int) -> dict[str, Any]:
    """The headers' view of a principal and tenant right now, without consuming anything."""
    settings = switches.current()
    t = clock.epoch()
    prefix = "app" if key_kind == "app" else "key"
    with connection.cursor() as cur:
        used = {
            "second": _count(cur, "principal", principal, t - 1),
            "minute": _count(cur, "principal", principal, t - 60),
            "tenant_minute": _count(cur, "tenant_id", tenant_id, t - 60),
            "day": _day_used(cur, principal, int(t // DAY)),
            "tenant_day": _day_used(cur, f"tenant:{tenant_id}", int(t // DAY)),
        }
    limits = {
        "second": settings[f"{prefix}_limit_per_second"],
        "minute": settings[f"{prefix}_limit_per_minute"],
        "day": settings[f"{prefix}_limit_per_day"],
        "tenant_minute": settings["tenant_limit_per_minute"],
        "tenant_day": settings["tenant_limit_per_day"],
    }
    return {"used": used, "limits": limits}


def _count(cur: CursorWrapper, column: str, value: Any, after: float) -> int:
    # `column` is one of two literals chosen above, never user input.
    cur.execute(
        f"SELECT COUNT(*) FROM sandbox_quotaevent WHERE {column} = %s AND ts > %s",  # noqa: S608
        [value, after],
    )
    return int(cur.fetchone()[0])


def _day_used(cur: CursorWrapper, key: str, day: int) -> int:
    cur.execute("SELECT used FROM sandbox_quotaday WHERE key = %s AND day = %s", [key, day])
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _retry_after(
    cur: CursorWrapper,
    window: str,
    principal: str,
    tenant_id: int,
    t: float,
    used: dict[str, int],
    limits: dict[str, int],
) -> int:
    if window in ("day", "tenant_day"):
        return max(1, math.ceil((int(t // DAY) + 1) * DAY - t))
    span = 1 if window == "second" else 60
    column, value = (
        ("tenant_id", tenant_id) if window == "tenant_minute" else ("principal", principal)
    )
    # The window admits again once enough of its oldest requests have slid out.
    skip = max(0, used[window] - limits[window])
    cur.execute(
        f"SELECT ts FROM sandbox_quotaevent WHERE {column} = %s AND ts > %s "  # noqa: S608
        "ORDER BY ts LIMIT 1 OFFSET %s",
        [value, t - span, skip],
    )
    row = cur.fetchone()
    if row is None:
        return 1
    return max(1, math.ceil(float(row[0]) + span - t))


def _legacy_bucket(cur: CursorWrapper, decision: Decision, tenant_id: int, t: float) -> None:
    """docs/keap/API.md §4.4: 10,000 tokens, one back per 500 ms; when empty a call waits 500 ms,
    and a fifth concurrently waiting call gets the ThrottlingException fault."""
    settings = decision.settings
    size, refill = settings["legacy_bucket_size"], settings["legacy_refill_ms"] / 1000
    cur.execute(
        "SELECT tokens, updated_ts, throttled_threads FROM sandbox_legacybucket "
        "WHERE tenant_id = %s",
        [tenant_id],
    )
    row = cur.fetchone()
    tokens, updated, waiting = row if row else (float(size), t, 0)
    regained = math.floor(max(0.0, t - updated) / refill)
    tokens = min(float(size), tokens + regained)
    updated = t if tokens >= size else updated + regained * refill
    if tokens >= 1:
        tokens -= 1
    elif waiting >= settings["legacy_max_throttled"]:
        decision.legacy_fault = True
    else:
        # Wait for the next token and take it: it is spent before it is ever in the bucket.
        waiting += 1
        updated += refill
        decision.legacy_delay = max(refill, updated - t)
    cur.execute(
        "INSERT INTO sandbox_legacybucket (tenant_id, tokens, updated_ts, throttled_threads) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id) DO UPDATE SET tokens = excluded.tokens, "
        "updated_ts = excluded.updated_ts, throttled_threads = excluded.throttled_threads",
        [tenant_id, tokens, updated, waiting],
    )


def _pick_faults(cur: CursorWrapper, tenant_name: str, path: str) -> list[dict[str, Any]]:
    cur.execute(
        "SELECT id, kind, tenant, path_prefix, params, probability, remaining "
        "FROM sandbox_fault ORDER BY id"
    )
    picked = []
    for fault_id, kind, tenant, prefix, params, probability, remaining in cur.fetchall():
        if (tenant and tenant != tenant_name) or not path.startswith(prefix or ""):
            continue
        if remaining is not None:
            if remaining <= 0:
                continue
            cur.execute(
                "UPDATE sandbox_fault SET remaining = remaining - 1, seen = seen + 1 WHERE id = %s",
                [fault_id],
            )
        elif probability is not None and random.random() >= probability:  # noqa: S311
            continue
        else:
            cur.execute("UPDATE sandbox_fault SET seen = seen + 1 WHERE id = %s", [fault_id])
        picked.append({"kind": kind, **(json.loads(params) if isinstance(params, str) else params)})
    return picked


def _count_traffic(cur: CursorWrapper, tenant_name: str, endpoint: str, *, throttled: bool) -> None:
    cur.execute(
        "INSERT INTO sandbox_trafficcount (tenant, endpoint, calls, throttled) "
        "VALUES (%s, %s, 1, %s) ON CONFLICT (tenant, endpoint) DO UPDATE SET "
        "calls = calls + 1, throttled = throttled + excluded.throttled",
        [tenant_name, endpoint, int(throttled)],
    )
    # The per-endpoint totals that `/sandbox/api/stats` has always shown.
    cur.execute(
        "INSERT INTO sandbox_requestcount (name, count) VALUES (%s, 1) "
        "ON CONFLICT (name) DO UPDATE SET count = count + 1",
        [endpoint],
    )


def _prune(cur: CursorWrapper, t: float) -> None:
    global _last_prune
    # Once a second per process is plenty: stale rows only cost index space, not correctness
    # (every count is bounded below by its own window start).
    if t - _last_prune < 1:
        return
    _last_prune = t
    cur.execute("DELETE FROM sandbox_quotaevent WHERE ts <= %s", [t - 60])


def _headers(limits: dict[str, int], used: dict[str, int], day: int) -> dict[str, str]:
    def available(window: str) -> int:
        return max(0, limits[window] - used[window])

    return {
        "x-keap-product-quota-limit": str(limits["day"]),
        "x-keap-product-quota-time-unit": "day",
        "x-keap-product-quota-interval": "1",
        "x-keap-product-quota-available": str(available("day")),
        "x-keap-product-quota-used": str(used["day"]),
        "x-keap-product-quota-expiry-time": str((day + 1) * DAY * 1000),
        "x-keap-product-throttle-limit": str(limits["minute"]),
        "x-keap-product-throttle-time-unit": "minute",
        "x-keap-product-throttle-interval": "1",
        "x-keap-product-throttle-available": str(available("minute")),
        "x-keap-product-throttle-used": str(used["minute"]),
        "x-keap-tenant-throttle-limit": f"{limits['tenant_minute']}|{limits['tenant_day']}",
        "x-keap-tenant-throttle-time-unit": "minute|day",
        "x-keap-tenant-throttle-interval": "1|1",
        "x-keap-tenant-throttle-available": f"{available('tenant_minute')}|{available('tenant_day')}",
        "x-keap-tenant-throttle-used": f"{used['tenant_minute']}|{used['tenant_day']}",
    }


def reset() -> None:
    """Forget every window and day count (a control for tests)."""
    with write_lock(), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM sandbox_quotaevent")
        cur.execute("DELETE FROM sandbox_quotaday")
        cur.execute("DELETE FROM sandbox_legacybucket")
