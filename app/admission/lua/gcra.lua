-- GCRA with reservation: book the next emission slot of the budget at KEYS[1] if it starts within
-- ARGV[3] microseconds, and say how long the caller must wait for it; else book nothing and say
-- when a slot would conform. Atomic: one script run per decision, so all pods share one budget and
-- no two callers ever get the same slot.
-- Time comes from the Redis server (TIME), so every pod agrees on it.
--
-- KEYS[1]  theoretical arrival time (TAT) of the next slot, microseconds since the epoch
-- ARGV[1]  emission interval, microseconds (1e6 / rate per second)
-- ARGV[2]  burst: slots that may be taken back to back (>= 1)
-- ARGV[3]  max wait, microseconds: how long the caller can wait for its slot
-- returns  {reserved 0|1, wait_us}: reserved -> start after wait_us; else retry after wait_us

local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local max_wait = tonumber(ARGV[3])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end

local wait = tat - tolerance - now
if wait < 0 then
  wait = 0
end
if wait > max_wait then
  return {0, math.ceil(wait)}
end

local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {1, math.ceil(wait)}
