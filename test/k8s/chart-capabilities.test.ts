// Objects of third-party CRDs (prometheus-operator, KEDA, k6-operator) render only when enabled
// AND the API server serves their API (.Capabilities.APIVersions), unless forced (issue 16).
import { ofKind, render, THIRD_PARTY_APIS } from './helpers';

const kindsOf = (objects: ReturnType<typeof render>): string[] =>
  [...new Set(objects.map((o) => o.kind))].filter((k) =>
    ['ServiceMonitor', 'PrometheusRule', 'ScaledObject', 'TestRun'].includes(k),
  );

describe('chart objects of third-party CRDs', () => {
  it('a bare cluster (no CRD API served) gets none of them, with every add-on enabled', () => {
    const objects = render({ valueSet: 'production-keda', bare: true });
    expect(kindsOf(objects)).toEqual([]);
    // The rest of the release is still there.
    expect(ofKind(objects, 'Deployment').length).toBeGreaterThanOrEqual(2);
  });

  it('a cluster serving the APIs gets each enabled one', () => {
    expect(kindsOf(render({ valueSet: 'production-keda' })).sort()).toEqual([
      'PrometheusRule',
      'ScaledObject',
      'ServiceMonitor',
      'TestRun',
    ]);
  });

  it('each API gates only its own kinds', () => {
    for (const api of THIRD_PARTY_APIS) {
      const kind = api.split('/').pop()!;
      const others = THIRD_PARTY_APIS.filter((a) => a !== api).map((a) => a.split('/').pop()!);
      const objects = render({
        valueSet: 'production-keda',
        bare: true,
        apiVersions: [api],
      });
      expect([api, kindsOf(objects)]).toEqual([api, [kind]]);
      expect(others.some((k) => ofKind(objects, k).length > 0)).toBe(false);
    }
  });

  it('force values render them on a bare cluster (helm template without --api-versions)', () => {
    const objects = render({
      valueSet: 'production-keda',
      bare: true,
      set: [
        'serviceMonitor.force=true',
        'prometheusRule.force=true',
        'autoscaling.forceKeda=true',
        'testRun.force=true',
      ],
    });
    expect(kindsOf(objects).sort()).toEqual(['PrometheusRule', 'ScaledObject', 'ServiceMonitor', 'TestRun']);
  });

  it('disabled stays disabled even when the API is served', () => {
    const objects = render({
      set: ['serviceMonitor.enabled=false', 'prometheusRule.enabled=false', 'testRun.enabled=false'],
    });
    expect(kindsOf(objects)).toEqual([]);
  });
});
