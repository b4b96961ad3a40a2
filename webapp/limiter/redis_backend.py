"""The production limiter: one Lua script per decision, on Redis's clock.

Redis runs a script to completion before it serves anything else, so one EVALSHA reads every window,
decides against all limits at once and records the grant with no other worker in between: the
atomicity the whole design rests on. Time is `redis.call('TIME')`, read inside the script, so
workers whose clocks are seconds apart still share one timeline. (Tests may pass `now` in; production
never does.)

Key layout, all under one hash tag so a cluster keeps an app's keys in one slot
(base = `onramp:limiter:{<app>}`):

    base:s              sorted set, app grants in the last second (member `seq|lane|tenant`)
    base:m              sorted set, app grants (and reconciled phantoms) in the last minute
    base:tm:<tenant>    sorted set, the tenant's grants in the last minute
    base:d:<day>        counter, app grants on UTC day number <day>; expires after that day
    base:td:<tenant>:<day>  counter, the tenant's grants that day
    base:p, base:tp:<tenant>  pause end (epoch microseconds), app-wide or one tenant
    base:iw             sorted set, interactive callers waiting for an app-wide slot (score: wake)
    base:bw             sorted set, bulk tenants waiting for an app-wide slot (score: wake)
    base:act            sorted set, bulk tenants that asked in the last second (score: last ask)
    base:seq            counter that makes sorted-set members unique

Each sorted set is trimmed to its window on every use and never holds more members than its limit
(plus a reconcile's phantoms, capped at the limit), so keys and memory do not grow per call.
The scripts build day and tenant key names from their arguments and the time they read; every key
shares the app's hash tag, which is what a cluster needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from webapp.limiter.base import (
    ACTIVE_US,
    DAY_GUARD_US,
    DAY_RESET_TOLERANCE_US,
    DEFAULT_GRACE_US,
    DEFAULT_POLL_US,
    Decision,
    Lane,
    Limiter,
    LimiterUnavailable,
    Limits,
    ReconcileTargets,
    to_wait_seconds,
)

_COMMON = """
local base = KEYS[1]
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local SEC, MIN, DAY = 1000000, 60000000, 86400000000
-- Lua 5.1 prints big numbers as 1.7e+15; every number sent to Redis goes through fmt.
local function fmt(x) return string.format('%d', x) end
local day = math.floor(now / DAY)
local to_midnight = (day + 1) * DAY - now
local function expire_ms(key, us) redis.call('PEXPIRE', key, fmt(math.floor(us / 1000))) end
"""

ACQUIRE_LUA = (
    _COMMON
    + """
local tenant, lane = ARGV[2], ARGV[3]
local per_s, per_m, app_day_cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local t_per_m, t_day_cap = tonumber(ARGV[7]), tonumber(ARGV[8])
local waiter, max_wait = ARGV[9], tonumber(ARGV[10])
local grace, poll, active = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local k_s, k_m, k_tm = base .. ':s', base .. ':m', base .. ':tm:' .. tenant
local k_d, k_td = base .. ':d:' .. fmt(day), base .. ':td:' .. tenant .. ':' .. fmt(day)
local k_iw, k_bw, k_act = base .. ':iw', base .. ':bw', base .. ':act'
if lane == 'b' then
  -- Every bulk ask marks its tenant as backlogged (one member per tenant).
  redis.call('ZADD', k_act, fmt(now), tenant)
  redis.call('ZREMRANGEBYSCORE', k_act, '-inf', fmt(now - active))
  expire_ms(k_act, active + MIN)
end

-- Sliding window: trim what has left it, then the wait until one slot opens (0 if one is open).
local function window(key, w, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - w))
  local c = redis.call('ZCARD', key)
  if c < limit then return 0 end
  local e = redis.call('ZRANGE', key, c - limit, c - limit, 'WITHSCORES')
  return tonumber(e[2]) + w - now
end
local function paused(key)
  local v = tonumber(redis.call('GET', key) or '0')
  if v > now then return v - now end
  return 0
end
local function day_wait(key, cap)
  if tonumber(redis.call('GET', key) or '0') >= cap then return to_midnight end
  return 0
end

local waits = {
  math.max(paused(base .. ':p'), paused(base .. ':tp:' .. tenant)),
  window(k_s, SEC, per_s),
  window(k_m, MIN, per_m),
  day_wait(k_d, app_day_cap),
  window(k_tm, MIN, t_per_m),
  day_wait(k_td, t_day_cap),
}
local names = {'paused', 'app:second', 'app:minute', 'app:day', 'tenant:minute', 'tenant:day'}
local wait, bucket = 0, ''
for i = 1, 6 do
  if waits[i] > wait then wait = waits[i]; bucket = names[i] end
end

redis.call('ZREMRANGEBYSCORE', k_iw, '-inf', fmt(now - grace))
redis.call('ZREMRANGEBYSCORE', k_bw, '-inf', fmt(now - grace))

-- A refused caller that will come back registers when it waits for an app-wide slot.
local function refuse(w, why)
  local app_wide = why == 'app:second' or why == 'app:minute' or why == 'interactive' or why == 'fair'
  if lane == 'i' then
    if waiter ~= '' and w <= max_wait and (why == 'app:second' or why == 'app:minute') then
      redis.call('ZADD', k_iw, fmt(now + w), waiter)
      expire_ms(k_iw, w + grace + MIN)
    elseif waiter ~= '' then
      redis.call('ZREM', k_iw, waiter)
    end
  elseif app_wide and w <= max_wait then
    redis.call('ZADD', k_bw, 'GT', fmt(now + w), tenant)
    expire_ms(k_bw, w + grace + MIN)
  else
    redis.call('ZREM', k_bw, tenant)
  end
  return {0, w, why, now}
end

if wait > 0 then return refuse(wait, bucket) end

if lane == 'b' then
  local iw = redis.call('ZRANGE', k_iw, 0, 0, 'WITHSCORES')
  if #iw > 0 then
    return refuse(math.max(tonumber(iw[2]) - now, 0) + poll, 'interactive')
  end
  -- Bulk grants per tenant in the app's current second: at most per_s members to read.
  local counts, mine_at = {}, {}
  local members = redis.call('ZRANGE', k_s, 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    local l, t = string.match(members[i], '^%d+|(%a)|(.*)$')
    if l == 'b' then
      counts[t] = (counts[t] or 0) + 1
      if t == tenant then mine_at[#mine_at + 1] = tonumber(members[i + 1]) end
    end
  end
  local mine = counts[tenant] or 0
  local bw = redis.call('ZRANGE', k_bw, 0, -1, 'WITHSCORES')
  -- The fair share: ceil(per_s / backlogged tenants), the asking tenant always among them.
  local backlogged, n = {[tenant] = true}, 1
  for _, t in ipairs(redis.call('ZRANGE', k_act, 0, -1)) do
    if not backlogged[t] then backlogged[t] = true; n = n + 1 end
  end
  for i = 1, #bw, 2 do
    if not backlogged[bw[i]] then backlogged[bw[i]] = true; n = n + 1 end
  end
  local share = math.ceil(per_s / n)
  if mine >= share then
    return refuse(mine_at[mine - share + 1] + SEC - now, 'fair')
  end
  -- And a waiting tenant with fewer grants of this second goes first.
  if mine > 0 then
    local first = nil
    for i = 1, #bw, 2 do
      if bw[i] ~= tenant and (counts[bw[i]] or 0) < mine then
        local wake = tonumber(bw[i + 1])
        if first == nil or wake < first then first = wake end
      end
    end
    if first ~= nil then return refuse(math.max(first - now, 0) + poll, 'fair') end
  end
end

local member = fmt(redis.call('INCR', base .. ':seq')) .. '|' .. lane .. '|' .. tenant
redis.call('ZADD', k_s, fmt(now), member)
expire_ms(k_s, SEC + MIN)
redis.call('ZADD', k_m, fmt(now), member)
expire_ms(k_m, 2 * MIN)
redis.call('ZADD', k_tm, fmt(now), member)
expire_ms(k_tm, 2 * MIN)
for _, k in ipairs({k_d, k_td}) do
  redis.call('INCR', k)
  expire_ms(k, to_midnight + 60 * MIN)
end
if lane == 'i' then
  if waiter ~= '' then redis.call('ZREM', k_iw, waiter) end
else
  local s = redis.call('ZSCORE', k_bw, tenant)
  if s and tonumber(s) <= now then redis.call('ZREM', k_bw, tenant) end
end
return {1, 0, '', now}
"""
)

PAUSE_LUA = (
    _COMMON
    + """
local key = base .. ':p'
if ARGV[2] ~= '' then key = base .. ':tp:' .. ARGV[2] end
local pause_us = tonumber(ARGV[3])
local until_us = now + pause_us
-- Never shorten a pause another worker set.
if tonumber(redis.call('GET', key) or '0') < until_us then
  redis.call('SET', key, fmt(until_us), 'PX', fmt(math.floor(pause_us / 1000) + 60000))
end
return now
"""
)

RECONCILE_LUA = (
    _COMMON
    + """
local tenant = ARGV[2]
local guard, tolerance = tonumber(ARGV[8]), tonumber(ARGV[9])
local day_start = day * DAY
local function day_ok(reset)
  if reset ~= nil then return math.abs(reset - (day_start + DAY)) <= tolerance end
  return now - day_start >= guard
end
local function raise_day(key, target)
  if tonumber(redis.call('GET', key) or '0') < target then
    redis.call('SET', key, fmt(target), 'PX', fmt(math.floor(to_midnight / 1000) + 3600000))
  end
end
-- Keap counted calls we did not: add phantom grants at `now`, which is conservative.
local function raise_window(key, w, target)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - w))
  local missing = target - redis.call('ZCARD', key)
  if missing <= 0 then return end
  local first = redis.call('INCRBY', base .. ':seq', missing) - missing
  for i = 1, missing do
    redis.call('ZADD', key, fmt(now), fmt(first + i) .. '|r|')
  end
  expire_ms(key, 2 * MIN)
end
local app_day, reset = tonumber(ARGV[3]), tonumber(ARGV[4])
local app_minute, tenant_minute, tenant_day = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if app_day and day_ok(reset) then raise_day(base .. ':d:' .. fmt(day), app_day) end
if app_minute then raise_window(base .. ':m', MIN, app_minute) end
if tenant_minute then raise_window(base .. ':tm:' .. tenant, MIN, tenant_minute) end
if tenant_day and day_ok(nil) then raise_day(base .. ':td:' .. tenant .. ':' .. fmt(day), tenant_day) end
return now
"""
)


def _arg(value: int | None) -> str:
    return "" if value is None else str(value)


class RedisLimiter(Limiter):
    def __init__(
        self,
        *,
        client: redis.Redis,
        prefix: str = "onramp:limiter",
        clock: Callable[[], int] | None = None,
        grace_us: int = DEFAULT_GRACE_US,
        poll_us: int = DEFAULT_POLL_US,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.prefix = prefix
        # Tests only: a function returning epoch microseconds. Production reads Redis TIME.
        self._clock = clock
        self.grace_us = grace_us
        self.poll_us = poll_us
        # register_script sends EVALSHA, and loads the script again if Redis has lost it.
        self._acquire = client.register_script(ACQUIRE_LUA)
        self._pause_script = client.register_script(PAUSE_LUA)
        self._reconcile_script = client.register_script(RECONCILE_LUA)

    def base_key(self, app: str) -> str:
        return f"{self.prefix}:{{{app}}}"

    def _now_arg(self) -> str:
        return "" if self._clock is None else str(int(self._clock()))

    def _run(self, script: Any, app: str, args: list[str]) -> Any:
        try:
            return script(keys=[self.base_key(app)], args=args)
        except redis.exceptions.RedisError as exc:
            # Unreachable, read-only, out of memory or a script error: either way nothing may go
            # to Keap, because nothing was counted.
            raise LimiterUnavailable(f"limiter: Redis failed: {exc}") from exc

    def _decide(
        self,
        *,
        app: str,
        tenant: str,
        lane: Lane,
        limits: Limits,
        waiter: str | None,
        max_wait_us: int,
    ) -> Decision:
        app_day, tenant_day = limits.day_caps(lane)
        granted, wait_us, bucket, now_us = self._run(
            self._acquire,
            app,
            [
                self._now_arg(),
                tenant,
                lane.value,
                str(limits.app_per_second),
                str(limits.app_per_minute),
                str(app_day),
                str(limits.tenant_per_minute),
                str(tenant_day),
                waiter or "",
                str(max_wait_us),
                str(self.grace_us),
                str(self.poll_us),
                str(ACTIVE_US),
            ],
        )
        bucket = bucket.decode() if isinstance(bucket, bytes) else str(bucket)
        if granted:
            return Decision(granted=True, wait_seconds=0.0, bucket="", granted_at=now_us / 1e6)
        return Decision(granted=False, wait_seconds=to_wait_seconds(int(wait_us)), bucket=bucket)

    def _pause(self, *, app: str, tenant: str, pause_us: int) -> None:
        self._run(self._pause_script, app, [self._now_arg(), tenant, str(pause_us)])

    def _reconcile(self, *, app: str, tenant: str, targets: ReconcileTargets) -> None:
        self._run(
            self._reconcile_script,
            app,
            [
                self._now_arg(),
                tenant,
                _arg(targets.app_day),
                _arg(targets.app_day_reset_us),
                _arg(targets.app_minute),
                _arg(targets.tenant_minute),
                _arg(targets.tenant_day),
                str(DAY_GUARD_US),
                str(DAY_RESET_TOLERANCE_US),
            ],
        )
