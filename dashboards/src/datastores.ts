import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { Board, NS } from './panels';

const PG = 'From postgres_exporter.';
const PGB = 'From pgbouncer_exporter.';
const REDIS = 'From redis_exporter.';

export function datastoresDashboard(): Dashboard {
  const b = new Board(
    'challenge-datastores',
    'Challenge service / PostgreSQL, PgBouncer, Redis',
    'Client-side pools of the service plus the standard exporters of the data stores it depends on.',
    { namespaceFrom: 'challenge_pg_pool_connections' },
  );
  b.row('Service side')
    .timeseries(
      'pg pool connections by state',
      [
        {
          expr: `sum by (pool, state) (challenge_pg_pool_connections{${NS}})`,
          legend: '{{pool}} {{state}}',
        },
      ],
      { description: 'waiting = clients queued for a connection inside the pods.' },
    )
    .timeseries(
      'Redis up (as seen by pods)',
      [{ expr: `min by (pod) (challenge_redis_up{${NS}})`, legend: '{{pod}}' }],
      { min: 0, max: 1 },
    )
    .timeseries(
      'Rate limiter degraded',
      [{ expr: `max(challenge_rate_limiter_degraded{${NS}})`, legend: 'degraded' }],
      { min: 0, max: 1 },
    );
  b.row('PostgreSQL (postgres_exporter)')
    .timeseries(
      'Transactions (postgres_exporter)',
      [
        {
          expr: 'sum by (datname) (rate(pg_stat_database_xact_commit[$__rate_interval]))',
          legend: 'commit {{datname}}',
        },
        {
          expr: 'sum by (datname) (rate(pg_stat_database_xact_rollback[$__rate_interval]))',
          legend: 'rollback {{datname}}',
        },
      ],
      { unit: 'ops', description: PG },
    )
    .timeseries(
      'Backends vs max_connections (postgres_exporter)',
      [
        { expr: 'sum(pg_stat_database_numbackends)', legend: 'backends' },
        { expr: 'max(pg_settings_max_connections)', legend: 'max_connections' },
      ],
      { description: PG },
    )
    .timeseries(
      'Cache hit ratio (postgres_exporter)',
      [
        {
          expr: 'sum(rate(pg_stat_database_blks_hit[$__rate_interval])) / (sum(rate(pg_stat_database_blks_hit[$__rate_interval])) + sum(rate(pg_stat_database_blks_read[$__rate_interval])))',
          legend: 'hit ratio',
        },
      ],
      { unit: 'percentunit', description: PG },
    )
    .timeseries(
      'Tuples written (postgres_exporter)',
      [
        { expr: 'sum(rate(pg_stat_database_tup_inserted[$__rate_interval]))', legend: 'inserted' },
        { expr: 'sum(rate(pg_stat_database_tup_updated[$__rate_interval]))', legend: 'updated' },
      ],
      { unit: 'ops', description: PG },
    )
    .timeseries(
      'Deadlocks and temp bytes (postgres_exporter)',
      [
        { expr: 'sum(increase(pg_stat_database_deadlocks[$__rate_interval]))', legend: 'deadlocks' },
        { expr: 'sum(rate(pg_stat_database_temp_bytes[$__rate_interval]))', legend: 'temp bytes/s' },
      ],
      { description: PG },
    )
    .stat('PostgreSQL up (postgres_exporter)', { expr: 'min(pg_up)' }, { redBelow: 1, description: PG });
  b.row('PgBouncer (pgbouncer_exporter)')
    .timeseries(
      'Client connections (pgbouncer_exporter)',
      [
        {
          expr: 'sum by (database) (pgbouncer_pools_client_active_connections)',
          legend: 'active {{database}}',
        },
        {
          expr: 'sum by (database) (pgbouncer_pools_client_waiting_connections)',
          legend: 'waiting {{database}}',
        },
      ],
      { description: PGB },
    )
    .timeseries(
      'Server connections (pgbouncer_exporter)',
      [
        {
          expr: 'sum by (database) (pgbouncer_pools_server_active_connections)',
          legend: 'active {{database}}',
        },
        { expr: 'sum by (database) (pgbouncer_pools_server_idle_connections)', legend: 'idle {{database}}' },
      ],
      { description: PGB },
    )
    .timeseries(
      'Longest client wait (pgbouncer_exporter)',
      [{ expr: 'max by (database) (pgbouncer_pools_client_maxwait_seconds)', legend: '{{database}}' }],
      { unit: 's', description: PGB },
    )
    .stat(
      'PgBouncer up (pgbouncer_exporter)',
      { expr: 'min(pgbouncer_up)' },
      { redBelow: 1, description: PGB },
    );
  b.row('Redis (redis_exporter)')
    .timeseries(
      'Commands per second (redis_exporter)',
      [{ expr: 'sum(rate(redis_commands_processed_total[$__rate_interval]))', legend: 'commands' }],
      { unit: 'ops', description: REDIS },
    )
    .timeseries(
      'Mean command time (redis_exporter)',
      [
        {
          expr: 'sum(rate(redis_commands_duration_seconds_total[$__rate_interval])) / sum(rate(redis_commands_processed_total[$__rate_interval]))',
          legend: 'mean',
        },
      ],
      { unit: 's', description: REDIS },
    )
    .timeseries(
      'Memory (redis_exporter)',
      [
        { expr: 'max(redis_memory_used_bytes)', legend: 'used' },
        { expr: 'max(redis_memory_max_bytes)', legend: 'maxmemory' },
      ],
      { unit: 'bytes', description: REDIS },
    )
    .timeseries(
      'Clients and evictions (redis_exporter)',
      [
        { expr: 'sum(redis_connected_clients)', legend: 'connected' },
        { expr: 'sum(redis_blocked_clients)', legend: 'blocked' },
        { expr: 'sum(rate(redis_evicted_keys_total[$__rate_interval]))', legend: 'evicted/s' },
      ],
      { description: `${REDIS} Evictions would drop rate-limit buckets and stream entries.` },
    )
    .stat('Redis up (redis_exporter)', { expr: 'min(redis_up)' }, { redBelow: 1, description: REDIS });
  return b.build();
}
