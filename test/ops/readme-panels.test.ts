// The README's overview panel table must list exactly the panels of the generated overview dashboard.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');

interface PanelLike {
  title?: string;
  type?: string;
  panels?: PanelLike[];
}

function titles(panels: PanelLike[]): string[] {
  return panels.flatMap((p) => (p.type === 'row' ? titles(p.panels ?? []) : p.title ? [p.title] : []));
}

test('README overview table lists every panel of dashboards/generated/overview.json, in order', () => {
  const dash = JSON.parse(fs.readFileSync(path.join(root, 'dashboards/generated/overview.json'), 'utf8')) as {
    panels: PanelLike[];
  };
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = readme.split('<!-- overview-panels:begin -->')[1]!.split('<!-- overview-panels:end -->')[0]!;
  const listed = block
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| Row') && !l.startsWith('| ---'))
    .map((l) => l.split(' | ')[1]!.trim());
  expect(listed).toEqual(titles(dash.panels));
});
