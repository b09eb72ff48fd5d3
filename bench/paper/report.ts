/**
 * Turns the paper benchmark's runs into the paper's tables (Table 1: CPU score, Table 2: throughput),
 * an overhead-vs-VM table judged against the issue's targets, run details, and the overhead chart.
 */
import { meanStd, table } from '../stats.ts';
import { barChart, sideBySide } from '../svg.ts';
import { intervalOf, SETUPS, type RunResult, type Setup, type Workload } from './setups.ts';

/** Two-sided 95 % Student t quantiles by degrees of freedom (≥ 30 → normal-ish). */
const T95 = [
  Infinity,
  12.71,
  4.3,
  3.18,
  2.78,
  2.57,
  2.45,
  2.36,
  2.31,
  2.26,
  2.23,
  2.2,
  2.18,
  2.16,
  2.14,
  2.13,
  2.12,
  2.11,
  2.1,
  2.09,
  2.09,
];

export function t95(df: number): number {
  if (df < 1) return Infinity;
  return T95[df] ?? (df < 30 ? 2.06 : 2.0);
}

export const TARGETS: Readonly<Record<string, number>> = { DOM1: 1, DOM5: 0.5, DOM60: 0.5 };

export const WORKLOAD_LABEL: Readonly<Record<Workload, string>> = {
  'cpu-single': 'single-core',
  'cpu-multi': 'multi-core',
  throughput: 'throughput',
};

export interface Cell {
  readonly n: number;
  readonly mean: number;
  readonly std: number;
}

export type Metric = 'score' | 'perCpuSecond' | 'workloadShare';

export function cell(runs: readonly RunResult[], setup: Setup, workload: Workload, metric: Metric = 'score'): Cell | undefined {
  const xs = runs.filter((r) => r.spec.setup === setup && r.spec.workload === workload).map((r) => r[metric]);
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x))) return undefined;
  const { mean, std } = meanStd(xs);
  return { n: xs.length, mean, std: xs.length > 1 ? std : NaN };
}

/** Overhead of `dom` against `vm` in % (positive: slower than VM), with a 95 % confidence half-width. */
export function overhead(dom: Cell, vm: Cell): { pct: number; ci: number } {
  const ratio = dom.mean / vm.mean;
  // Delta method for a ratio of two independent means; t with the smaller sample's degrees of freedom.
  const rel = Math.sqrt((dom.std / dom.mean) ** 2 / dom.n + (vm.std / vm.mean) ** 2 / vm.n);
  const df = Math.min(dom.n, vm.n) - 1;
  return { pct: (1 - ratio) * 100, ci: ratio * rel * t95(df) * 100 };
}

/** A score; `scale` (the mean) picks the unit, so a mean and its deviation read alike. */
function fmtScore(v: number, workload: Workload, scale = v): string {
  if (workload === 'throughput') return v.toFixed(1);
  return scale >= 1e4 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(0);
}

function fmtCell(c: Cell | undefined, vm: Cell | undefined, workload: Workload): string {
  if (c === undefined) return '–';
  const std = Number.isFinite(c.std) ? ` ± ${fmtScore(c.std, workload, c.mean)}` : '';
  const pct = vm === undefined ? '' : ` (${((c.mean / vm.mean) * 100).toFixed(2)} %)`;
  return `${fmtScore(c.mean, workload)}${std}${pct}`;
}

function verdict(pct: number, ci: number, target: number): string {
  if (!Number.isFinite(ci)) return pct <= target ? 'met (one run: no interval)' : 'not met (one run: no interval)';
  if (pct + ci <= target) return 'met';
  if (pct - ci > target) return '**not met**';
  return `inconclusive: noise ±${ci.toFixed(2)} % exceeds the target`;
}

export interface ReportContext {
  readonly runs: readonly RunResult[];
  readonly setups: readonly Setup[];
  readonly workloads: readonly Workload[];
  readonly command: string;
  readonly notes: readonly string[];
}

/** The tables, as markdown. */
export function formatReport(ctx: ReportContext): string {
  const { runs, setups, workloads } = ctx;
  const out: string[] = [];
  const head = ['', ...setups];
  const cpuRows = workloads.filter((w) => w !== 'throughput');
  if (cpuRows.length > 0) {
    out.push('### Table 1 — CPU: kernel score, iterations/s (mean ± std, % of VM)\n');
    const rows = cpuRows.map((w) => [WORKLOAD_LABEL[w], ...setups.map((s) => fmtCell(cell(runs, s, w), cell(runs, 'VM', w), w))]);
    out.push(table(head, rows), '');
  }
  if (workloads.includes('throughput')) {
    out.push('### Table 2 — Throughput: service → mm → MQTT → sink, payload Mbit/s delivered (mean ± std, % of VM)\n');
    out.push(
      table(head, [
        ['throughput', ...setups.map((s) => fmtCell(cell(runs, s, 'throughput'), cell(runs, 'VM', 'throughput'), 'throughput'))],
      ]),
      '',
    );
  }

  const doms = setups.filter((s) => intervalOf(s) !== undefined);
  if (setups.includes('VM') && doms.length > 0) {
    out.push('### Dominance overhead against VM (positive = slower than VM), 95 % confidence interval\n');
    const rows: string[][] = [];
    for (const w of workloads) {
      for (const s of doms) {
        const vm = cell(runs, 'VM', w);
        const dom = cell(runs, s, w);
        const vmCpu = cell(runs, 'VM', w, 'perCpuSecond');
        const domCpu = cell(runs, s, w, 'perCpuSecond');
        if (vm === undefined || dom === undefined || vmCpu === undefined || domCpu === undefined) continue;
        const o = overhead(dom, vm);
        const oc = overhead(domCpu, vmCpu);
        const vmShare = cell(runs, 'VM', w, 'workloadShare');
        const domShare = cell(runs, s, w, 'workloadShare');
        const os = vmShare !== undefined && domShare !== undefined ? overhead(domShare, vmShare) : undefined;
        // What DOM1's rounds cost, scaled to this interval: the cost is per round, so it falls as 1/T.
        // Only from the accounting estimate: scaling the noise of a score would tell nothing.
        const dom1 = cell(runs, 'DOM1', w, 'workloadShare');
        const scaled =
          s !== 'DOM1' && dom1 !== undefined && vmShare !== undefined ? (overhead(dom1, vmShare).pct * 1000) / intervalOf(s)! : undefined;
        const mine = runs.filter((r) => r.spec.setup === s && r.spec.workload === w);
        const tickets = mine.reduce((a, r) => a + r.tickets, 0) / mine.length;
        const window = mine.reduce((a, r) => a + r.windowMs, 0) / mine.length / 1000;
        const target = TARGETS[s] ?? 0.5;
        rows.push([
          WORKLOAD_LABEL[w],
          s,
          `${o.pct.toFixed(2)} ± ${Number.isFinite(o.ci) ? o.ci.toFixed(2) : '?'} %`,
          `${oc.pct.toFixed(2)} ± ${Number.isFinite(oc.ci) ? oc.ci.toFixed(2) : '?'} %`,
          os === undefined ? '–' : `${os.pct.toFixed(2)} ± ${Number.isFinite(os.ci) ? os.ci.toFixed(2) : '?'} %`,
          scaled === undefined ? '–' : `${scaled.toFixed(3)} %`,
          `${tickets.toFixed(1)} in ${window.toFixed(1)} s`,
          `≤ ${target} %`,
          verdict(o.pct, o.ci, target),
          os === undefined ? '–' : verdict(os.pct, os.ci, target),
        ]);
      }
    }
    out.push(
      table(
        [
          'workload',
          'setup',
          'overhead: score',
          'overhead: per CPU-second',
          'overhead: accounting',
          'DOM1 rounds scaled to this interval',
          'tickets in window',
          'target',
          'verdict: score',
          'verdict: accounting',
        ],
        rows,
      ),
      '',
    );
  }

  out.push('### Run details (means over repetitions)\n');
  const detail: string[][] = [];
  for (const w of workloads) {
    for (const s of setups) {
      const mine = runs.filter((r) => r.spec.setup === s && r.spec.workload === w);
      if (mine.length === 0) continue;
      const avg = (f: (r: RunResult) => number): number => mine.reduce((a, r) => a + f(r), 0) / mine.length;
      const per = cell(runs, s, w, 'perCpuSecond')!;
      const anomalies = mine.flatMap((r) => r.anomalies);
      detail.push([
        WORKLOAD_LABEL[w],
        s,
        String(mine.length),
        (avg((r) => r.windowMs) / 1000).toFixed(2),
        avg((r) => r.tickets).toFixed(1),
        avg((r) => r.rounds).toFixed(1),
        Number.isFinite(avg((r) => r.ticketRttP50))
          ? `${avg((r) => r.ticketRttP50).toFixed(1)} / ${Math.max(...mine.map((r) => r.ticketRttMax)).toFixed(0)}`
          : '–',
        Number.isFinite(avg((r) => r.loopDelayP99))
          ? `${avg((r) => r.loopDelayP99).toFixed(1)} / ${Math.max(...mine.map((r) => r.loopDelayMax)).toFixed(0)}`
          : '–',
        avg((r) => r.cpuPercent).toFixed(1),
        avg((r) => r.mainCpuPercent).toFixed(2),
        Number.isFinite(avg((r) => r.workloadShare)) ? (avg((r) => r.workloadShare) * 100).toFixed(2) : '–',
        avg((r) => r.hostCpuPercent).toFixed(2),
        `${fmtScore(per.mean, w)}${Number.isFinite(per.std) ? ` ± ${fmtScore(per.std, w, per.mean)}` : ''}`,
        anomalies.length === 0 ? '–' : summarize(anomalies),
      ]);
    }
  }
  out.push(
    table(
      [
        'workload',
        'setup',
        'runs',
        'window s',
        'tickets',
        'rounds',
        'ticket RTT ms p50 / max',
        'event-loop delay ms p99 / max',
        'device CPU %',
        'main thread CPU %',
        'workload share %',
        'hub host CPU %',
        'score per CPU-s',
        'anomalies',
      ],
      detail,
    ),
    '',
  );
  out.push(...ctx.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

function summarize(xs: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts].map(([x, n]) => `${n}× ${x.slice(0, 80)}`).join('; ');
}

/** The overhead-by-interval chart (bench/paper-overhead.svg): the paper's score method, and accounting where it applies. */
export function overheadChart(runs: readonly RunResult[], workloads: readonly Workload[], subtitle: string): string | undefined {
  const doms = SETUPS.filter((s) => intervalOf(s) !== undefined);
  const seriesOf = (w: Workload, metric: Metric, name: string) => {
    const vm = cell(runs, 'VM', w, metric);
    if (vm === undefined) return [];
    const pts = doms.map((s) => {
      const dom = cell(runs, s, w, metric);
      return dom === undefined ? undefined : overhead(dom, vm);
    });
    if (pts.every((p) => p === undefined)) return [];
    return [
      { name, values: pts.map((p) => p?.pct), errors: pts.map((p) => (p !== undefined && Number.isFinite(p.ci) ? p.ci : undefined)) },
    ];
  };
  const categories = doms.map((s) => `${s} (${intervalOf(s)! / 1000} s)`);
  const refLines = [
    { value: 1, label: 'target DOM1: 1 %' },
    { value: 0.5, label: 'target DOM5/DOM60: 0.5 %' },
  ];
  const score = workloads.flatMap((w) => seriesOf(w, 'score', WORKLOAD_LABEL[w]));
  const accounting = workloads.flatMap((w) => seriesOf(w, 'workloadShare', WORKLOAD_LABEL[w]));
  const charts: string[] = [];
  if (score.length > 0) {
    charts.push(
      barChart({
        title: 'Overhead vs VM — paper method (score)',
        subtitle,
        categories,
        series: score,
        yLabel: 'overhead vs VM, % (whiskers: 95 % CI)',
        refLines,
        valueLabel: (v) => v.toFixed(1),
      }),
    );
  }
  if (accounting.length > 0) {
    charts.push(
      barChart({
        title: 'Overhead vs VM — accounting (workload share)',
        subtitle,
        categories,
        series: accounting,
        yLabel: 'overhead vs VM, % (whiskers: 95 % CI)',
        refLines,
        valueLabel: (v) => v.toFixed(2),
      }),
    );
  }
  return charts.length === 0 ? undefined : sideBySide(charts);
}
