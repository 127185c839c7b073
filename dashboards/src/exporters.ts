// Metrics the datastore dashboards read from the standard exporters, not from this service.
// Listed by name so the dashboard test can tell a typo from an exporter metric.

/** prometheus-community/postgres_exporter */
export const POSTGRES_EXPORTER_METRICS = [
  'pg_up',
  'pg_stat_database_numbackends',
  'pg_stat_database_xact_commit',
  'pg_stat_database_xact_rollback',
  'pg_stat_database_blks_hit',
  'pg_stat_database_blks_read',
  'pg_stat_database_deadlocks',
  'pg_stat_database_tup_inserted',
  'pg_stat_database_tup_updated',
  'pg_stat_database_temp_bytes',
  'pg_settings_max_connections',
] as const;

/** prometheus-community/pgbouncer_exporter */
export const PGBOUNCER_EXPORTER_METRICS = [
  'pgbouncer_up',
  'pgbouncer_pools_client_active_connections',
  'pgbouncer_pools_client_waiting_connections',
  'pgbouncer_pools_server_active_connections',
  'pgbouncer_pools_server_idle_connections',
  'pgbouncer_pools_client_maxwait_seconds',
] as const;

/** oliver006/redis_exporter */
export const REDIS_EXPORTER_METRICS = [
  'redis_up',
  'redis_connected_clients',
  'redis_blocked_clients',
  'redis_memory_used_bytes',
  'redis_memory_max_bytes',
  'redis_commands_processed_total',
  'redis_commands_duration_seconds_total',
  'redis_evicted_keys_total',
] as const;

export const EXPORTER_METRICS: readonly string[] = [
  ...POSTGRES_EXPORTER_METRICS,
  ...PGBOUNCER_EXPORTER_METRICS,
  ...REDIS_EXPORTER_METRICS,
];
