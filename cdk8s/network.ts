// Ingress (ingress-nginx) and NetworkPolicies. The api Ingress times out at the request deadline
// (rounded up to whole seconds); the api answers by then on its own (503 + Retry-After).
import { Construct } from 'constructs';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyEgressRule } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyEgressRule';
import type { INetworkPolicyIngressRule } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyIngressRule';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { ILabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import {
  addObject,
  type Component,
  fullname,
  GRPC_PORT,
  HTTP_PORT,
  meta,
  OPS_PORT,
  selectorLabels,
} from './base';
import { mergeFrom, tpl, when, whenItems } from './helm';
import { intStr, itemsOf, num, str, valuePath, yamlOf } from './values';
import { PROXY_CONNECT_TIMEOUT_SECONDS } from './ingressNginx';
import { catalogFromKubernetes, HOOK_ANNOTATIONS } from './workloads';

const NGINX = 'nginx.ingress.kubernetes.io';
/** The API server's ports: 443 behind the `kubernetes` Service, 6443 on most control-plane endpoints. */
export const KUBE_API_PORTS = [443, 6443];

/**
 * Proxy timeout (s) for player requests: the deadline rounded up, never longer (ingressNginx.ts
 * proxyTimeoutSeconds computes the same for the local nginx).
 */
export const proxyTimeoutExpr = (): string =>
  `div (add ${valuePath('config.requestDeadlineMs')} 999) 1000 | toString | quote`;

function ingress(
  scope: Construct,
  id: string,
  path: string,
  pathType: 'Prefix' | 'Exact',
  annotations: Record<string, string>,
) {
  const tlsSecret = valuePath('ingress.tlsSecretName');
  addObject<IIngress>(
    scope,
    id,
    { file: `${id}.yaml`, when: valuePath('ingress.enabled') },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        ...meta('api', id),
        annotations: { ...annotations, ...mergeFrom(valuePath('ingress.annotations')) },
      },
      spec: {
        ingressClassName: str('ingress.className'),
        rules: [
          {
            host: str('ingress.host'),
            http: {
              paths: [
                {
                  path,
                  pathType,
                  backend: { service: { name: fullname('api'), port: { name: 'http' } } },
                },
              ],
            },
          },
        ],
        ...when(tlsSecret, { tls: [{ hosts: [str('ingress.host')], secretName: tpl(tlsSecret) }] }),
      },
    },
  );
}

const tcp = (port: number): INetworkPolicyPort => ({ port, protocol: 'TCP' });

function peers(nsPath: string, podPath: string): INetworkPolicyPeer[] {
  return [
    {
      namespaceSelector: yamlOf<ILabelSelector>(nsPath),
      podSelector: yamlOf<ILabelSelector>(podPath),
    },
  ];
}

const prometheusScrape = (): INetworkPolicyIngressRule => ({
  from: peers('networkPolicy.prometheusNamespaceSelector', 'networkPolicy.prometheusPodSelector'),
  ports: [tcp(OPS_PORT)],
});

const dnsEgress = (): INetworkPolicyEgressRule => ({
  to: yamlOf('networkPolicy.dnsPeers'),
  ports: [
    { port: 53, protocol: 'UDP' },
    { port: 53, protocol: 'TCP' },
  ],
});

const postgresEgress = (): INetworkPolicyEgressRule => ({
  to: yamlOf('postgres.peers'),
  ports: [tcp(num('postgres.port'))],
});

/** api/worker reach the database through PgBouncer when it is deployed, else PostgreSQL itself. */
const databaseEgress = (): INetworkPolicyEgressRule[] => [
  ...whenItems(valuePath('pgbouncer.enabled'), [
    {
      to: [{ podSelector: { matchLabels: selectorLabels('pgbouncer') } }],
      ports: [tcp(num('pgbouncer.port'))],
    },
  ]),
  ...whenItems(`not ${valuePath('pgbouncer.enabled')}`, [postgresEgress()]),
];

/** Catalog source kubernetes: the pods watch their ChallengeCatalog on the API server. */
const kubeApiEgress = (): INetworkPolicyEgressRule[] =>
  whenItems(catalogFromKubernetes(), [
    { to: yamlOf('networkPolicy.kubeApiPeers'), ports: KUBE_API_PORTS.map(tcp) },
  ]);

const redisEgress = (): INetworkPolicyEgressRule => ({
  to: yamlOf('redis.peers'),
  ports: [tcp(num('redis.port'))],
});

function policy(
  scope: Construct,
  component: Component,
  ingressRules: INetworkPolicyIngressRule[],
  egress: INetworkPolicyEgressRule[],
  opts: { when?: string; hook?: boolean } = {},
) {
  const enabled = valuePath('networkPolicy.enabled');
  addObject<INetworkPolicy>(
    scope,
    `${component}-networkpolicy`,
    { file: `${component}-networkpolicy.yaml`, when: opts.when ? `and ${enabled} ${opts.when}` : enabled },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        ...meta(component),
        // The migration hook runs before normal objects exist: its policy must be a hook too.
        ...(opts.hook ? { annotations: { ...HOOK_ANNOTATIONS, 'helm.sh/hook-weight': '-5' } } : {}),
      },
      spec: {
        podSelector: { matchLabels: selectorLabels(component) },
        policyTypes: ['Ingress', 'Egress'],
        ingress: ingressRules,
        egress,
      },
    },
  );
}

export class Network extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const proxyTimeout = tpl(proxyTimeoutExpr());
    const basePath = tpl(valuePath('config.basePath'));

    // The same keys and numbers as cdk8s/ingressNginx.ts writes for the local stack's nginx.
    ingress(this, 'api-ingress', basePath, 'Prefix', {
      [`${NGINX}/proxy-connect-timeout`]: String(PROXY_CONNECT_TIMEOUT_SECONDS),
      [`${NGINX}/proxy-send-timeout`]: proxyTimeout,
      [`${NGINX}/proxy-read-timeout`]: proxyTimeout,
      [`${NGINX}/proxy-body-size`]: '4m',
      [`${NGINX}/proxy-http-version`]: '1.1',
      [`${NGINX}/proxy-next-upstream`]: 'error timeout',
      [`${NGINX}/proxy-next-upstream-tries`]: '2',
      ...when(valuePath('ingress.limitConnectionsPerIp'), {
        [`${NGINX}/limit-connections`]: intStr('ingress.limitConnectionsPerIp'),
      }),
      ...when(valuePath('ingress.limitRpsPerIp'), {
        [`${NGINX}/limit-rps`]: intStr('ingress.limitRpsPerIp'),
        [`${NGINX}/limit-burst-multiplier`]: intStr('ingress.limitBurstMultiplier'),
      }),
    });
    // The controller-wide half of the pairing (ConfigMap keys of ingress-nginx, not annotations):
    // the upstream keep-alive pool and 429 for the per-IP limits. Published next to the release for
    // the controller's ConfigMap (docs/DEPLOY.md); the local stack's nginx applies the same values.
    addObject<IConfigMap>(
      this,
      'ingress-nginx-settings',
      { file: 'ingress-nginx-settings.yaml', when: valuePath('ingress.enabled') },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: meta('api', 'ingress-nginx-settings'),
        data: {
          'upstream-keepalive-connections': intStr('ingress.upstreamKeepaliveConnections'),
          'upstream-keepalive-requests': intStr('ingress.upstreamKeepaliveRequests'),
          'upstream-keepalive-timeout': intStr('ingress.upstreamKeepaliveTimeoutSeconds'),
          'limit-req-status-code': '429',
          'limit-conn-status-code': '429',
        },
      },
    );
    // WebSocket: ingress-nginx forwards Upgrade/Connection itself; the socket needs HTTP/1.1
    // and a long idle timeout instead of the request deadline.
    const wsTimeout = tpl(`${valuePath('ingress.websocketTimeoutSeconds')} | int | toString | quote`);
    ingress(this, 'api-ws-ingress', `${basePath}/v1/ws`, 'Exact', {
      [`${NGINX}/proxy-connect-timeout`]: '1',
      [`${NGINX}/proxy-send-timeout`]: wsTimeout,
      [`${NGINX}/proxy-read-timeout`]: wsTimeout,
      [`${NGINX}/proxy-http-version`]: '1.1',
    });

    const extraEgress = itemsOf<INetworkPolicyEgressRule>('networkPolicy.extraEgress');
    policy(
      this,
      'api',
      [
        {
          from: peers('ingress.controllerNamespaceSelector', 'ingress.controllerPodSelector'),
          ports: [tcp(HTTP_PORT)],
        },
        prometheusScrape(),
        // the platform's event delivery (gRPC ingest)
        { from: yamlOf<INetworkPolicyPeer[]>('grpc.allowFrom'), ports: [tcp(GRPC_PORT)] },
        // k6 runner pods of the in-cluster load test call the api Service directly.
        ...whenItems<INetworkPolicyIngressRule>(valuePath('testRun.enabled'), [
          {
            from: [{ podSelector: { matchLabels: { k6_cr: fullname('loadtest') } } }],
            ports: [tcp(HTTP_PORT), tcp(GRPC_PORT)],
          },
        ]),
      ],
      [dnsEgress(), ...databaseEgress(), redisEgress(), ...kubeApiEgress(), extraEgress],
    );
    policy(
      this,
      'worker',
      [prometheusScrape()],
      [dnsEgress(), ...databaseEgress(), redisEgress(), ...kubeApiEgress(), extraEgress],
    );
    policy(
      this,
      'pgbouncer',
      [
        {
          from: [
            { podSelector: { matchLabels: selectorLabels('api') } },
            { podSelector: { matchLabels: selectorLabels('worker') } },
          ],
          ports: [tcp(num('pgbouncer.port'))],
        },
      ],
      [dnsEgress(), postgresEgress()],
      { when: valuePath('pgbouncer.enabled') },
    );
    policy(this, 'migrate', [], [dnsEgress(), postgresEgress()], {
      when: valuePath('migrate.enabled'),
      hook: true,
    });
  }
}
