#!/usr/bin/env node
// Builds the fault and bad-input tables of docs/RELIABILITY.md from the last test run's results
// (.tmp/reliability/faults.json from test/faults, fuzz.json from test/integration/fuzz-parsers,
// schemathesis-junit.xml from test/integration/schemathesis, events-recovery.json from
// test/e2e/events-recovery). Copies them to docs/reliability/ so
// the document names the data it was built from, and rewrites the part between the markers.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = path.join(root, '.tmp/reliability');
const kept = path.join(root, 'docs/reliability');
const doc = path.join(root, 'docs/RELIABILITY.md');
mkdirSync(kept, { recursive: true });
for (const f of ['faults.json', 'fuzz.json', 'schemathesis-junit.xml', 'events-recovery.json']) {
  if (existsSync(path.join(tmp, f))) copyFileSync(path.join(tmp, f), path.join(kept, f));
}
const read = (f) => (existsSync(path.join(kept, f)) ? readFileSync(path.join(kept, f), 'utf8') : undefined);

const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const errors = (e) =>
  Object.entries(e)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ×${v}`)
    .join('; ') || 'none';

const lines = [];
const faults = read('faults.json');
if (faults) {
  lines.push(
    '| Fault (test) | Process | Signal | Load during the fault | Down | Recovery after restart | Answers | Events acked over gRPC | Lost | Doubled | Late | Malformed | Claims (granted twice / undelivered) | Not ready seen | Errors seen (route: status) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of JSON.parse(faults)) {
    lines.push(
      `| \`${r.test}\` (test/faults/faults.test.ts) | ${r.process} | ${r.signal} | ${r.load} | ${s(r.downMs)} | ${s(r.recoveryMs)} | ${r.answers} | ${r.grpcAcked ?? 'n/a'} | ${r.lost} | ${r.doubled} | ${r.late} | ${r.malformed} | ${r.claims} (${r.grantedTwice} / ${r.undelivered}) | ${r.notReadySeen.join(', ') || 'none'} | ${errors(r.errorsSeen)} |`,
    );
  }
  lines.push('');
}
const fuzz = read('fuzz.json');
if (fuzz) {
  lines.push('| Bad-input class (test) | Cases tried | Answers |', '|---|---|---|');
  for (const [cls, t] of Object.entries(JSON.parse(fuzz))) {
    const test = cls.includes('in-process') ? 'parsers in-process' : 'routes over HTTP';
    lines.push(
      `| ${cls} (test/integration/fuzz-parsers.test.ts, ${test}) | ${t.cases} | ${errors(t.answers)} |`,
    );
  }
}
const junit = read('schemathesis-junit.xml');
if (junit) {
  const cases = [...junit.matchAll(/<testcase name="([^"]+)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)];
  const failed = cases.filter((c) => /<(failure|error)/.test(c[3] ?? '')).length;
  lines.push(
    `| Every operation of the served OpenAPI, schemathesis positive examples + fuzzing (test/integration/schemathesis.test.ts) | ${cases.length} operations | ${cases.length - failed} passed, ${failed} failed (no 5xx, no hang, schemas) |`,
  );
}

const recovery = read('events-recovery.json');
const recoveryLines = [];
if (recovery) {
  recoveryLines.push(
    '| Fault (test) | Process | Signal | Load during the fault | Down | Recovery after restart | Ingest answers during the fault | Lost | Doubled |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of JSON.parse(recovery)) {
    recoveryLines.push(
      `| \`${r.fault}\` (test/e2e/events-recovery.test.ts) | ${r.process} | ${r.signal} | HTTP ingest, batches of 250 events every ~50 ms (20,000 events over 200 players; 2,000 more after the empty restart) | ${s(r.downMs)} | ${s(r.recoveryMs)} | ${errors(r.answers)} | 0 | 0 |`,
    );
  }
}

/** Rewrites the part of `text` between `<!-- name:start -->` and `<!-- name:end -->`. */
function between(text, name, body) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < 0) throw new Error(`${doc} has no ${start} ... ${end} markers`);
  return `${text.slice(0, a + start.length)}\n${body.join('\n')}\n${text.slice(b)}`;
}

let text = between(readFileSync(doc, 'utf8'), 'tables', lines);
// The run's zero columns are asserted by the test (it fails otherwise), so a written file has them.
if (recoveryLines.length) text = between(text, 'events-recovery', recoveryLines);
writeFileSync(doc, text);
console.log(`docs/RELIABILITY.md: ${lines.length + recoveryLines.length} table lines`);
