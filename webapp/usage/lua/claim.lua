-- KEYS: pending list, claims hash, this claim's list; ARGV: how many, claim id.
-- Take up to ARGV[1] records from the head of the pending list into this flush's own claim list and
-- note the claim (with Redis's clock) in the claims hash: one atomic step, so no two flushers ever
-- hold the same record.
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return items end
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[3], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('LTRIM', KEYS[1], #items, -1)
local t = redis.call('TIME')
redis.call('HSET', KEYS[2], ARGV[2], t[1])
return items
