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
import struct
import threading
from typing import Any

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

# Every script's `now`: from the argument `now_arg` (tests) or Redis's clock, in microseconds.
_NOW = """
local now
if now_arg ~= '' then
  now = tonumber(now_arg)
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local SEC, MIN, DAY = 1000000, 60000000, 86400000000
"""

# The pause and settle scripts' start: `now`, and the day it falls in. (The decision's script has
# its own, written for speed: no closures.)
_CLOCK = (
    _NOW
    + """
-- Lua 5.1 prints big numbers as 1.7e+15; every number sent to Redis goes through fmt.
local function fmt(x) return string.format('%d', x) end
local day = math.floor(now / DAY)
local now_s = fmt(now)
-- A day hash lives until an hour after its day ends.
local function expire_day(key, d) redis.call('PEXPIRE', key, fmt(math.floor(((d + 1) * DAY - now) / 1000) + 3600000)) end
"""
)

# KEYS[1] base; ARGV[1] lane, per_s, per_m, app_day, tenant_per_m, tenant_day, grace, poll, active
# packed as one char and big-endian doubles (fixed per limits and lane: built once, and read without
# making strings); ARGV[2] tenant; ARGV[3] 'now max_wait waiter' (now and waiter may be empty).
# Returns 'now member' when granted, '!wait bucket' when refused.
#
# Written for the common case, a grant with nobody waiting: one HMGET, three commands on :m, a count
# of :f, three writes (:m, :tm, :f) and the HSET of the counts. Everything else sits in branches that
# case does not enter, and it makes no closures or tables (each is garbage Redis's Lua has to collect).
ACQUIRE_LUA = (
    """
local base, tenant, sf = KEYS[1], ARGV[2], string.format
local lane, per_s, per_m, app_day_cap, t_per_m, t_day_cap, grace, poll, active = struct.unpack(
  '>c1dddddddd', ARGV[1])
local now_arg, max_wait, waiter = string.match(ARGV[3], '^(%d*) (%d+) (.*)$')
max_wait = tonumber(max_wait)
"""
    + _NOW
    + """local day = math.floor(now / DAY)
-- Lua 5.1 prints big numbers as 1.7e+15; every number sent to Redis goes through sf('%d').
local now_s, day_s = sf('%d', now), sf('%d', day)
local k_m, k_tm, k_d = base .. ':m', base .. ':tm:' .. tenant, base .. ':d:' .. day_s
local k_act, k_f = base .. ':act', base .. ':f'
local f_t, f_xt, f_rt = 't:' .. tenant, 'x:' .. tenant, 'r:' .. tenant
local h = redis.call('HMGET', k_d, '', f_t, 'x', f_xt, 'p', 'p:' .. tenant, 'iw', 'bw', 'r', f_rt,
  'ba', 'bt', 'aw')
-- h: 1 app count, 2 tenant count, 3 app upkeep, 4 tenant upkeep, 5 app pause, 6 tenant pause,
-- 7/8 latest interactive/bulk waiter wake, 9/10 newest app/tenant phantom, 11/12 the latest bulk
-- ask not yet in :act (tenant, time), 13 newest ask in :act.
local live = now - grace
local REFRESH = 5 * SEC
local extra = nil -- rarely written fields of the day hash, written with this call's HSET

-- Upkeep, at most every REFRESH of the limiter's clock: trim the small sets that are otherwise only
-- read by score and renew the expiry of the app's keys. On a new day hash it also sets the hints:
-- the waiter hints from the sets, the others from the day before (whose hash outlives its day by an
-- hour; gone, its phantoms and asks are long out of every window).
if not h[3] or now - tonumber(h[3]) >= REFRESH then
  redis.call('ZREMRANGEBYSCORE', k_act, '-inf', sf('%d', now - active))
  redis.call('ZREMRANGEBYSCORE', base .. ':iw', '-inf', sf('%d', live))
  redis.call('ZREMRANGEBYSCORE', base .. ':bw', '-inf', sf('%d', live))
  redis.call('ZREMRANGEBYSCORE', k_f, '-inf', sf('%d', now - MIN))
  redis.call('PEXPIRE', k_m, 120000)
  redis.call('PEXPIRE', k_f, 120000)
  redis.call('PEXPIRE', k_act, 120000)
  local set = {'x', now_s}
  if not h[3] then
    local y = redis.call('HMGET', base .. ':d:' .. sf('%d', day - 1), 'r', 'ba', 'bt', 'aw')
    local carry = {[9] = {'r', y[1]}, [11] = {'ba', y[2]}, [12] = {'bt', y[3]}, [13] = {'aw', y[4]}}
    for i, fv in pairs(carry) do
      if not h[i] then
        h[i] = fv[2] or (i ~= 11 and '0') or false
        if h[i] then set[#set + 1] = fv[1]; set[#set + 1] = h[i] end
      end
    end
    for i, f in pairs({[7] = 'iw', [8] = 'bw'}) do
      if not h[i] then
        h[i] = redis.call('ZRANGE', base .. ':' .. f, -1, -1, 'WITHSCORES')[2] or '0'
        set[#set + 1] = f; set[#set + 1] = h[i]
      end
    end
  end
  redis.call('HSET', k_d, unpack(set))
  if not h[3] then
    redis.call('PEXPIRE', k_d, sf('%d', math.floor(((day + 1) * DAY - now) / 1000) + 3600000))
  end
end
if not h[10] then
  h[10] = redis.call('HGET', base .. ':d:' .. sf('%d', day - 1), f_rt) or '0'
  extra = {f_rt, h[10]}
end

local wait, bucket = 0, ''
local app_pause = tonumber(h[5] or 0) - now
if app_pause > 0 then wait, bucket = app_pause, 'paused' end
if tonumber(h[6] or 0) - now > wait then wait, bucket = tonumber(h[6]) - now, 'paused' end

-- The app's sliding second: the grants in :m newer than now - 1 s, and the grants still in flight
-- (:f) older than that, which count as now. Phantoms count only in the minute; while one may be that
-- recent (hint 'r') the second's members are read and counted.
local sec_lo = '(' .. sf('%d', now - SEC)
local recent = nil
local c_s = 0
local min_lo = sf('%d', now - MIN)
local c_f = redis.call('ZCOUNT', k_f, '(' .. min_lo, sf('%d', now - SEC))
if (tonumber(h[9]) or now) <= now - SEC then
  c_s = redis.call('ZCOUNT', k_m, sec_lo, '+inf')
else
  recent = redis.call('ZRANGE', k_m, sec_lo, '+inf', 'BYSCORE', 'WITHSCORES')
  for i = 1, #recent, 2 do
    if string.sub(recent[i], 1, 2) ~= 'r|' then c_s = c_s + 1 end
  end
end
if c_s + c_f >= per_s then
  -- Full: the wait is until the (c - per_s + 1)-th oldest leaves, in time order with every grant
  -- in flight at now (after all the settled ones); such a grant leaves 1 s after it settles.
  recent = recent or redis.call('ZRANGE', k_m, sec_lo, '+inf', 'BYSCORE', 'WITHSCORES')
  local flying = {}
  for _, m in ipairs(redis.call('ZRANGE', k_f, sec_lo, '+inf', 'BYSCORE')) do flying[m] = true end
  local k, e = c_s + c_f - per_s + 1, SEC + now
  for i = 1, #recent, 2 do
    if string.sub(recent[i], 1, 2) ~= 'r|' and not flying[recent[i]] then
      k = k - 1
      if k == 0 then e = tonumber(recent[i + 1]) + SEC; break end
    end
  end
  if e - now > wait then wait, bucket = e - now, 'app:second' end
end

-- Sliding minute: trim what has left it; when full, the wait until its oldest needed grant leaves.
redis.call('ZREMRANGEBYSCORE', k_m, '-inf', min_lo)
local c_m = redis.call('ZCARD', k_m)
if c_m >= per_m then
  local e = redis.call('ZRANGE', k_m, c_m - per_m, c_m - per_m, 'WITHSCORES')
  if e[2] + MIN - now > wait then wait, bucket = e[2] + MIN - now, 'app:minute' end
end
local used_app, used_t = tonumber(h[1] or 0), tonumber(h[2] or 0)
local to_midnight = (day + 1) * DAY - now
if used_app >= app_day_cap and to_midnight > wait then wait, bucket = to_midnight, 'app:day' end
-- The tenant's minute holds its grants, which :m holds too, and its phantoms: it can bind only when
-- :m is that full or a phantom of the tenant's is within the minute; otherwise it is not read.
local c_tm = -1
if c_m >= t_per_m or (tonumber(h[10]) or now) > now - MIN then
  redis.call('ZREMRANGEBYSCORE', k_tm, '-inf', min_lo)
  c_tm = redis.call('ZCARD', k_tm)
  if c_tm >= t_per_m then
    local e = redis.call('ZRANGE', k_tm, c_tm - t_per_m, c_tm - t_per_m, 'WITHSCORES')
    if e[2] + MIN - now > wait then wait, bucket = e[2] + MIN - now, 'tenant:minute' end
  end
end
if used_t >= t_day_cap and to_midnight > wait then wait, bucket = to_midnight, 'tenant:day' end

-- Bulk asks: every one marks its tenant as backlogged for ACTIVE_US. The latest ask waits in the day
-- hash ('ba', 'bt') and moves into :act when another tenant asks, so a tenant asking alone writes
-- nothing more than its grant. (A tenant's last ask is then the later of the two places.)
-- (A hint that is missing, which the upkeep prevents, counts as 'maybe': the sets are read.)
local iw_hint, bw_hint = tonumber(h[7]) or math.huge, tonumber(h[8]) or math.huge
local bw, nbw = nil, 0 -- live bulk waiters (tenant, wake, ...), read only when the hint says so
local aw = tonumber(h[13]) or now
local in_act = false
if lane == 'b' then
  if h[11] and h[11] ~= tenant and tonumber(h[12]) > now - active then
    if redis.call('ZADD', k_act, h[12], h[11]) == 1 then redis.call('PEXPIRE', k_act, 120000) end
    if tonumber(h[12]) > aw then aw = tonumber(h[12]) end
    extra = extra or {}
    extra[#extra + 1] = 'aw'; extra[#extra + 1] = sf('%d', aw)
  end
end

if wait == 0 and lane == 'b' and iw_hint > live then
  local iw = redis.call('ZRANGEBYSCORE', base .. ':iw', '(' .. sf('%d', live), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #iw > 0 then wait, bucket = math.max(tonumber(iw[2]) - now, 0) + poll, 'interactive' end
end
if wait == 0 and lane == 'b' then
  if bw_hint > live then
    bw = redis.call('ZRANGEBYSCORE', base .. ':bw', '(' .. sf('%d', live), '+inf', 'WITHSCORES')
    nbw = #bw
  end
  -- The fair share: ceil(per_s / backlogged tenants), the asking tenant always among them. This
  -- tenant's bulk grants of the second are at most the app's (c_s), so with nobody waiting the
  -- rules can refuse only when c_s reaches the share, and alone (no other ask in :act is live)
  -- the share is the whole second.
  local n = 0
  if c_s > 0 and (nbw > 0 or aw > now - active) then
    if redis.call('ZADD', k_act, now_s, tenant) == 1 then redis.call('PEXPIRE', k_act, 120000) end
    in_act = true
    if nbw == 0 then
      n = redis.call('ZCOUNT', k_act, '(' .. sf('%d', now - active), '+inf')
    else
      local backlogged = {[tenant] = true}
      n = 1
      for _, t in ipairs(redis.call('ZRANGEBYSCORE', k_act, '(' .. sf('%d', now - active), '+inf')) do
        if not backlogged[t] then backlogged[t] = true; n = n + 1 end
      end
      for i = 1, nbw, 2 do
        if not backlogged[bw[i]] then backlogged[bw[i]] = true; n = n + 1 end
      end
    end
  end
  if n > 0 and (nbw > 0 or c_s >= math.ceil(per_s / n)) then
    local share = math.ceil(per_s / n)
    -- Bulk grants of the app's current second, per tenant, and this tenant's in time order.
    recent = recent or redis.call('ZRANGE', k_m, sec_lo, '+inf', 'BYSCORE', 'WITHSCORES')
    local mine_at, theirs = {}, {}
    for i = 1, #recent, 2 do
      local m = recent[i]
      local bar = string.find(m, '|', 1, true)
      if string.sub(m, bar + 1, bar + 2) == 'b|' then
        local t = string.sub(m, bar + 3)
        theirs[t] = (theirs[t] or 0) + 1
        if t == tenant then mine_at[#mine_at + 1] = tonumber(recent[i + 1]) end
      end
    end
    local mine = #mine_at
    if mine >= share then
      wait, bucket = mine_at[mine - share + 1] + SEC - now, 'fair'
    elseif mine > 0 and nbw > 0 then
      -- A waiting tenant with fewer grants of this second goes first.
      local first = nil
      for i = 1, nbw, 2 do
        if bw[i] ~= tenant and (theirs[bw[i]] or 0) < mine then
          local wake = tonumber(bw[i + 1])
          if first == nil or wake < first then first = wake end
        end
      end
      if first ~= nil then wait, bucket = math.max(first - now, 0) + poll, 'fair' end
    end
  end
end
if in_act then
  extra = extra or {}
  extra[#extra + 1] = 'aw'; extra[#extra + 1] = now_s
end

if wait > 0 then
  -- A refused caller that will come back registers when it waits for an app-wide slot; an
  -- app-wide pause is such a wait too (the whole app waits for it to end), a tenant's own is not.
  local app_wide = bucket == 'app:second' or bucket == 'app:minute'
    or (bucket == 'paused' and app_pause >= wait)
  local wake = now + wait
  extra = extra or {}
  if lane == 'i' then
    if waiter ~= '' and wait <= max_wait and app_wide then
      redis.call('ZADD', base .. ':iw', sf('%d', wake), waiter)
      redis.call('PEXPIRE', base .. ':iw', sf('%d', math.floor((wait + grace + MIN) / 1000)))
      if wake > iw_hint then extra[#extra + 1] = 'iw'; extra[#extra + 1] = sf('%d', wake) end
    elseif waiter ~= '' and iw_hint > live then
      redis.call('ZREM', base .. ':iw', waiter)
    end
  else
    extra[#extra + 1] = 'ba'; extra[#extra + 1] = tenant
    extra[#extra + 1] = 'bt'; extra[#extra + 1] = now_s
    if (app_wide or bucket == 'interactive' or bucket == 'fair') and wait <= max_wait then
      redis.call('ZADD', base .. ':bw', 'GT', sf('%d', wake), tenant)
      redis.call('PEXPIRE', base .. ':bw', sf('%d', math.floor((wait + grace + MIN) / 1000)))
      if wake > bw_hint then extra[#extra + 1] = 'bw'; extra[#extra + 1] = sf('%d', wake) end
    elseif bw_hint > live then
      redis.call('ZREM', base .. ':bw', tenant)
    end
  end
  if #extra > 0 then redis.call('HSET', k_d, unpack(extra)) end
  return '!' .. sf('%d', wait) .. ' ' .. bucket
end

-- Granted: one member in both minute sets, and the day's counts (the hash is this day's; the
-- upkeep gave it its expiry when it was made).
local count = sf('%d', used_app + 1)
local member = day_s .. '.' .. count .. '|' .. lane .. '|' .. tenant
redis.call('ZADD', k_m, now_s, member)
redis.call('ZADD', k_f, now_s, member)
if c_m == 0 then redis.call('PEXPIRE', k_m, 120000); redis.call('PEXPIRE', k_f, 120000) end
redis.call('ZADD', k_tm, now_s, member)
if c_tm == 0 then redis.call('PEXPIRE', k_tm, 120000) end
-- The tenant's upkeep, after its grant: trim the minute it did not read and renew its expiry.
if not h[4] or now - tonumber(h[4]) >= REFRESH then
  redis.call('ZREMRANGEBYSCORE', k_tm, '-inf', min_lo)
  redis.call('PEXPIRE', k_tm, 120000)
  extra = extra or {}
  extra[#extra + 1] = f_xt; extra[#extra + 1] = now_s
end
if lane == 'i' then
  if waiter ~= '' and iw_hint > live then redis.call('ZREM', base .. ':iw', waiter) end
  if extra == nil then
    redis.call('HSET', k_d, '', count, f_t, sf('%d', used_t + 1))
  else
    redis.call('HSET', k_d, '', count, f_t, sf('%d', used_t + 1), unpack(extra))
  end
else
  for i = 1, nbw, 2 do
    if bw[i] == tenant then
      if tonumber(bw[i + 1]) <= now then redis.call('ZREM', base .. ':bw', tenant) end
      break
    end
  end
  if extra == nil then
    redis.call('HSET', k_d, '', count, f_t, sf('%d', used_t + 1), 'ba', tenant, 'bt', now_s)
  else
    redis.call('HSET', k_d, '', count, f_t, sf('%d', used_t + 1), 'ba', tenant, 'bt', now_s, unpack(extra))
  end
end
return now_s .. ' ' .. member
"""
)

# KEYS[1] base; ARGV: now, tenant ('' for the whole app), pause in microseconds.
PAUSE_LUA = (
    """
local base, now_arg = KEYS[1], ARGV[1]
"""
    + _CLOCK
    + """
local field = 'p'
if ARGV[2] ~= '' then field = 'p:' .. ARGV[2] end
local until_us = now + tonumber(ARGV[3])
-- Into the hash of every day the pause touches; never shorten a pause another worker set.
for d = day, math.floor((until_us - 1) / DAY) do
  local key = base .. ':d:' .. fmt(d)
  if tonumber(redis.call('HGET', key, field) or '0') < until_us then
    redis.call('HSET', key, field, fmt(until_us))
    expire_day(key, d)
  end
end
return now_s
"""
)

# KEYS[1] base; ARGV: now, tenant, app day, its reset, app minute, tenant minute, tenant day (each
# may be empty), day guard, reset tolerance, token of the grant to settle (may be empty).
RECONCILE_LUA = (
    """
local base, now_arg = KEYS[1], ARGV[1]
"""
    + _CLOCK
    + """
local tenant = ARGV[2]
local guard, tolerance = tonumber(ARGV[8]), tonumber(ARGV[9])
local token = ARGV[10] or ''
local k_d, k_m, k_tm = base .. ':d:' .. fmt(day), base .. ':m', base .. ':tm:' .. tenant
-- Settle: the call granted as `token` has had its answer, so Keap admitted it at some time up to
-- now; it is no longer in flight, and its grant moves to now in both minute sets, and so in the
-- app's second (if still within the minute).
if token ~= '' then
  redis.call('ZREM', base .. ':f', token)
  local score = redis.call('ZSCORE', k_m, token)
  if score and tonumber(score) > now - MIN then
    redis.call('ZADD', k_m, 'XX', now_s, token)
    redis.call('ZADD', k_tm, 'XX', now_s, token)
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
    expire_day(k_d, day)
  end
end
-- Keap counted calls we did not: add phantom grants at `now`, which is conservative. A phantom's
-- number is its place in the window's count, so one made later in the same microsecond differs.
local function raise_window(key, target)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - MIN))
  local have = redis.call('ZCARD', key)
  if have >= target then return false end
  local batch = {}
  for i = have + 1, target do
    batch[#batch + 1] = now_s
    batch[#batch + 1] = 'r|' .. now_s .. '|' .. fmt(i)
    if #batch >= 1000 or i == target then
      redis.call('ZADD', key, unpack(batch))
      batch = {}
    end
  end
  redis.call('PEXPIRE', key, 120000)
  return true
end
local app_day, reset = tonumber(ARGV[3]), tonumber(ARGV[4])
local app_minute, tenant_minute, tenant_day = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if app_day and day_ok(reset) then raise_day('', app_day) end
if app_minute and raise_window(k_m, app_minute) then
  -- The decision counts the app's second without reading it until these have left it.
  if tonumber(redis.call('HGET', k_d, 'r') or '0') < now then
    redis.call('HSET', k_d, 'r', now_s)
    expire_day(k_d, day)
  end
end
if tenant_minute and raise_window(k_tm, tenant_minute) then
  -- The decision reads the tenant's minute again until these have left it.
  if tonumber(redis.call('HGET', k_d, 'r:' .. tenant) or '0') < now then
    redis.call('HSET', k_d, 'r:' .. tenant, now_s)
    expire_day(k_d, day)
  end
end
if tenant_day and day_ok(nil) then raise_day('t:' .. tenant, tenant_day) end
return now_s
"""
)

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
    """The limiter on Redis: the scripts above, on a connection of its own in each thread.

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
            fixed = self._fixed[(limits, lane)] = (None, zero)
            return fixed
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
        fixed = self._fixed[(limits, lane)] = (arg, None)
        return fixed

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
                seconds, micros = self.client.time()
                now = seconds * US + micros
            return int(self.client.zcount(f"{self.base_key(app)}:f", f"({now - MINUTE_US}", "+inf"))
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
