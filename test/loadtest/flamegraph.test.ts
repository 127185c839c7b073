// The flame graph keeps the profile's time: a parent's total is its self time plus its children's.
import { buildTree, renderSvg } from '../../loadtest/tools/flamegraph';

const profile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: 0 }, children: [2, 4] },
    {
      id: 2,
      callFrame: { functionName: 'handler', url: '/x/app/api/routes.js', lineNumber: 9 },
      children: [3],
    },
    { id: 3, callFrame: { functionName: 'query', url: '/x/node_modules/pg/client.js', lineNumber: 1 } },
    { id: 4, callFrame: { functionName: '(idle)', url: '', lineNumber: 0 } },
  ],
  samples: [2, 3, 3, 4],
  timeDeltas: [100, 200, 300, 400],
};

test('cpuprofile -> tree with self and total times, rendered as an SVG naming every frame', () => {
  const tree = buildTree(profile);
  expect(tree.total).toBe(1000);
  const handler = tree.children.get('handler api/routes.js:10')!;
  expect(handler.self).toBe(100);
  expect(handler.total).toBe(600);
  expect(handler.children.get('query pg/client.js:2')!.total).toBe(500);
  expect(tree.children.get('(idle)')!.total).toBe(400);
  const svg = renderSvg(tree, 'test');
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg).toContain('handler api/routes.js:10 — 60.0%');
  expect(svg).toContain('query pg/client.js:2 — 50.0%');
});
