// Kubernetes custom resources from zod schemas: the structural OpenAPI v3 schema a CRD takes, and the
// CustomResourceDefinition envelope both of the project's resources share (ChallengeCatalog in
// app/catalog/crd.ts, ChallengeService in app/operator/crd.ts).
import { z } from 'zod';

type Json = Record<string, unknown>;
const SAFE = Number.MAX_SAFE_INTEGER;

/** zod's JSON Schema in the structural OpenAPI v3 form a CRD takes: no $schema, open objects (the API
 *  server prunes unknown fields), integers without the safe-integer bounds zod states. */
export function kubernetesSchema(schema: z.ZodType): Json {
  const json = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'output',
    unrepresentable: 'throw',
  }) as Json;
  return structural(json);
}

function structural(node: unknown): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(node as Json)) {
    if (key === '$schema' || key === 'additionalProperties') continue;
    if ((key === 'maximum' && value === SAFE) || (key === 'minimum' && value === -SAFE)) continue;
    if (key === 'required' && Array.isArray(value) && value.length === 0) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, structural(v)]));
    } else if (key === 'items') {
      out.items = structural(value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** `x-kubernetes-list-type: map` keyed by `type`: how Kubernetes lists conditions. */
export const CONDITION_LIST = { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] };

export interface CrdSpec {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories?: string[];
  /** Columns of `kubectl get` as [name, type, jsonPath], before the Age column every CRD ends with. */
  printerColumns: [string, string, string][];
  /** The openAPIV3Schema: its description, properties (spec and status) and required ones. */
  description: string;
  properties: Json;
  required?: string[];
}

/** A namespaced apiextensions.k8s.io/v1 CRD with one served, stored version and a status subresource. */
export function customResourceDefinition(crd: CrdSpec): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${crd.plural}.${crd.group}` },
    spec: {
      group: crd.group,
      names: {
        kind: crd.kind,
        listKind: `${crd.kind}List`,
        plural: crd.plural,
        singular: crd.singular,
        shortNames: crd.shortNames,
        ...(crd.categories ? { categories: crd.categories } : {}),
      },
      scope: 'Namespaced',
      versions: [
        {
          name: crd.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...crd.printerColumns.map(([name, type, jsonPath]) => ({ name, type, jsonPath })),
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: crd.description,
              properties: crd.properties,
              ...(crd.required ? { required: crd.required } : {}),
            },
          },
        },
      ],
    },
  };
}
