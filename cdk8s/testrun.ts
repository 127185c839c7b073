// k6-operator TestRun: an in-cluster load test against the api Service, metrics written to
// Prometheus by k6's remote-write output. Off unless testRun.enabled.
import { Construct } from 'constructs';
import type { IResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
import { addObject, fullname, meta, servedOr } from './base';
import { tpl } from './helm';
import { num, str, valuePath, yamlOf } from './values';
import { containerSecurityContext, podSecurityContext } from './workloads';

/** The TestRun shape we use (the full model is generated from the CRD in the tests). */
export interface TestRunBody {
  apiVersion: 'k6.io/v1alpha1';
  kind: 'TestRun';
  metadata: ReturnType<typeof meta>;
  spec: Record<string, unknown>;
}

export class LoadTestRun extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const args = tpl(
      `printf "--out experimental-prometheus-rw --tag testid=%s %s" .Release.Name ${valuePath('testRun.arguments')} | trim | quote`,
    );
    addObject<TestRunBody>(
      this,
      'testrun',
      {
        file: 'loadtest-testrun.yaml',
        when: `and ${valuePath('testRun.enabled')} ${servedOr(valuePath('testRun.force'), 'k6.io/v1alpha1', 'TestRun')}`,
      },
      {
        apiVersion: 'k6.io/v1alpha1',
        kind: 'TestRun',
        metadata: meta('loadtest'),
        spec: {
          parallelism: num('testRun.parallelism'),
          separate: false,
          script: { configMap: { name: str('testRun.scriptConfigMap'), file: str('testRun.scriptFile') } },
          arguments: args,
          runner: {
            image: str('testRun.runnerImage'),
            resources: yamlOf<IResourceRequirements>('testRun.resources'),
            securityContext: podSecurityContext(),
            containerSecurityContext: containerSecurityContext(),
            env: [
              { name: 'K6_PROMETHEUS_RW_SERVER_URL', value: str('testRun.prometheusRemoteWriteUrl') },
              { name: 'K6_PROMETHEUS_RW_TREND_STATS', value: 'p(50),p(95),p(99),max' },
              {
                name: 'BASE_URL',
                value: `http://${fullname('api')}:${tpl(`${valuePath('service.port')} | int`)}`,
              },
            ],
          },
        },
      },
    );
  }
}
