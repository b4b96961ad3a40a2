"""The production limiter: one Lua script per decision, on Redis's clock.

Redis runs a script to completion before it serves anything else, so one EVALSHA reads every window,
decides against all limits at once and records the grant with no other worker in between: the
atomicity the whole design rests on. Time is `redis.call('TIME')`, read inside the script, so
workers whose clocks are seconds apart still share one timeline. (Tests may pass `now` in; production
never does.)

Key layout, all under one hash tag so a cluster keeps an app's keys in one slot
(base = `onramp:limiter:{<app>}`):

    base:m              sorted set, the app's grants (member `<day>.<n>|<lane>|<tenant>`) and
                        reconciled phantoms (member `r|<time>|<i>`) of the last minute; the app's
                        sliding second is this set's last second without the phantoms
    base:tm:<tenant>    sorted set, the tenant's grants and phantoms of the last minute
    base:f              sorted set, the grants not yet settled (in flight; score: grant time),
                        which count in the app's second as if granted now until settled
    base:d:<day>        hash for UTC day number <day>, expiring an hour after that day:
                          ''  and 't:<tenant>'   grants that day, the app's and each tenant's
                          'p' and 'p:<tenant>'   pause end (epoch microseconds) of the app or a
                                                 tenant, written into every day the pause touches
                          'x' and 'x:<tenant>'   when the upkeep (below) last ran
                          'iw', 'bw'             no registered waiter wakes later than this
                          'r' and 'r:<tenant>'   no phantom in base:m (base:tm:<tenant>) is newer
                          'ba', 'bt'             the latest bulk ask (tenant, time), if not in :act
                          'aw'                   no ask in :act is newer than this
    base:iw             sorted set, interactive callers waiting for an app-wide slot (score: wake)
    base:bw             sorted set, bulk tenants waiting for an app-wide slot (score: wake)
    base:act            sorted set, bulk tenants that asked in the last second (score: last ask)

A grant's member is returned to the caller (`Decision.token`); the settle script (one call after
the response, which also reconciles) moves that member to Redis's time of the settle in :m and :tm
and takes it out of :f.
A member is unique without a counter: the grant's day and the app's count that day after it.

A decision reads one HMGET of the day hash, :m (its second and its minute) and the count of :f
older than the second, and writes its grant into :m, :tm and :f and its counts with one HSET. The hints let the common case skip the rest without
changing any answer: the waiter sets are read only while a waiter may be live, the second's members
only while a phantom may be in it or this tenant could be at its fair share, the tenant's minute
only while :m or a phantom of the tenant's could fill it, and :act is written only when a second
tenant asks within ACTIVE_US (until then the one asking tenant is kept in 'ba'/'bt'). Fewer commands
per decision is what keeps one decision as cheap as a single `limits` hit. (The previous day's hash
outlives its day by an hour, so the first decision of a day carries its hints over.)

:m is trimmed to its minute on every decision and :tm whenever it is read, and at least every 5 s
of the tenant's grants; neither holds more than its limit (grants are admitted below it, reconciled
phantoms only fill up to it) plus, for :tm, 5 s of grants, so keys and memory do not grow per call.
The waiter and backlog sets (:iw, :bw, :act, one member per caller or tenant) are read by score and
trimmed, and expiries renewed, by an upkeep step at most every 5 s; a key gets its expiry also when
it is made; :f is trimmed to the minute by the upkeep too (a grant never settled has been
abandoned by then), so it holds at most the minute's grants. The scripts build day and tenant key names from their arguments and the time they read;
every key shares the app's hash tag, which is what a cluster needs.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import threading
from pathlib import Path
from typing import Any, cast

import redis

from webapp.limiter.base import (
    ACTIVE_US,
    DAY_GUARD_US,
    DAY_RESET_TOLERANCE_US,
    FOREVER,
    MINUTE_US,
    US,
    Decision,
    Lane,
    Limiter,
    LimiterUnavailable,
    Limits,
    ReconcileTargets,
    to_wait_seconds,
    zero_limit_bucket,
)

# The scripts live in lua/ beside this module, read once at import. Redis's Lua has no modules,
# so a line `--#include <file>` stands for that file's text: the decision, pause and settle
# scripts share one clock preamble.
_LUA_DIR = Path(__file__).with_name("lua")


def _lua(name: str) -> str:
    text = (_LUA_DIR / name).read_text()
    return re.sub(r"^--#include (\S+)\n", lambda m: _lua(m.group(1)), text, flags=re.MULTILINE)


ACQUIRE_LUA = _lua("acquire.lua")
PAUSE_LUA = _lua("pause.lua")
RECONCILE_LUA = _lua("reconcile.lua")

_NEVER = 10 * 86_400 * US  # the longest wait a caller registers for (see Limiter.decide)

# Bumped in a forked child, whose inherited connections belong to the parent.
_fork_generation = 0


def _forked() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_forked)


def _arg(value: int | None) -> str:
    return "" if value is None else str(value)


class _Script:
    """A script sent as EVALSHA, loaded again when Redis has lost it (a restart or SCRIPT FLUSH)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)


class RedisLimiter(Limiter):
    """The limiter on Redis: the scripts in lua/, on a connection of its own in each thread.

    A decision is made before every Keap call, so its round trip is kept bare: no checkout from
    redis-py's pool (which polls the socket each time) and no generic command dispatch, just the
    EVALSHA written and its reply read on a connection made from the client's settings (address,
    timeouts). A failed connection is dropped and tried once more, as the client's own retry does;
    then LimiterUnavailable. A forked child (Celery's prefork pool) makes connections of its own."""

    def __init__(
        self,
        *,
        client: redis.Redis,
        prefix: str = "onramp:limiter",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.prefix = prefix
        # Per (limits, lane): the script's fixed argument, or the bucket of a zero limit (such a
        # call is refused without asking Redis). Limits is frozen, so it can be a key.
        self._fixed: dict[tuple[Limits, Lane], tuple[bytes | None, str | None]] = {}
        self._acquire = _Script(ACQUIRE_LUA)
        self._pause_script = _Script(PAUSE_LUA)
        self._reconcile_script = _Script(RECONCILE_LUA)
        self._local = threading.local()

    def base_key(self, app: str) -> str:
        return f"{self.prefix}:{{{app}}}"

    def _now_arg(self) -> str:
        return "" if self._clock is None else str(int(self._clock()))

    def _connection(self) -> Any:
        local = self._local
        if getattr(local, "generation", None) != _fork_generation:
            pool = self.client.connection_pool
            local.connection = pool.connection_class(**pool.connection_kwargs)
            local.generation = _fork_generation
        return local.connection

    def _eval(self, script: _Script, *args: Any) -> Any:
        """EVALSHA `script` with one key and the arguments (args[0] is the key)."""
        connection = self._connection()
        for attempt in (1, 2):
            try:
                try:
                    connection.send_command("EVALSHA", script.sha, 1, *args)
                    return connection.read_response()
                except redis.exceptions.NoScriptError:
                    connection.send_command("SCRIPT", "LOAD", script.source)
                    connection.read_response()
                    connection.send_command("EVALSHA", script.sha, 1, *args)
                    return connection.read_response()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                # redis-py has closed the connection; the next command opens it again.
                if attempt == 2:
                    raise LimiterUnavailable(f"limiter: Redis failed: {exc}") from exc
            except redis.exceptions.RedisError as exc:
                # Read-only, out of memory or a script error: either way nothing may go to Keap,
                # because nothing was counted.
                raise LimiterUnavailable(f"limiter: Redis failed: {exc}") from exc
        raise AssertionError("unreachable")

    def _fixed_args(self, limits: Limits, lane: Lane) -> tuple[bytes | None, str | None]:
        if len(self._fixed) > 1024:
            self._fixed.clear()
        zero = zero_limit_bucket(limits, lane)
        if zero is not None:
            self._fixed[(limits, lane)] = (None, zero)
            return None, zero
        app_day, tenant_day = limits.day_caps(lane)
        values = (
            limits.app_per_second,
            limits.app_per_minute,
            app_day,
            limits.tenant_per_minute,
            tenant_day,
            self.grace_us,
            self.poll_us,
            ACTIVE_US,
        )
        arg = struct.pack(">c8d", lane.value.encode(), *values)
        self._fixed[(limits, lane)] = (arg, None)
        return arg, None

    def decide(
        self,
        *,
        app: str,
        tenant: str,
        lane: Lane,
        limits: Limits,
        waiter: str | None = None,
        max_wait: float = FOREVER,
    ) -> Decision:
        # Limiter.decide and _decide in one: this runs before every Keap call, so it is kept to
        # one dictionary lookup, two strings and the round trip.
        try:
            fixed, zero = self._fixed[(limits, lane)]
        except KeyError:
            fixed, zero = self._fixed_args(limits, lane)
        if fixed is None:
            return Decision(granted=False, wait_seconds=FOREVER, bucket=zero or "")
        if max_wait == FOREVER:
            max_wait_us = _NEVER
        else:
            max_wait_us = int(min(max_wait, 10 * 86_400) * US) if max_wait > 0 else 0
        now = "" if self._clock is None else int(self._clock())
        reply = self._eval(
            self._acquire,
            f"{self.prefix}:{{{app}}}",
            fixed,
            tenant,
            f"{now} {max_wait_us} {waiter or ''}",
        )
        head, _, rest = reply.decode().partition(" ")
        if head[0] == "!":
            return Decision(False, to_wait_seconds(int(head[1:])), rest)
        return Decision(True, 0.0, "", int(head) / 1e6, rest)

    def in_flight(self, *, app: str) -> int:
        try:
            now = self._clock() if self._clock is not None else None
            if now is None:
                # redis-py types its sync and async clients' answers as one union: this is sync.
                seconds, micros = cast(tuple[int, int], self.client.time())
                now = seconds * US + micros
            count = self.client.zcount(f"{self.base_key(app)}:f", f"({now - MINUTE_US}", "+inf")
            return int(cast(int, count))
        except redis.exceptions.RedisError as exc:
            raise LimiterUnavailable(f"limiter: Redis failed: {exc}") from exc

    def _pause(self, *, app: str, tenant: str, pause_us: int) -> None:
        self._eval(self._pause_script, self.base_key(app), self._now_arg(), tenant, str(pause_us))

    def _settle(
        self, *, app: str, tenant: str, token: str | None, targets: ReconcileTargets | None
    ) -> None:
        self._eval(
            self._reconcile_script,
            self.base_key(app),
            self._now_arg(),
            tenant,
            _arg(targets.app_day if targets else None),
            _arg(targets.app_day_reset_us if targets else None),
            _arg(targets.app_minute if targets else None),
            _arg(targets.tenant_minute if targets else None),
            _arg(targets.tenant_day if targets else None),
            str(DAY_GUARD_US),
            str(DAY_RESET_TOLERANCE_US),
            token or "",
        )
