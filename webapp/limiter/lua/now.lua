-- Every script's `now`: from the argument `now_arg` (tests) or Redis's clock, in microseconds.
-- Included by the other scripts (`--#include now.lua`): Redis runs one text, with no modules.
local now
if now_arg ~= '' then
  now = tonumber(now_arg)
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local SEC, MIN, DAY = 1000000, 60000000, 86400000000
