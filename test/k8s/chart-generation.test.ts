// The chart is generated from cdk8s/: the committed copy must be exactly what `make chart` writes,
// and the generator's Helm YAML writer must keep Helm syntax and literal text apart.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { renderChart } from '../../cdk8s/chart';
import { block, mergeFrom, resetTokens, splice, toHelmYaml, tpl, when, whenItems } from '../../cdk8s/helm';
import { listFiles, writeChart } from '../../cdk8s/synth';
import { specPaths } from '../../cdk8s/values';
import { CHART_DIR, helm, parseDocs, removeDir, ROOT } from './helpers';

describe('chart generation', () => {
  it('the committed chart equals a fresh generation, file by file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-'));
    try {
      writeChart(dir);
      const fresh = listFiles(dir);
      expect(listFiles(CHART_DIR)).toEqual(fresh);
      for (const file of fresh) {
        expect([file, readFileSync(path.join(CHART_DIR, file), 'utf8')]).toEqual([
          file,
          readFileSync(path.join(dir, file), 'utf8'),
        ]);
      }
    } finally {
      removeDir(dir);
    }
  });

  it('values.yaml documents every value and group with a comment line above it', () => {
    const lines = readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8').split('\n');
    const lineOf = new Map<string, number>();
    const stack: string[] = [];
    lines.forEach((line, i) => {
      const m = /^( *)([A-Za-z][\w.-]*):/.exec(line);
      if (!m) return;
      const depth = m[1]!.length / 2;
      stack.length = depth;
      stack.push(m[2]!);
      lineOf.set(stack.join('.'), i);
    });
    const paths = specPaths();
    expect(paths.length).toBeGreaterThan(50);
    for (const p of paths) {
      const i = lineOf.get(p);
      expect([p, i !== undefined && /^\s*# \S/.test(lines[i - 1] ?? '')]).toEqual([p, true]);
    }
  });

  it('values.schema.json rejects unknown keys and wrong types', () => {
    expect(helm(['template', 'rel', CHART_DIR, '--set', 'api.replicaz=3']).status).not.toBe(0);
    expect(helm(['template', 'rel', CHART_DIR, '--set', 'autoscaling.mode=vpa']).status).not.toBe(0);
    expect(helm(['template', 'rel', CHART_DIR, '--set', 'api.replicas=-1']).status).not.toBe(0);
  });

  it('renders the PrometheusRule from a rules file when present, and none when absent', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rules-'));
    try {
      const file = path.join(dir, 'alerts.yaml');
      const groups = [
        {
          name: 'g',
          rules: [{ alert: 'A', expr: 'up == 0', annotations: { summary: '{{ $labels.pod }} down' } }],
        },
      ];
      writeFileSync(file, YAML.stringify({ groups }));
      const withRules = renderChart({ alertRulesFile: file }).get('templates/prometheusrule.yaml');
      expect(withRules).toContain('kind: PrometheusRule');
      expect(withRules).toContain('{{ "{{" }} $labels.pod {{ "}}" }} down');
      expect(
        renderChart({ alertRulesFile: path.join(dir, 'missing.yaml') }).has('templates/prometheusrule.yaml'),
      ).toBe(false);
    } finally {
      removeDir(dir);
    }
  });
});

describe('Helm YAML writer', () => {
  beforeEach(() => resetTokens());

  it('writes tokens as Helm expressions, blocks with toYaml, guards with if, and escapes literal braces', () => {
    const text = toHelmYaml({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `${tpl('.Release.Name')}-x`, labels: { a: 'b', ...mergeFrom('.Values.extra') } },
      spec: {
        replicas: tpl<number>('.Values.count'),
        resources: block('.Values.r'),
        ...when('.Values.on', { flag: true }),
        list: ['first', splice('.Values.more'), ...whenItems('.Values.on', ['maybe'])],
        note: 'literal {{ braces }}',
      },
    });
    expect(text).toContain('name: "{{ .Release.Name }}-x"');
    expect(text).toContain('replicas: {{ .Values.count }}');
    expect(text).toContain('resources:\n    {{- toYaml .Values.r | nindent 4 }}');
    expect(text).toContain('  {{- if .Values.on }}\n  flag: true\n  {{- end }}');
    expect(text).toContain('{{- with .Values.more }}');
    expect(text).toContain('{{- with .Values.extra }}');
    expect(text).toContain('note: literal {{ "{{" }} braces {{ "}}" }}');
  });

  it('output renders through helm into the YAML the tokens describe', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mini-chart-'));
    try {
      const body = toHelmYaml({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `${tpl('.Release.Name')}-x`, labels: { a: 'b', ...mergeFrom('.Values.extra') } },
        data: {
          count: tpl('.Values.count | quote'),
          ...when('.Values.enabled', { on: 'yes' }),
          ...when('not .Values.enabled', { off: 'yes' }),
          text: 'line {{ one }}\nline two\n',
        },
      });
      writeFileSync(path.join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: mini\nversion: 0.0.1\n');
      writeFileSync(path.join(dir, 'values.yaml'), 'count: 3\nenabled: false\nextra: {team: games}\n');
      const templates = path.join(dir, 'templates');
      mkdirSync(templates);
      writeFileSync(path.join(templates, 'cm.yaml'), body);
      const r = helm(['template', 'r', dir]);
      expect(r.stderr).toBe('');
      expect(parseDocs(r.stdout)).toEqual([
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'r-x', labels: { a: 'b', team: 'games' } },
          data: { count: '3', off: 'yes', text: 'line {{ one }}\nline two\n' },
        },
      ]);
    } finally {
      removeDir(dir);
    }
  });
});

describe('docs/DEPLOY.md', () => {
  it('shows the HPAs exactly as the chart renders them with default values', () => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'DEPLOY.md'), 'utf8');
    const shown = /<!-- rendered-hpa:start -->\n```yaml\n([\s\S]*?)\n```\n<!-- rendered-hpa:end -->/.exec(
      doc,
    )?.[1];
    const r = helm([
      'template',
      'challenge-service',
      CHART_DIR,
      '-n',
      'games',
      '--show-only',
      'templates/api-hpa.yaml',
      '--show-only',
      'templates/worker-hpa.yaml',
    ]);
    const rendered = r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('# '))
      .join('\n')
      .trim();
    expect(shown).toBe(rendered);
  });
});
