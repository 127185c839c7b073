// The ChallengeCatalog custom resource: its CustomResourceDefinition (apiextensions.k8s.io/v1) and
// the RBAC rules pods need to watch it, write its status and hold the status-writer Lease.
// Plain objects, so cdk8s (ApiObject) and tests use them as they are. spec is the catalog document
// in the current format (camelCase); the loader validates it exactly like a file. Both schemas are
// generated from the zod schemas in app/schemas/catalog.ts.
import { catalogSpecSchema as catalogSpec, catalogStatusSchema as catalogStatus } from '../schemas/catalog';
import { customResourceDefinition, kubernetesSchema } from '../schemas/kubernetes';

export const DEFAULT_CATALOG_GROUP = 'challenges.example.com';
export const CATALOG_VERSION = 'v1alpha1';
export const CATALOG_KIND = 'ChallengeCatalog';
export const CATALOG_PLURAL = 'challengecatalogs';
export const CATALOG_SINGULAR = 'challengecatalog';

export const crdName = (group: string = DEFAULT_CATALOG_GROUP): string => `${CATALOG_PLURAL}.${group}`;

type Schema = Record<string, unknown>;

/** Catalog spec schema, generated from the catalog document's zod schema (app/schemas/catalog.ts). */
export const catalogSpecSchema: Schema = kubernetesSchema(catalogSpec);

/** Status schema, generated from its zod schema. */
export const catalogStatusSchema: Schema = kubernetesSchema(catalogStatus);

/** The CustomResourceDefinition manifest. */
export function challengeCatalogCrd(group: string = DEFAULT_CATALOG_GROUP): Record<string, unknown> {
  return customResourceDefinition({
    group,
    version: CATALOG_VERSION,
    kind: CATALOG_KIND,
    plural: CATALOG_PLURAL,
    singular: CATALOG_SINGULAR,
    shortNames: ['ccat'],
    categories: ['challenges'],
    printerColumns: [
      ['Version', 'string', '.status.version'],
      ['Valid', 'string', '.status.conditions[?(@.type=="Valid")].status'],
      ['Published', 'string', '.status.conditions[?(@.type=="Published")].status'],
      ['Goals', 'integer', '.status.goals'],
    ],
    description: 'The live challenge catalog of a challenge service installation.',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: catalogSpecSchema,
      status: catalogStatusSchema,
    },
    required: ['spec'],
  });
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Namespaced Role rules for the api and worker pods' service account (CATALOG_SOURCE=kubernetes). */
export function catalogRbacRules(group: string = DEFAULT_CATALOG_GROUP): PolicyRule[] {
  return [
    { apiGroups: [group], resources: [CATALOG_PLURAL], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [group], resources: [`${CATALOG_PLURAL}/status`], verbs: ['get', 'patch'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  ];
}

/** A ChallengeCatalog object for `catalog` (e.g. to turn a catalog file into a resource). */
export function challengeCatalogResource(
  name: string,
  spec: unknown,
  opts: { namespace?: string; group?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: `${opts.group ?? DEFAULT_CATALOG_GROUP}/${CATALOG_VERSION}`,
    kind: CATALOG_KIND,
    metadata: { name, ...(opts.namespace ? { namespace: opts.namespace } : {}) },
    spec,
  };
}
