-- A pause (after a 429) of the whole app or one tenant.
-- KEYS[1] base; ARGV: now, tenant ('' for the whole app), pause in microseconds.
local base, now_arg = KEYS[1], ARGV[1]
--#include clock.lua
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
