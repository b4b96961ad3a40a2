-- The pause and settle scripts' start: `now`, and the day it falls in. (The decision's script has
-- its own, written for speed: no closures.)
--#include now.lua
-- Lua 5.1 prints big numbers as 1.7e+15; every number sent to Redis goes through fmt.
local function fmt(x) return string.format('%d', x) end
local day = math.floor(now / DAY)
local now_s = fmt(now)
-- A day hash lives until an hour after its day ends.
local function expire_day(key, d) redis.call('PEXPIRE', key, fmt(math.floor(((d + 1) * DAY - now) / 1000) + 3600000)) end
