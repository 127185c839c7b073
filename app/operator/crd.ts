// The ChallengeService custom resource (issue 16): spec = the chart's values (checked by the
// operator against values.schema.json, so the CRD keeps the spec open), status subresource with
// observedGeneration and conditions. Group: the project's API group. The envelope is the one both
// CRDs share (app/schemas/kubernetes.ts); the status schema is generated from its zod schema.
import { z } from 'zod';
import { DEFAULT_CATALOG_GROUP } from '../catalog/crd';
import { CONDITION_LIST, customResourceDefinition, kubernetesSchema } from '../schemas/kubernetes';

export const CHALLENGE_SERVICE_GROUP = DEFAULT_CATALOG_GROUP;
export const CHALLENGE_SERVICE_VERSION = 'v1alpha1';
export const CHALLENGE_SERVICE_KIND = 'ChallengeService';
export const CHALLENGE_SERVICE_PLURAL = 'challengeservices';

const int64 = () => z.number().int().meta({ format: 'int64' }).optional();

/** The ChallengeService status the operator writes. */
export const challengeServiceStatusSchema = z.object({
  observedGeneration: int64(),
  objects: z.number().int().optional(),
  conditions: z
    .array(
      z.object({
        type: z.string(),
        status: z.enum(['True', 'False', 'Unknown']),
        reason: z.string().optional(),
        message: z.string().optional(),
        observedGeneration: int64(),
        lastTransitionTime: z.string().meta({ format: 'date-time' }).optional(),
      }),
    )
    .meta(CONDITION_LIST)
    .optional(),
});

export function challengeServiceCrd(): Record<string, unknown> {
  return customResourceDefinition({
    group: CHALLENGE_SERVICE_GROUP,
    version: CHALLENGE_SERVICE_VERSION,
    kind: CHALLENGE_SERVICE_KIND,
    plural: CHALLENGE_SERVICE_PLURAL,
    singular: 'challengeservice',
    shortNames: ['chsvc'],
    printerColumns: [
      ['Ready', 'string', '.status.conditions[?(@.type=="Ready")].status'],
      ['Reason', 'string', '.status.conditions[?(@.type=="Ready")].reason'],
      ['Objects', 'integer', '.status.objects'],
    ],
    description: 'A challenge service installation; spec holds the Helm chart values.',
    properties: {
      spec: {
        type: 'object',
        description: 'Values of the challenge-service chart (values.yaml documents each).',
        'x-kubernetes-preserve-unknown-fields': true,
      },
      status: kubernetesSchema(challengeServiceStatusSchema),
    },
  });
}
