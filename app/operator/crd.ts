// The ChallengeService custom resource (issue 16): spec = the chart's values (checked by the
// operator against values.schema.json, so the CRD keeps the spec open), status subresource with
// observedGeneration and conditions. Group: the project's API group.
import { DEFAULT_CATALOG_GROUP } from '../catalog/crd';

export const CHALLENGE_SERVICE_GROUP = DEFAULT_CATALOG_GROUP;
export const CHALLENGE_SERVICE_VERSION = 'v1alpha1';
export const CHALLENGE_SERVICE_KIND = 'ChallengeService';
export const CHALLENGE_SERVICE_PLURAL = 'challengeservices';

export function challengeServiceCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${CHALLENGE_SERVICE_PLURAL}.${CHALLENGE_SERVICE_GROUP}` },
    spec: {
      group: CHALLENGE_SERVICE_GROUP,
      scope: 'Namespaced',
      names: {
        kind: CHALLENGE_SERVICE_KIND,
        plural: CHALLENGE_SERVICE_PLURAL,
        singular: 'challengeservice',
        listKind: 'ChallengeServiceList',
        shortNames: ['chsvc'],
      },
      versions: [
        {
          name: CHALLENGE_SERVICE_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Objects', type: 'integer', jsonPath: '.status.objects' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A challenge service installation; spec holds the Helm chart values.',
              properties: {
                spec: {
                  type: 'object',
                  description: 'Values of the challenge-service chart (values.yaml documents each).',
                  'x-kubernetes-preserve-unknown-fields': true,
                },
                status: {
                  type: 'object',
                  properties: {
                    observedGeneration: { type: 'integer', format: 'int64' },
                    objects: { type: 'integer' },
                    conditions: {
                      type: 'array',
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['type'],
                      items: {
                        type: 'object',
                        required: ['type', 'status'],
                        properties: {
                          type: { type: 'string' },
                          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
                          reason: { type: 'string' },
                          message: { type: 'string' },
                          observedGeneration: { type: 'integer', format: 'int64' },
                          lastTransitionTime: { type: 'string', format: 'date-time' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}
