// k6-operator TestRun: an in-cluster load test against the api Service, metrics written to
// Prometheus by k6's remote-write output. Off unless testRun.enabled. With testRun.launcherRbac a
// ServiceAccount `<fullname>-loadtest` whose Role holds exactly what `npm run loadtest:cluster`
// (loadtest/tools/cluster.ts) does in the release namespace: create and delete its script
// ConfigMap, create, follow and delete its TestRun, read the runner pods' logs. No secrets, no
// other namespace.
import { Construct } from 'constructs';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
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

/** The rules of the loadtest:cluster launcher's Role (exported for the tests). */
export const loadTestLauncherRules = [
  { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'delete'] },
  { apiGroups: ['k6.io'], resources: ['testruns'], verbs: ['create', 'get', 'delete'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];

export class LoadTestRun extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const launcher = `and ${valuePath('testRun.enabled')} ${valuePath('testRun.launcherRbac')}`;
    addObject<IServiceAccount>(
      this,
      'loadtest-serviceaccount',
      { file: 'loadtest-serviceaccount.yaml', when: launcher },
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: meta('loadtest'),
        automountServiceAccountToken: false,
      },
    );
    addObject<IRole>(
      this,
      'loadtest-role',
      { file: 'loadtest-role.yaml', when: launcher },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: meta('loadtest'),
        rules: loadTestLauncherRules,
      },
    );
    addObject<IRoleBinding>(
      this,
      'loadtest-rolebinding',
      { file: 'loadtest-rolebinding.yaml', when: launcher },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: meta('loadtest'),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: fullname('loadtest') },
        subjects: [
          { kind: 'ServiceAccount', name: fullname('loadtest'), namespace: tpl('.Release.Namespace') },
        ],
      },
    );
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
