// The operator's renderer (app/operator/render.ts: the cdk8s constructs' chart evaluated in
// process) produces exactly the objects `helm template` renders, for the defaults and every value
// set, with and without the third-party APIs; it refuses bad values the way helm does (issue 16).
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { InvalidValues, RenderRefused, renderObjects } from '../../app/operator/render';
import { parseDocs, renderText, THIRD_PARTY_APIS, VALUE_SETS, valuesFile } from '../k8s/helpers';

const SETS = [undefined, ...VALUE_SETS] as const;
const label = (set: string | undefined) => set ?? 'defaults';
const valuesOf = (set: string | undefined): Record<string, unknown> =>
  set ? (YAML.parse(readFileSync(valuesFile(set), 'utf8')) as Record<string, unknown>) : {};
const key = (o: { kind: string; metadata: { name: string } }) => `${o.kind}/${o.metadata.name}`;
const sorted = <T extends { kind: string; metadata: { name: string } }>(list: T[]): T[] =>
  [...list].sort((a, b) => key(a).localeCompare(key(b)));

describe.each([
  ['with the third-party APIs', false],
  ['bare', true],
] as const)('operator renderer vs helm template, %s', (_name, bare) => {
  test.each(SETS.map((s) => [label(s), s]))('%s: identical objects', (_n, set) => {
    const helm = parseDocs(renderText({ valueSet: set, bare })).map((o) => JSON.parse(JSON.stringify(o)));
    const ours = renderObjects({
      values: valuesOf(set),
      releaseName: 'rel',
      namespace: 'games',
      apiVersions: new Set(bare ? [] : THIRD_PARTY_APIS),
    });
    expect(ours.length).toBe(helm.length);
    expect(sorted(ours)).toEqual(sorted(helm));
  });
});

describe('operator renderer refuses what helm refuses', () => {
  const input = (values: Record<string, unknown>) => ({
    values,
    releaseName: 'rel',
    namespace: 'games',
    apiVersions: new Set<string>(),
  });
  test('an unknown value and a wrong type are schema problems naming the path', () => {
    try {
      renderObjects(input({ api: { replicaz: 3, replicas: 'two' } }));
      throw new Error('rendered');
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidValues);
      expect((err as InvalidValues).problems).toEqual(
        expect.arrayContaining(['api.replicaz: unknown value', 'api.replicas: expected integer, got string']),
      );
    }
  });
  test('a template fail (PDB that blocks every drain) is a refusal with the chart message', () => {
    expect(() =>
      renderObjects(input({ autoscaling: { enabled: false }, api: { replicas: 1, minAvailable: 1 } })),
    ).toThrow(RenderRefused);
    expect(() =>
      renderObjects(input({ autoscaling: { enabled: false }, api: { replicas: 1, minAvailable: 1 } })),
    ).toThrow(/api.minAvailable must be below/);
  });
});
