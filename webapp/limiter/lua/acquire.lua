-- The decision: grant one call or say how long to wait, against every limit at once.
-- KEYS[1] base; ARGV[1] lane, per_s, per_m, app_day, tenant_per_m, tenant_day, grace, poll, active
-- packed as one char and big-endian doubles (fixed per limits and lane: built once, and read without
-- making strings); ARGV[2] tenant; ARGV[3] 'now max_wait waiter' (now and waiter may be empty).
-- Returns 'now member' when granted, '!wait bucket' when refused.
--
-- Written for the common case, a grant with nobody waiting: one HMGET, three commands on :m, a count
-- of :f, three writes (:m, :tm, :f) and the HSET of the counts. Everything else sits in branches that
-- case does not enter, and it makes no closures or tables (each is garbage Redis's Lua has to collect).
local base, tenant, sf = KEYS[1], ARGV[2], string.format
local lane, per_s, per_m, app_day_cap, t_per_m, t_day_cap, grace, poll, active = struct.unpack(
  '>c1dddddddd', ARGV[1])
local now_arg, max_wait, waiter = string.match(ARGV[3], '^(%d*) (%d+) (.*)$')
max_wait = tonumber(max_wait)
--#include now.lua
local day = math.floor(now / DAY)
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
