/**
 * `npm run bench -- paper`: the source system's evaluation (PAPER.md, "Their evaluation") on dominion.
 *
 * Setups: HYP (the workload as plain Node), VM (the workload as an `sm` service, `mm` forwarding, no
 * dominance), DOM1 / DOM5 / DOM60 (every dominance component, ticket interval 1 / 5 / 60 s, deferral
 * 3 × the interval). Workloads: a CoreMark-like kernel single-threaded and on every core, and service
 * throughput through `mm` to a sink over loopback MQTT.
 *
 * Every measurement runs in a fresh process (run.ts) with the hubs and broker in a child of its own:
 * repetitions are then independent samples (JIT state, heap, sockets, timers do not carry over from
 * one setup to the next), and the setups of one repetition run back to back in a rotating order, so a
 * slow drift in machine load falls on every setup alike.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { progress } from '../stats.ts';
import { formatReport, overheadChart, WORKLOAD_LABEL } from './report.ts';
import { intervalOf, SETUPS, WORKLOADS, type RunResult, type RunSpec, type Setup, type Workload } from './setups.ts';

export interface PaperOptions {
  /** Repetitions per (setup, workload). */
  readonly reps: number;
  /** Measured window per run, s. */
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Stretch every DOM window to a whole number of its intervals (DOM60: 60 s), so it holds ticket rounds. */
  readonly wholeIntervals: boolean;
  readonly setups: readonly Setup[];
  readonly workloads: readonly Workload[];
  readonly chunk: number;
  readonly workers: number;
  readonly payloadBytes: number;
  readonly windowBytes: number;
  /** Where the overhead chart goes; undefined: not written. */
  readonly svgPath?: string;
  /** The command line, for the report. */
  readonly command: string;
}

export const PAPER_DEFAULTS = {
  reps: 3,
  seconds: 5,
  warmupSeconds: 1,
  quickReps: 2,
  quickSeconds: 2,
  chunk: 4,
  payloadBytes: 32 * 1024,
  windowBytes: 1024 * 1024,
} as const;

/** Per-run cost beyond warm-up and window: two processes loading TypeScript, boot, teardown. */
const RUN_OVERHEAD_S = 2;

export function windowSeconds(o: Pick<PaperOptions, 'seconds' | 'wholeIntervals'>, setup: Setup): number {
  const interval = intervalOf(setup);
  if (!o.wholeIntervals || interval === undefined) return o.seconds;
  const t = interval / 1000;
  return Math.max(1, Math.ceil(o.seconds / t)) * t;
}

interface Bundles {
  readonly run: string;
  readonly hubHost: string;
  readonly cpuWorker: string;
}

/**
 * Bundles the run harness, the hub host and the CPU worker once, at the start (esbuild, npm packages
 * left external). Each run then starts two plain node processes instead of two tsx ones (~1 s less
 * per run), and every run executes the same snapshot of the code even while the tree is being edited.
 */
async function bundle(): Promise<Bundles> {
  const outdir = fileURLToPath(new URL('./.bundle/', import.meta.url));
  const src = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
  await build({
    entryPoints: { run: src('./run.ts'), 'hub-host': src('../hub-host.ts'), 'cpu-worker': src('./cpu-worker.ts') },
    outdir,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  return { run: `${outdir}run.mjs`, hubHost: `${outdir}hub-host.mjs`, cpuWorker: `${outdir}cpu-worker.mjs` };
}

function runOnce(spec: RunSpec, script: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const limit = (spec.warmupSeconds + spec.seconds + 60) * 1000;
    const timer = setTimeout(() => child.kill('SIGKILL'), limit);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line === undefined) return reject(new Error(`${spec.setup} ${spec.workload}: run exited with ${code} and no result`));
      // JSON has no NaN: a null number is a value that does not apply to this run.
      resolve(JSON.parse(line.slice('RESULT '.length), (_k, v: unknown) => (v === null ? NaN : v)) as RunResult);
    });
  });
}

export async function benchPaper(o: PaperOptions): Promise<string> {
  progress('paper: bundling the run harness, hub host and CPU worker');
  const bundles = await bundle();
  const plan: RunSpec[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    for (const workload of o.workloads) {
      // Rotate the order each repetition: no setup always runs first (or right after another's teardown).
      const order = o.setups.map((_, i) => o.setups[(i + rep) % o.setups.length]!);
      for (const setup of order) {
        plan.push({
          setup,
          workload,
          warmupSeconds: o.warmupSeconds,
          seconds: windowSeconds(o, setup),
          chunk: o.chunk,
          workers: o.workers,
          payloadBytes: o.payloadBytes,
          windowBytes: o.windowBytes,
          hostNice: 0,
          hostScript: bundles.hubHost,
          workerScript: bundles.cpuWorker,
        });
      }
    }
  }
  const estimate = plan.reduce((a, p) => a + p.warmupSeconds + p.seconds + RUN_OVERHEAD_S, 0);
  progress(
    `paper: ${plan.length} runs (${o.reps} × ${o.workloads.length} workloads × ${o.setups.length} setups), about ${(estimate / 60).toFixed(1)} min`,
  );
  const started = performance.now();
  const runs: RunResult[] = [];
  for (const [i, spec] of plan.entries()) {
    let r: RunResult | undefined;
    for (let attempt = 1; r === undefined; attempt++) {
      try {
        r = await runOnce(spec, bundles.run);
      } catch (error) {
        // A run that crashes (e.g. a module mid-edit in a shared tree) is retried; its result never counts.
        if (attempt >= 3) throw error;
        progress(`run failed (${error instanceof Error ? error.message : String(error)}); retrying`);
      }
    }
    runs.push(r);
    const unit = spec.workload === 'throughput' ? 'Mbit/s' : 'it/s';
    const score = spec.workload === 'throughput' ? r.score.toFixed(1) : r.score.toFixed(0);
    const elapsed = (performance.now() - started) / 1000;
    progress(
      `[${i + 1}/${plan.length}] ${spec.setup.padEnd(5)} ${WORKLOAD_LABEL[spec.workload].padEnd(11)} ${score} ${unit}, ${r.tickets} tickets, CPU ${r.cpuPercent.toFixed(0)} %` +
        `${r.anomalies.length > 0 ? `, ${r.anomalies.length} anomalies` : ''}  (${elapsed.toFixed(0)} s)`,
    );
  }
  const total = (performance.now() - started) / 1000;

  // Rounds are phase-locked to boot (each instance's first round comes within ~0.1 s of it, then one
  // every interval), and every window starts at the same offset after the device is ready, so the
  // number of rounds inside a window is known in advance.
  const roundsNote = o.setups
    .filter((s) => intervalOf(s) !== undefined)
    .map((s) => {
      const t = intervalOf(s)! / 1000;
      const w = windowSeconds(o, s);
      const n = Math.floor((o.warmupSeconds + w) / t) - Math.floor(o.warmupSeconds / t);
      return `${s}: ${n === 0 ? '**no** round' : `${n} round${n > 1 ? 's' : ''}`} per instance in a ${w} s window`;
    })
    .join('; ');
  const dom60 = windowSeconds(o, 'DOM60') < 60 && o.setups.includes('DOM60');
  const notes = [
    `Command: \`${o.command}\`; ${runs.length} runs in ${(total / 60).toFixed(1)} min on ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, node ${process.version}.`,
    `Each run is a fresh process holding only the workload (HYP) or the device (VM, DOM: sw, hypervisor, mm, sm:<workload> in one actor system); hubs, Aedes and the sink run in a child process. ${o.reps} repetitions per cell, setups in rotating order within each repetition; ${o.warmupSeconds} s warm-up after the device is ready (every instance holds its first ticket, or mm's link is up), then a ${o.seconds} s window.`,
    `CPU kernel: list sort/search, 10×10 integer matrix multiply, a number-token state machine, CRC-16 (bench/paper/kernel.ts). Single-core: VM/DOM run it as the \`cpu\` service in chunks of ${o.chunk} iterations per message; multi-core: ${o.workers} worker threads (HYP: started directly; VM/DOM: owned by the \`cpu\` service), dominance on the main thread.`,
    `Throughput: ${o.payloadBytes / 1024} KiB payloads on \`dominion/v1/service/stream/<device>/bulk\`, QoS 1, counted at the sink (payload bytes delivered, not enqueued); the sender keeps at most ${o.windowBytes / 1024 / 1024} MiB unacknowledged by the sink (end-to-end window; smaller windows measured scheduling jitter, not capacity); mm's link is configured to refuse service traffic past ${(2 * o.windowBytes) / 1024 / 1024} MiB without PUBACK (its default is 1 MiB). HYP: one plain MQTT.js client with the same window.`,
    `Three estimates of the overhead. "score" is the paper's method: the wall-clock score against VM's, so it also moves with whatever else the machine runs. "per CPU-second": the same work divided by the CPU time of the measuring process (all threads) — immune to CPU taken by other processes, not to the CPU running slower or faster between runs. "accounting": the workload's share of what the device ran, which does not depend on the CPU's speed at all — single-core: time inside the kernel ÷ window (so VM's share is below 100 % by the runtime's own cost); multi-core: 1 − main-thread CPU (Linux schedstat) ÷ process CPU (the workers are the workload, the main thread the device). Not available for throughput.`,
    `Ticket rounds in the measured windows: ${roundsNote}.` +
      (dom60
        ? ` DOM60 therefore measures what standing dominance costs (armed AWDT deadlines, the receiver's timers, its subscriptions) — a run shorter than the interval measures no ticket at all; a round's own cost at 60 s is the DOM1 cost / 60, shown in the column "DOM1 rounds scaled to this interval". \`--whole-intervals\` stretches DOM windows to whole intervals (DOM60: 60 s, one round per instance; about +8 min).`
        : ''),
    `Why these durations: ${o.reps} repetitions × ${o.seconds} s windows keep the default run near 6 min (≈ 1.5 s per run to start two processes and boot). 5 s is a whole number of DOM1 and DOM5 intervals. Each repetition is a fresh process, so repetitions are independent samples; the noise is mostly between runs (what else the machine runs, which JIT tiers a process gets), so more repetitions (\`--reps\`) narrow the intervals faster than longer windows do.`,
    `Targets: overhead ≤ 1 % at DOM1, ≤ 0.5 % at DOM5 and DOM60. "met": the whole 95 % interval is below the target; "not met": the whole interval is above it; otherwise the noise of this run is too large to say.`,
  ];
  const subtitle = `${o.reps} reps × ${o.seconds} s windows, ${cpus().length} cores, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  const svg = overheadChart(runs, o.workloads, subtitle);
  if (svg !== undefined && o.svgPath !== undefined) {
    writeFileSync(o.svgPath, svg);
    notes.push(`Chart: \`${o.svgPath.replace(/^.*\/bench\//, 'bench/')}\` (written by this run).`);
  }
  return formatReport({ runs, setups: o.setups, workloads: o.workloads, command: o.command, notes });
}

export { SETUPS, WORKLOADS };
