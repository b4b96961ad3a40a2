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
    base:ts:<tenant>    sorted set, the tenant's bulk grants in the last second (fair share)
    base:d:<day>        hash, grants on UTC day number <day>: field '' the app's, 't:<tenant>' each
                        tenant's; expires after that day
    base:p, base:tp:<tenant>  pause end (epoch microseconds), app-wide or one tenant
    base:iw             sorted set, interactive callers waiting for an app-wide slot (score: wake)
    base:bw             sorted set, bulk tenants waiting for an app-wide slot (score: wake)
    base:act            sorted set, bulk tenants that asked in the last second (score: last ask)
    base:seq            counter that makes sorted-set members unique

A grant's member is returned to the caller (`Decision.token`); the settle script (one call after
the response, which also reconciles) moves that member to Redis's time of the settle in :s, :m,
:tm and :ts.

The window sets (:s, :m, :tm, :ts) are trimmed to their window on every use and never hold more
members than their limit (plus a reconcile's phantoms, capped at the limit, and grants in flight
that settle re-stamps), so keys and memory do not grow per call. The waiter and backlog sets
(:iw, :bw, :act, one member per caller or tenant) are read by score and trimmed, and expiries
renewed, by an upkeep step at most every 5 s (its last run kept in the day hash, fields 'x' and
'x:<tenant>'); a key gets its expiry also when it is made. Fewer commands per decision is what
keeps one decision as cheap as a single `limits` hit.
The scripts build day and tenant key names from their arguments and the time they read; every key
shares the app's hash tag, which is what a cluster needs.
"""

from __future__ import annotations

from typing import Any

import redis

from webapp.limiter.base import (
    ACTIVE_US,
    DAY_GUARD_US,
    DAY_RESET_TOLERANCE_US,
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
local k_d = base .. ':d:' .. fmt(day)
local k_iw, k_bw, k_act = base .. ':iw', base .. ':bw', base .. ':act'
local k_ts = base .. ':ts:' .. tenant
local now_s = fmt(now)
local fresh, bw = {}, {}
local used = redis.call('HMGET', k_d, '', 't:' .. tenant, 'x', 'x:' .. tenant)
-- Upkeep, at most every REFRESH of the limiter's clock (app keys) and per tenant: trim the small
-- sets that are otherwise only read by score, and renew the expiry of keys in use. A key made
-- in between gets its expiry when it is made (below), so an idle app leaves nothing behind.
local REFRESH = 5 * SEC
local refresh_app = now - tonumber(used[3] or '0') >= REFRESH
local refresh_tenant = now - tonumber(used[4] or '0') >= REFRESH
if refresh_app then
  redis.call('ZREMRANGEBYSCORE', k_act, '-inf', fmt(now - active))
  redis.call('ZREMRANGEBYSCORE', k_iw, '-inf', fmt(now - grace))
  redis.call('ZREMRANGEBYSCORE', k_bw, '-inf', fmt(now - grace))
  for _, k in ipairs({k_s, k_m, k_act}) do redis.call('PEXPIRE', k, 2 * 60000) end
  if redis.call('HSET', k_d, 'x', now_s) == 1 then expire_ms(k_d, to_midnight + 60 * MIN) end
end
if refresh_tenant then
  redis.call('PEXPIRE', k_tm, 2 * 60000)
  redis.call('PEXPIRE', k_ts, 2 * 60000)
  if redis.call('HSET', k_d, 'x:' .. tenant, now_s) == 1 then expire_ms(k_d, to_midnight + 60 * MIN) end
end
if lane == 'b' then
  -- Every bulk ask marks its tenant as backlogged (one member per tenant).
  if redis.call('ZADD', k_act, now_s, tenant) == 1 then redis.call('PEXPIRE', k_act, 2 * 60000) end
end

-- Sliding window: trim what has left it, then the wait until one slot opens (0 if one is open).
local function window(key, w, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - w))
  local c = redis.call('ZCARD', key)
  if c == 0 then fresh[key] = true end
  if c < limit then return 0 end
  local e = redis.call('ZRANGE', key, c - limit, c - limit, 'WITHSCORES')
  return tonumber(e[2]) + w - now
end
local p = redis.call('MGET', base .. ':p', base .. ':tp:' .. tenant)
local app_pause = math.max(tonumber(p[1] or '0') - now, 0)
local pause = math.max(app_pause, tonumber(p[2] or '0') - now, 0)
local function day_wait(v, cap)
  if tonumber(v or '0') >= cap then return to_midnight end
  return 0
end

local waits = {
  pause,
  window(k_s, SEC, per_s),
  window(k_m, MIN, per_m),
  day_wait(used[1], app_day_cap),
  window(k_tm, MIN, t_per_m),
  day_wait(used[2], t_day_cap),
}
local names = {'paused', 'app:second', 'app:minute', 'app:day', 'tenant:minute', 'tenant:day'}
local wait, bucket = 0, ''
for i = 1, 6 do
  if waits[i] > wait then wait = waits[i]; bucket = names[i] end
end

-- Waiters count until wake + grace; older ones are ignored here and trimmed by the upkeep.
local live = '(' .. fmt(now - grace)

-- A refused caller that will come back registers when it waits for an app-wide slot; an app-wide
-- pause is such a wait too (the whole app waits for it to end), a tenant's own pause is not.
local function refuse(w, why)
  local app_wide = why == 'app:second' or why == 'app:minute'
    or (why == 'paused' and app_pause >= w)
  if lane == 'i' then
    if waiter ~= '' and w <= max_wait and app_wide then
      redis.call('ZADD', k_iw, fmt(now + w), waiter)
      expire_ms(k_iw, w + grace + MIN)
    elseif waiter ~= '' then
      redis.call('ZREM', k_iw, waiter)
    end
  elseif (app_wide or why == 'interactive' or why == 'fair') and w <= max_wait then
    redis.call('ZADD', k_bw, 'GT', fmt(now + w), tenant)
    expire_ms(k_bw, w + grace + MIN)
  else
    redis.call('ZREM', k_bw, tenant)
  end
  return {0, w, why, now, ''}
end

if wait > 0 then return refuse(wait, bucket) end

if lane == 'b' then
  local iw = redis.call('ZRANGEBYSCORE', k_iw, live, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #iw > 0 then
    return refuse(math.max(tonumber(iw[2]) - now, 0) + poll, 'interactive')
  end
  -- This tenant's bulk grants in the app's current second (its own small sorted set).
  redis.call('ZREMRANGEBYSCORE', k_ts, '-inf', fmt(now - SEC))
  local mine = redis.call('ZCARD', k_ts)
  if mine == 0 then fresh[k_ts] = true end
  bw = redis.call('ZRANGEBYSCORE', k_bw, live, '+inf', 'WITHSCORES')
  -- The fair share: ceil(per_s / backlogged tenants), the asking tenant always among them (it
  -- has just been added to k_act, so without waiters the count is that set's size).
  local act_live = '(' .. fmt(now - active)
  local n
  if #bw == 0 then
    n = redis.call('ZCOUNT', k_act, act_live, '+inf')
  else
    local backlogged = {[tenant] = true}
    n = 1
    for _, t in ipairs(redis.call('ZRANGEBYSCORE', k_act, act_live, '+inf')) do
      if not backlogged[t] then backlogged[t] = true; n = n + 1 end
    end
    for i = 1, #bw, 2 do
      if not backlogged[bw[i]] then backlogged[bw[i]] = true; n = n + 1 end
    end
  end
  local share = math.ceil(per_s / n)
  if mine >= share then
    local e = redis.call('ZRANGE', k_ts, mine - share, mine - share, 'WITHSCORES')
    return refuse(tonumber(e[2]) + SEC - now, 'fair')
  end
  -- And a waiting tenant with fewer grants of this second goes first.
  if mine > 0 and #bw > 0 then
    local first = nil
    for i = 1, #bw, 2 do
      if bw[i] ~= tenant then
        local theirs = redis.call('ZCOUNT', base .. ':ts:' .. bw[i], '(' .. fmt(now - SEC), '+inf')
        if theirs < mine then
          local wake = tonumber(bw[i + 1])
          if first == nil or wake < first then first = wake end
        end
      end
    end
    if first ~= nil then return refuse(math.max(first - now, 0) + poll, 'fair') end
  end
end

local member = fmt(redis.call('INCR', base .. ':seq')) .. '|' .. lane .. '|' .. tenant
for _, k in ipairs({k_s, k_m, k_tm}) do
  redis.call('ZADD', k, now_s, member)
  if fresh[k] then redis.call('PEXPIRE', k, 2 * 60000) end
end
-- Day counts: one hash per UTC day, field '' for the app and 't:<tenant>' per tenant. Its expiry
-- is set when the day's hash is made (here or by reconcile), past that day's end.
if redis.call('HINCRBY', k_d, '', 1) == 1 then expire_ms(k_d, to_midnight + 60 * MIN) end
redis.call('HINCRBY', k_d, 't:' .. tenant, 1)
if lane == 'i' then
  if waiter ~= '' then redis.call('ZREM', k_iw, waiter) end
else
  redis.call('ZADD', k_ts, now_s, member)
  if fresh[k_ts] then redis.call('PEXPIRE', k_ts, 2 * 60000) end
  if #bw > 0 then
    local s = redis.call('ZSCORE', k_bw, tenant)
    if s and tonumber(s) <= now then redis.call('ZREM', k_bw, tenant) end
  end
end
return {1, 0, '', now, member}
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
local token = ARGV[10] or ''
local now_s = fmt(now)
local k_d = base .. ':d:' .. fmt(day)
-- Settle: the call granted as `token` has had its answer, so Keap admitted it at some time up to
-- now; its grant moves to now in every sliding window it counts in (if still within the minute).
if token ~= '' then
  local k_m = base .. ':m'
  local score = redis.call('ZSCORE', k_m, token)
  if score and tonumber(score) > now - MIN then
    redis.call('ZADD', base .. ':s', now_s, token)
    redis.call('ZADD', k_m, now_s, token)
    redis.call('ZADD', base .. ':tm:' .. tenant, now_s, token)
    if string.match(token, '^%d+|b|') then redis.call('ZADD', base .. ':ts:' .. tenant, now_s, token) end
  end
end
local day_start = day * DAY
local function day_ok(reset)
  if reset ~= nil then return math.abs(reset - (day_start + DAY)) <= tolerance end
  return now - day_start >= guard
end
local function raise_day(field, target)
  if tonumber(redis.call('HGET', k_d, field) or '0') < target then
    redis.call('HSET', k_d, field, fmt(target))
    expire_ms(k_d, to_midnight + 60 * MIN)
  end
end
-- Keap counted calls we did not: add phantom grants at `now`, which is conservative.
local function raise_window(key, w, target)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - w))
  local missing = target - redis.call('ZCARD', key)
  if missing <= 0 then return end
  local first = redis.call('INCRBY', base .. ':seq', missing) - missing
  for i = 1, missing do
    redis.call('ZADD', key, now_s, fmt(first + i) .. '|r|')
  end
  expire_ms(key, 2 * MIN)
end
local app_day, reset = tonumber(ARGV[3]), tonumber(ARGV[4])
local app_minute, tenant_minute, tenant_day = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if app_day and day_ok(reset) then raise_day('', app_day) end
if app_minute then raise_window(base .. ':m', MIN, app_minute) end
if tenant_minute then raise_window(base .. ':tm:' .. tenant, MIN, tenant_minute) end
if tenant_day and day_ok(nil) then raise_day('t:' .. tenant, tenant_day) end
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = client
        self.prefix = prefix
        # The arguments that depend only on the limits and the lane, built once (Limits is frozen).
        self._limit_args: dict[tuple[Limits, Lane], list[str]] = {}
        self._tuning_args = [str(self.grace_us), str(self.poll_us), str(ACTIVE_US)]
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
        limit_args = self._limit_args.get((limits, lane))
        if limit_args is None:
            if len(self._limit_args) > 1024:
                self._limit_args.clear()
            app_day, tenant_day = limits.day_caps(lane)
            limit_args = self._limit_args[(limits, lane)] = [
                lane.value,
                str(limits.app_per_second),
                str(limits.app_per_minute),
                str(app_day),
                str(limits.tenant_per_minute),
                str(tenant_day),
            ]
        granted, wait_us, bucket, now_us, token = self._run(
            self._acquire,
            app,
            [
                self._now_arg(),
                tenant,
                *limit_args,
                waiter or "",
                str(max_wait_us),
                *self._tuning_args,
            ],
        )
        bucket = bucket.decode() if isinstance(bucket, bytes) else str(bucket)
        if granted:
            return Decision(
                granted=True,
                wait_seconds=0.0,
                bucket="",
                granted_at=now_us / 1e6,
                token=token.decode() if isinstance(token, bytes) else str(token),
            )
        return Decision(granted=False, wait_seconds=to_wait_seconds(int(wait_us)), bucket=bucket)

    def _pause(self, *, app: str, tenant: str, pause_us: int) -> None:
        self._run(self._pause_script, app, [self._now_arg(), tenant, str(pause_us)])

    def _settle(
        self, *, app: str, tenant: str, token: str | None, targets: ReconcileTargets | None
    ) -> None:
        self._run(
            self._reconcile_script,
            app,
            [
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
            ],
        )
