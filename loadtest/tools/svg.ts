// Latency-over-time chart as a standalone SVG: p50 and p95 per second as polylines.

export interface SecondPoint {
  /** Seconds since the start of the scenario. */
  t: number;
  p50: number;
  p95: number;
  count: number;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis maximum at or above v (1, 2, 5 x 10^n). */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

export function latencySvg(
  title: string,
  points: SecondPoint[],
  targetMs?: number,
  width = 720,
  height = 300,
): string {
  const left = 56;
  const right = 16;
  const top = 32;
  const bottom = 40;
  const w = width - left - right;
  const h = height - top - bottom;
  const tMax = Math.max(1, ...points.map((p) => p.t));
  const yMax = niceMax(Math.max(targetMs ?? 0, ...points.map((p) => p.p95)) * 1.05);
  const x = (t: number) => (left + (t / tMax) * w).toFixed(1);
  const y = (v: number) => (top + h - (Math.min(v, yMax) / yMax) * h).toFixed(1);
  const line = (pick: (p: SecondPoint) => number) => points.map((p) => `${x(p.t)},${y(pick(p))}`).join(' ');
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">${esc(title)}</text>`,
  );
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const yy = y(v);
    parts.push(
      `<line x1="${left}" y1="${yy}" x2="${left + w}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${+v.toFixed(2)} ms</text>`,
    );
  }
  for (let i = 0; i <= 5; i++) {
    const t = (tMax * i) / 5;
    parts.push(`<text x="${x(t)}" y="${top + h + 16}" text-anchor="middle">${Math.round(t)} s</text>`);
  }
  parts.push(
    `<line x1="${left}" y1="${top + h}" x2="${left + w}" y2="${top + h}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + h}" stroke="#333"/>`,
  );
  if (targetMs !== undefined) {
    parts.push(
      `<line x1="${left}" y1="${y(targetMs)}" x2="${left + w}" y2="${y(targetMs)}" stroke="#c00" stroke-dasharray="4 3"/>`,
      `<text x="${left + w}" y="${Number(y(targetMs)) - 4}" text-anchor="end" fill="#c00">target p95 ${targetMs} ms</text>`,
    );
  }
  if (points.length > 0) {
    parts.push(
      `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${line((p) => p.p50)}"/>`,
      `<polyline fill="none" stroke="#ff7f0e" stroke-width="1.5" points="${line((p) => p.p95)}"/>`,
    );
  } else {
    parts.push(`<text x="${left + w / 2}" y="${top + h / 2}" text-anchor="middle">no data</text>`);
  }
  parts.push(
    `<text x="${left + 8}" y="${top + 12}" fill="#1f77b4">p50</text>`,
    `<text x="${left + 40}" y="${top + 12}" fill="#ff7f0e">p95</text>`,
    `<text x="${left + w / 2}" y="${height - 6}" text-anchor="middle">time since scenario start</text>`,
    '</svg>',
  );
  return parts.join('\n') + '\n';
}
