// The ChallengeService operator (app/operator/, issue 16), off unless operator.enabled: its CRD,
// ServiceAccount, a namespaced Role with what it applies (and the catalog rules it grants, so it
// needs no `escalate`), RoleBinding and Deployment (`node dist/app/operator.js`).
import { Construct } from 'constructs';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { ICustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import type { IResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
import { catalogRbacRules } from '../app/catalog/crd';
import { CHALLENGE_SERVICE_GROUP, CHALLENGE_SERVICE_PLURAL, challengeServiceCrd } from '../app/operator/crd';
import { addObject, fullname, labels, meta, selectorLabels } from './base';
import { tpl } from './helm';
import { str, valuePath, yamlOf } from './values';
import { containerSecurityContext, podSecurityContext, tmpVolume } from './workloads';
import { loadTestLauncherRules } from './testrun';

const WRITE = ['get', 'list', 'create', 'patch', 'delete'];
/** OPERATOR_HEALTH_PORT default of app/operator.ts. */
export const OPERATOR_HEALTH_PORT = 8081;

/** What the operator applies: every kind the chart renders in a namespace. */
export function operatorRbacRules(catalogGroup: string) {
  return [
    {
      apiGroups: [CHALLENGE_SERVICE_GROUP],
      resources: [CHALLENGE_SERVICE_PLURAL],
      verbs: ['get', 'list', 'watch'],
    },
    {
      apiGroups: [CHALLENGE_SERVICE_GROUP],
      resources: [`${CHALLENGE_SERVICE_PLURAL}/status`],
      verbs: ['get', 'patch'],
    },
    { apiGroups: [''], resources: ['services', 'configmaps', 'serviceaccounts'], verbs: WRITE },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: WRITE },
    { apiGroups: ['batch'], resources: ['jobs'], verbs: WRITE },
    { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: WRITE },
    { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: WRITE },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: WRITE },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: WRITE },
    { apiGroups: ['monitoring.coreos.com'], resources: ['servicemonitors', 'prometheusrules'], verbs: WRITE },
    { apiGroups: ['keda.sh'], resources: ['scaledobjects'], verbs: WRITE },
    { apiGroups: ['k6.io'], resources: ['testruns'], verbs: WRITE },
    { apiGroups: [catalogGroup], resources: ['challengecatalogs'], verbs: ['create'] },
    // The Roles it writes (service pods, loadtest:cluster launcher) grant these; RBAC lets it only
    // grant what it holds.
    ...catalogRbacRules(catalogGroup),
    ...loadTestLauncherRules.filter((r) => r.resources[0]!.startsWith('pods')),
  ];
}

export class OperatorWorkload extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const on = valuePath('operator.enabled');
    const crd = challengeServiceCrd() as unknown as ICustomResourceDefinition;
    addObject<ICustomResourceDefinition>(
      this,
      'crd',
      { file: 'operator-crd.yaml', when: `and ${on} ${valuePath('operator.installCrd')}` },
      {
        ...crd,
        metadata: {
          ...crd.metadata,
          labels: labels('operator'),
          annotations: { 'helm.sh/resource-policy': 'keep' },
        },
      },
    );
    addObject<IServiceAccount>(
      this,
      'serviceaccount',
      { file: 'operator-serviceaccount.yaml', when: on },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta('operator') },
    );
    addObject<IRole>(
      this,
      'role',
      { file: 'operator-role.yaml', when: on },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: meta('operator'),
        rules: operatorRbacRules(tpl(`${valuePath('catalog.crdGroup')} | quote`)),
      },
    );
    addObject<IRoleBinding>(
      this,
      'rolebinding',
      { file: 'operator-rolebinding.yaml', when: on },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: meta('operator'),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: fullname('operator') },
        subjects: [
          { kind: 'ServiceAccount', name: fullname('operator'), namespace: tpl('.Release.Namespace') },
        ],
      },
    );
    addObject<IDeployment>(
      this,
      'deployment',
      { file: 'operator-deployment.yaml', when: on },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta('operator'),
        spec: {
          replicas: 1,
          strategy: { type: 'Recreate' },
          selector: { matchLabels: selectorLabels('operator') },
          template: {
            metadata: { labels: labels('operator') },
            spec: {
              serviceAccountName: fullname('operator'),
              enableServiceLinks: false,
              securityContext: podSecurityContext(),
              imagePullSecrets: yamlOf('image.pullSecrets'),
              containers: [
                {
                  name: 'operator',
                  image: tpl('include "challenge-service.image" .'),
                  imagePullPolicy: str<'IfNotPresent'>('image.pullPolicy'),
                  command: ['node', 'dist/app/operator.js'],
                  env: [
                    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                    {
                      name: 'OPERATOR_RESYNC_MS',
                      value: tpl(`mul ${valuePath('operator.resyncSeconds')} 1000 | quote`),
                    },
                  ],
                  ports: [{ name: 'health', containerPort: OPERATOR_HEALTH_PORT }],
                  startupProbe: {
                    httpGet: { path: '/readyz', port: 'health' },
                    periodSeconds: 2,
                    failureThreshold: 30,
                  },
                  readinessProbe: { httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 10 },
                  livenessProbe: { httpGet: { path: '/healthz', port: 'health' }, periodSeconds: 20 },
                  resources: yamlOf<IResourceRequirements>('operator.resources'),
                  securityContext: containerSecurityContext(),
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
                },
              ],
              volumes: [tmpVolume],
            },
          },
        },
      },
    );
  }
}
