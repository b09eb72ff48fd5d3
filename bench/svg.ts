/**
 * A tiny, dependency-free SVG chart writer for benchmark results: grouped bars (with optional error
 * bars and reference lines) and lines over a linear or logarithmic x axis. Output is a standalone SVG
 * document (fixed size, system fonts) that renders the same on GitHub and in a browser.
 */

export interface BarSeries {
  readonly name: string;
  /** One value per category; `undefined` leaves a gap. */
  readonly values: ReadonlyArray<number | undefined>;
  /** Symmetric error (half-width) per category, drawn as a whisker. */
  readonly errors?: ReadonlyArray<number | undefined>;
}

export interface RefLine {
  readonly value: number;
  readonly label: string;
}

export interface BarChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly categories: readonly string[];
  readonly series: readonly BarSeries[];
  readonly yLabel: string;
  readonly refLines?: readonly RefLine[];
  /** Printed above each bar, e.g. `(v) => v.toFixed(2)`; omitted when absent. */
  readonly valueLabel?: (v: number) => string;
  readonly width?: number;
  readonly height?: number;
}

export interface LinePoint {
  readonly x: number;
  readonly y: number;
}

export interface LineSeries {
  readonly name: string;
  readonly points: readonly LinePoint[];
  readonly dashed?: boolean;
}

export interface LineChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly series: readonly LineSeries[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly logX?: boolean;
  readonly logY?: boolean;
  readonly width?: number;
  readonly height?: number;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const MARGIN = { top: 56, right: 24, bottom: 64, left: 72 };

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A number short enough for an axis label. */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  // Up to the first tick at or above `hi`, so the axis always covers the data.
  for (let t = Math.floor(lo / step) * step; ; t += step) {
    ticks.push(+t.toPrecision(12));
    if (t >= hi - step * 1e-9) break;
  }
  return ticks;
}

/** Powers of ten covering [lo, hi] (both > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) ticks.push(10 ** e);
  return ticks;
}

function header(width: number, height: number, title: string, subtitle?: string): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600" fill="#222">${escapeXml(title)}</text>`,
  ];
  if (subtitle !== undefined)
    out.push(`<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#666">${escapeXml(subtitle)}</text>`);
  return out;
}

function legend(out: string[], names: readonly string[], x: number, y: number, dashed: readonly boolean[] = []): void {
  let cx = x;
  names.forEach((name, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    if (dashed[i] !== undefined) {
      out.push(
        `<line x1="${cx}" y1="${y - 4}" x2="${cx + 14}" y2="${y - 4}" stroke="${color}" stroke-width="2"${dashed[i] ? ' stroke-dasharray="4 3"' : ''}/>`,
      );
    } else {
      out.push(`<rect x="${cx}" y="${y - 10}" width="12" height="12" fill="${color}"/>`);
    }
    out.push(`<text x="${cx + 18}" y="${y}" font-size="11" fill="#333">${escapeXml(name)}</text>`);
    cx += 18 + 6.5 * name.length + 18;
  });
}

/** Grouped bars, one group per category, one bar per series; values may be negative. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 720;
  const height = o.height ?? 400;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const all: number[] = [0];
  for (const s of o.series) {
    s.values.forEach((v, i) => {
      if (v === undefined || !Number.isFinite(v)) return;
      const e = s.errors?.[i] ?? 0;
      all.push(v + e, v - e);
    });
  }
  for (const r of o.refLines ?? []) all.push(r.value);
  // Headroom for the value labels above (and below) the bars.
  const span = Math.max(...all) - Math.min(...all) || 1;
  const ticks = niceTicks(Math.min(...all) - (Math.min(...all) < 0 ? 0.08 * span : 0), Math.max(...all) + 0.08 * span);
  const lo = ticks[0]!;
  const hi = ticks[ticks.length - 1]!;
  const y = (v: number): number => MARGIN.top + plotH - ((v - lo) / (hi - lo)) * plotH;
  const out = header(width, height, o.title, o.subtitle);
  for (const t of ticks) {
    out.push(`<line x1="${MARGIN.left}" y1="${y(t).toFixed(1)}" x2="${MARGIN.left + plotW}" y2="${y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(
      `<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">${escapeXml(tickLabel(t))}</text>`,
    );
  }
  out.push(`<line x1="${MARGIN.left}" y1="${y(0).toFixed(1)}" x2="${MARGIN.left + plotW}" y2="${y(0).toFixed(1)}" stroke="#888"/>`);
  const groupW = plotW / Math.max(1, o.categories.length);
  const barW = (groupW * 0.7) / Math.max(1, o.series.length);
  o.categories.forEach((cat, ci) => {
    const gx = MARGIN.left + ci * groupW + groupW * 0.15;
    out.push(
      `<text x="${(MARGIN.left + (ci + 0.5) * groupW).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle" font-size="12" fill="#333">${escapeXml(cat)}</text>`,
    );
    o.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = gx + si * barW;
      const top = Math.min(y(v), y(0));
      const h = Math.max(0.5, Math.abs(y(v) - y(0)));
      out.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${s.name}, ${cat}: ${v}`)}</title></rect>`,
      );
      const e = s.errors?.[ci];
      const cx = x + (barW - 2) / 2;
      if (e !== undefined && Number.isFinite(e) && e > 0) {
        out.push(
          `<line x1="${cx.toFixed(1)}" y1="${y(v + e).toFixed(1)}" x2="${cx.toFixed(1)}" y2="${y(v - e).toFixed(1)}" stroke="#222"/>`,
        );
        for (const w of [v + e, v - e])
          out.push(
            `<line x1="${(cx - 4).toFixed(1)}" y1="${y(w).toFixed(1)}" x2="${(cx + 4).toFixed(1)}" y2="${y(w).toFixed(1)}" stroke="#222"/>`,
          );
      }
      if (o.valueLabel !== undefined) {
        const ly = v >= 0 ? y(v + (e ?? 0)) - 4 : y(v - (e ?? 0)) + 12;
        out.push(
          `<text x="${cx.toFixed(1)}" y="${ly.toFixed(1)}" text-anchor="middle" font-size="10" fill="#333">${escapeXml(o.valueLabel(v))}</text>`,
        );
      }
    });
  });
  (o.refLines ?? []).forEach((r, i) => {
    // Alternate label sides so nearby reference lines keep readable labels.
    const right = i % 2 === 0;
    out.push(
      `<line x1="${MARGIN.left}" y1="${y(r.value).toFixed(1)}" x2="${MARGIN.left + plotW}" y2="${y(r.value).toFixed(1)}" stroke="#c00" stroke-dasharray="5 4"/>`,
    );
    out.push(
      `<text x="${right ? MARGIN.left + plotW - 4 : MARGIN.left + 4}" y="${(y(r.value) - 4).toFixed(1)}" text-anchor="${right ? 'end' : 'start'}" font-size="10" fill="#c00">${escapeXml(r.label)}</text>`,
    );
  });
  out.push(
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">${escapeXml(o.yLabel)}</text>`,
  );
  legend(
    out,
    o.series.map((s) => s.name),
    MARGIN.left,
    height - 14,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Lines with markers; log axes take only positive values (others are skipped). */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 720;
  const height = o.height ?? 400;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const ok = (p: LinePoint): boolean => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logX || p.x > 0) && (!o.logY || p.y > 0);
  const pts = o.series.flatMap((s) => s.points.filter(ok));
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const xTicks = o.logX ? logTicks(Math.min(...xs, 1), Math.max(...xs, 10)) : niceTicks(Math.min(...xs, 0), Math.max(...xs, 1));
  const yTicks = o.logY ? logTicks(Math.min(...ys, 1), Math.max(...ys, 10)) : niceTicks(Math.min(...ys, 0), Math.max(...ys, 1));
  const f = (log: boolean | undefined) => (v: number) => (log ? Math.log10(v) : v);
  const fx = f(o.logX);
  const fy = f(o.logY);
  const [x0, x1] = [fx(xTicks[0]!), fx(xTicks[xTicks.length - 1]!)];
  const [y0, y1] = [fy(yTicks[0]!), fy(yTicks[yTicks.length - 1]!)];
  const X = (v: number): number => MARGIN.left + ((fx(v) - x0) / (x1 - x0 || 1)) * plotW;
  const Y = (v: number): number => MARGIN.top + plotH - ((fy(v) - y0) / (y1 - y0 || 1)) * plotH;
  const out = header(width, height, o.title, o.subtitle);
  for (const t of yTicks) {
    out.push(`<line x1="${MARGIN.left}" y1="${Y(t).toFixed(1)}" x2="${MARGIN.left + plotW}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(
      `<text x="${MARGIN.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">${escapeXml(tickLabel(t))}</text>`,
    );
  }
  for (const t of xTicks) {
    out.push(`<line x1="${X(t).toFixed(1)}" y1="${MARGIN.top}" x2="${X(t).toFixed(1)}" y2="${MARGIN.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(
      `<text x="${X(t).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle" font-size="11" fill="#555">${escapeXml(tickLabel(t))}</text>`,
    );
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  o.series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length]!;
    const p = s.points.filter(ok);
    if (p.length === 0) return;
    const d = p.map((q, i) => `${i === 0 ? 'M' : 'L'}${X(q.x).toFixed(1)} ${Y(q.y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const q of p)
      out.push(
        `<circle cx="${X(q.x).toFixed(1)}" cy="${Y(q.y).toFixed(1)}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${q.x} → ${q.y}`)}</title></circle>`,
      );
  });
  out.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH + 36}" text-anchor="middle" font-size="12" fill="#333">${escapeXml(o.xLabel)}</text>`,
  );
  out.push(
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#333">${escapeXml(o.yLabel)}</text>`,
  );
  legend(
    out,
    o.series.map((s) => s.name),
    MARGIN.left,
    height - 10,
    o.series.map((s) => s.dashed ?? false),
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Places whole charts (as returned above) side by side in one SVG document, each keeping its own scale. */
export function sideBySide(charts: readonly string[]): string {
  const size = (svg: string): [number, number] => {
    const m = /<svg[^>]*\bwidth="(\d+(?:\.\d+)?)"[^>]*\bheight="(\d+(?:\.\d+)?)"/.exec(svg);
    return m === null ? [720, 400] : [Number(m[1]), Number(m[2])];
  };
  let x = 0;
  let height = 0;
  const parts: string[] = [];
  for (const c of charts) {
    const [w, h] = size(c);
    // A nested <svg> with its own viewport: the chart's coordinates are untouched.
    parts.push(c.trim().replace(/^<svg /, `<svg x="${x}" y="0" `));
    x += w;
    height = Math.max(height, h);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${x}" height="${height}" viewBox="0 0 ${x} ${height}">\n${parts.join('\n')}\n</svg>\n`;
}
