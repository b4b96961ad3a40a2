-- KEYS: pending list, claims hash, the claim's list; ARGV: claim id. Returns how many (-1: gone).
-- Put a claim's records back on the pending list, once: only if the claim is still registered.
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return -1 end
local items = redis.call('LRANGE', KEYS[3], 0, -1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('DEL', KEYS[3])
return #items
