-- Events of one firehose run applied so far: $1 = user id LIKE pattern of the run (e.g. 'lt123-e%').
-- Every firehose event increments by 1, so the sum equals the number of applied events; more than
-- accepted means some were applied twice, fewer after the wait means some were lost.
SELECT coalesce(sum(value), 0)::bigint AS applied FROM stat_values WHERE user_id LIKE $1
