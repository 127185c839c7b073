// `node dist/app/operator.js` (make operator): the ChallengeService operator (app/operator/).
// OPERATOR_NAMESPACE: namespace to watch (default: the pod's, from the downward API file or
// POD_NAMESPACE; empty string = all). OPERATOR_KUBECONFIG: kubeconfig file (default: in-cluster).
// OPERATOR_RESYNC_MS: periodic re-apply (default 300000). OPERATOR_MIGRATION_POLL_MS: how often a
// ChallengeService waiting for its migration Job is looked at (default 2000). OPERATOR_HEALTH_PORT (default 8081, 0 =
// none): /healthz (process alive) and /readyz (ChallengeServices listed and watched).
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import pino from 'pino';
import { ChallengeServiceOperator } from './operator/controller';

async function main(): Promise<void> {
  const log = pino({ name: 'challenge-service-operator', level: process.env.LOG_LEVEL ?? 'info' });
  const kc = new k8s.KubeConfig();
  if (process.env.OPERATOR_KUBECONFIG) kc.loadFromFile(process.env.OPERATOR_KUBECONFIG);
  else kc.loadFromCluster();
  let namespace = process.env.OPERATOR_NAMESPACE ?? process.env.POD_NAMESPACE;
  if (namespace === undefined) {
    try {
      namespace = readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
    } catch {
      namespace = '';
    }
  }
  const resyncMs = Number(process.env.OPERATOR_RESYNC_MS ?? 300_000);
  const migrationPollMs = Number(process.env.OPERATOR_MIGRATION_POLL_MS ?? 2000);
  const operator = new ChallengeServiceOperator(k8s, kc, log, { namespace, resyncMs, migrationPollMs });
  let ready = false;
  const healthPort = Number(process.env.OPERATOR_HEALTH_PORT ?? 8081);
  const health = http.createServer((req, res) => {
    const ok = req.url === '/healthz' || (req.url === '/readyz' && ready);
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
  });
  if (healthPort > 0) health.listen(healthPort);
  await operator.start();
  ready = true;
  log.info({ namespace: namespace || '(all)', resyncMs }, 'operator started');
  const stop = () => {
    log.info('operator stopping');
    health.close();
    void operator.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
