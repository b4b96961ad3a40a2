-- Settle a grant and rise to Keap's quota headers, in one round trip.
-- KEYS[1] base; ARGV: now, tenant, app day, its reset, app minute, tenant minute, tenant day (each
-- may be empty), day guard, reset tolerance, token of the grant to settle (may be empty).
local base, now_arg = KEYS[1], ARGV[1]
--#include clock.lua
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
