// The ChallengeCatalog custom resource: its CustomResourceDefinition (apiextensions.k8s.io/v1) and
// the RBAC rules pods need to watch it, write its status and hold the status-writer Lease.
// Plain objects, so cdk8s (ApiObject) and tests use them as they are. spec is the catalog document
// in the current format (camelCase); the loader validates it exactly like a file.
import { MAX_ID_LENGTH } from '../limits';

export const DEFAULT_CATALOG_GROUP = 'challenges.example.com';
export const CATALOG_VERSION = 'v1alpha1';
export const CATALOG_KIND = 'ChallengeCatalog';
export const CATALOG_PLURAL = 'challengecatalogs';
export const CATALOG_SINGULAR = 'challengecatalog';

export const crdName = (group: string = DEFAULT_CATALOG_GROUP): string => `${CATALOG_PLURAL}.${group}`;

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const id = (description: string): Schema => str(description, { minLength: 1, maxLength: MAX_ID_LENGTH });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const positiveInt = (description: string): Schema => ({
  type: 'integer',
  format: 'int64',
  minimum: 1,
  description,
});
const obj = (description: string, properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  description,
  properties,
  ...(required.length ? { required } : {}),
});

const goalSchema = obj(
  'One goal: progress comes from a stat, a completed goal is claimed for its reward.',
  {
    goalId: id('Unique across the whole catalog.'),
    name: str('Display name.'),
    description: str('Display text.'),
    eventSource: str('Which events move the stat.', { enum: ['login', 'statistic'] }),
    requirement: obj(
      'Completion condition.',
      {
        statCode: id('Stat the goal tracks.'),
        operator: str('Comparison (only >=).', { enum: ['>='] }),
        targetValue: positiveInt('Stat value (or gain, for relative goals) that completes the goal.'),
        progressMode: str('absolute: the stat value; relative: gain since the goal became active.', {
          enum: ['absolute', 'relative'],
        }),
      },
      ['statCode', 'targetValue'],
    ),
    reward: obj(
      'Granted on claim.',
      {
        type: str('Reward kind.', { enum: ['ITEM', 'WALLET'] }),
        rewardId: id('Item or currency code.'),
        quantity: positiveInt('Amount granted.'),
      },
      ['type', 'rewardId', 'quantity'],
    ),
    prerequisites: {
      type: 'array',
      description: 'Goal ids that must be completed or claimed first.',
      items: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH },
      'x-kubernetes-list-type': 'atomic',
    },
    defaultAssigned: bool('Active for every player unless deselected.'),
    rotation: obj('Calendar rotation (UTC).', {
      enabled: bool('Rotation on.'),
      type: str('Rotation scope.', { enum: ['global'] }),
      schedule: str('Period length.', { enum: ['daily', 'weekly', 'monthly'] }),
      onExpiry: obj('What a new period does.', {
        resetProgress: bool('Each period is a fresh instance of the goal.'),
        allowReselection: bool('A selection that ended with its period may be made again.'),
      }),
    }),
  },
  ['goalId', 'name', 'eventSource', 'requirement', 'reward'],
);

const challengeSchema = obj(
  'A group of goals.',
  {
    challengeId: id('Unique challenge id.'),
    name: str('Display name.'),
    description: str('Display text.'),
    goals: { type: 'array', items: goalSchema, 'x-kubernetes-list-type': 'atomic' },
  },
  ['challengeId', 'name', 'goals'],
);

const conditionSchema = obj(
  'metav1.Condition.',
  {
    type: str('Valid or Published.'),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
    reason: str('CamelCase reason.', { maxLength: 1024 }),
    message: str('Human readable detail.', { maxLength: 32768 }),
  },
  ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
);

/** Catalog spec schema (exported for tests that check catalogs against it). */
export const catalogSpecSchema: Schema = obj(
  'The challenge catalog (same format as the catalog file, camelCase).',
  { challenges: { type: 'array', items: challengeSchema, 'x-kubernetes-list-type': 'atomic' } },
  ['challenges'],
);

export const catalogStatusSchema: Schema = obj('Written by the elected service pod.', {
  observedGeneration: {
    type: 'integer',
    format: 'int64',
    description: 'metadata.generation last evaluated.',
  },
  version: str('Content hash of the catalog this resource made live (empty when it never was valid).'),
  challenges: { type: 'integer', description: 'Challenges in the live version.' },
  goals: { type: 'integer', description: 'Goals in the live version.' },
  problems: {
    type: 'array',
    description: 'Why the current spec is refused; empty when valid.',
    items: obj('One problem.', { path: str('JSON path in spec.'), message: str('What is wrong.') }, [
      'path',
      'message',
    ]),
    'x-kubernetes-list-type': 'atomic',
  },
  conditions: {
    type: 'array',
    items: conditionSchema,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  },
});

/** The CustomResourceDefinition manifest. */
export function challengeCatalogCrd(group: string = DEFAULT_CATALOG_GROUP): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: crdName(group) },
    spec: {
      group,
      names: {
        kind: CATALOG_KIND,
        listKind: `${CATALOG_KIND}List`,
        plural: CATALOG_PLURAL,
        singular: CATALOG_SINGULAR,
        shortNames: ['ccat'],
        categories: ['challenges'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: CATALOG_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Version', type: 'string', jsonPath: '.status.version' },
            { name: 'Valid', type: 'string', jsonPath: '.status.conditions[?(@.type=="Valid")].status' },
            {
              name: 'Published',
              type: 'string',
              jsonPath: '.status.conditions[?(@.type=="Published")].status',
            },
            { name: 'Goals', type: 'integer', jsonPath: '.status.goals' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'The live challenge catalog of a challenge service installation.',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: catalogSpecSchema,
                status: catalogStatusSchema,
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
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
