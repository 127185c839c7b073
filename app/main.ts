// Role selection: api | worker | migrate | all (all = every role in one process, for `make run`).
import { loadConfig, type Config } from './config';
import { createLogger } from './ops/log';
import { migrate } from './store/migrate';
import { startService } from './runtime';
import { serviceModules } from './modules';

async function main(): Promise<void> {
  const cfg = loadConfig();
  const log = createLogger(cfg.LOG_LEVEL, { role: cfg.ROLE });

  if (cfg.ROLE === 'migrate') {
    const url = cfg.DATABASE_DIRECT_URL ?? cfg.DATABASE_URL;
    if (!url) throw new Error('ROLE=migrate needs DATABASE_DIRECT_URL (or DATABASE_URL)');
    const res = await migrate(url);
    log.info(res, 'migrations done');
    return;
  }

  const svc = await startService(cfg, log, {}, serviceModules());
  const base = `http://127.0.0.1:${svc.api?.port ?? cfg.PORT}${cfg.BASE_PATH}`;
  log.info(
    { port: svc.api?.port, opsPort: svc.opsPort, catalogVersion: svc.catalog.current.version },
    'service started',
  );
  if (cfg.DEV_MODE && svc.api) printDevBanner(base, svc.opsPort, cfg);

  const stop = (signal: string) => {
    log.info({ signal, graceMs: cfg.SHUTDOWN_GRACE_MS }, 'draining');
    // Last resort if something hangs past the grace period (plus room for the worker's batch).
    setTimeout(
      () => {
        log.error({ signal }, 'shutdown did not finish in time; exiting');
        process.exit(1);
      },
      2 * cfg.SHUTDOWN_GRACE_MS + 5000,
    ).unref();
    svc.shutdown().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function printDevBanner(base: string, opsPort: number, cfg: Config): void {
  const lines = [
    '',
    `challenge service (dev mode) on ${base}   ops: http://127.0.0.1:${opsPort}/metrics`,
    '',
    'try it:',
    `  TOKEN=$(curl -s -X POST ${base}/dev/token -d '{"userId":"player-1"}' | sed -E 's/.*"token":"([^"]+)".*/\\1/')`,
    `  curl -s -X POST -H "Authorization: Bearer $TOKEN" ${base}/v1/challenges/initialize`,
    `  curl -s -H "Authorization: Bearer $TOKEN" ${base}/v1/challenges`,
    `  SVC=$(curl -s -X POST ${base}/dev/token -d '{"service":true}' | sed -E 's/.*"token":"([^"]+)".*/\\1/')`,
    `  curl -s -X POST -H "Authorization: Bearer $SVC" ${base}/v1/events \\`,
    `    -d '{"events":[{"eventId":"e1","userId":"player-1","type":"login","occurredAt":"'$(date -u +%FT%TZ)'"}]}'`,
    '',
  ];
  if (cfg.GRPC_ENABLED) {
    const grpcAddr = `127.0.0.1:${cfg.GRPC_PORT}`;
    lines.push(
      `gRPC event ingest (the platform's event delivery) on ${grpcAddr}, namespace "${cfg.AB_NAMESPACE}":`,
      `  grpcurl -plaintext ${grpcAddr} list`,
      `  grpcurl -plaintext -d '{"id":"g1","userId":"player-1","namespace":"${cfg.AB_NAMESPACE}"}' \\`,
      `    ${grpcAddr} accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService/OnMessage`,
      `  grpcurl -plaintext -d '{"id":"g2","userId":"player-1","namespace":"${cfg.AB_NAMESPACE}","payload":{"statCode":"matches_won","latestValue":3}}' \\`,
      `    ${grpcAddr} accelbyte.social.statistic.v1.StatisticStatItemUpdatedService/OnMessage`,
      '',
    );
  }
  if (cfg.DEV_MOCK_USER_HEADER)
    lines.push(`mock player header on: curl -s -H "X-Mock-User-Id: player-1" ${base}/v1/challenges`, '');
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
