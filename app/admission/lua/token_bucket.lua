-- Token bucket: take `cost` tokens from the bucket at KEYS[1], or say when they will be there.
-- Atomic: Redis runs the whole script before any other command, so concurrent callers on any
-- number of connections and pods never take more than rate * t + burst tokens.
-- Time comes from the Redis server (TIME), so every pod agrees on it.
--
-- KEYS[1]  bucket hash {tokens, ts_us}
-- ARGV[1]  refill rate, tokens per second (> 0)
-- ARGV[2]  burst: bucket capacity (>= 1)
-- ARGV[3]  cost: tokens this call takes (capped at burst, so a big batch can pass on a full bucket)
-- returns  {allowed 0|1, retry_after_us, tokens_left (floored)}

local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), burst)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts_us')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
end

local allowed = 0
local retry_us = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_us = math.ceil((cost - tokens) * 1000000 / rate)
end

-- Numbers are written with string.format: tostring() in Redis Lua keeps only 14 significant digits.
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts_us', string.format('%.0f', now))
-- The key is worthless once the bucket would be full again: let it expire then.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {allowed, retry_us, math.floor(tokens)}
