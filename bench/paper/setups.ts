/** The source system's setups and workloads, as the paper benchmark names them. */

export const SETUPS = ['HYP', 'VM', 'DOM1', 'DOM5', 'DOM60', 'UNSEALED'] as const;
export type Setup = (typeof SETUPS)[number];
/**
 * What a plain run measures: the paper's setups. `UNSEALED` (VM with the service's data sent unsealed,
 * docs/ARCHITECTURE.md §3.1) is asked for by name, to measure what sealing costs against VM.
 */
export const DEFAULT_SETUPS: readonly Setup[] = SETUPS.filter((s) => s !== 'UNSEALED');

/** False for the one setup that sends service data unsealed. */
export function sealsServiceData(setup: Setup): boolean {
  return setup !== 'UNSEALED';
}

export const WORKLOADS = ['cpu-single', 'cpu-multi', 'throughput'] as const;
export type Workload = (typeof WORKLOADS)[number];

/** Ticket interval of a DOM setup, ms; `undefined` for HYP and VM (no dominance). */
export function intervalOf(setup: Setup): number | undefined {
  switch (setup) {
    case 'DOM1':
      return 1000;
    case 'DOM5':
      return 5000;
    case 'DOM60':
      return 60_000;
    default:
      return undefined;
  }
}

/** Deferral the hubs grant: 3 × the interval, so two lost rounds in a row are survivable. */
export const DEFERRAL_FACTOR = 3;

/** One measurement, run in a fresh process by run.ts. */
export interface RunSpec {
  readonly setup: Setup;
  readonly workload: Workload;
  /** Warm-up after the device is ready (every instance holds a ticket / the link is up), s. */
  readonly warmupSeconds: number;
  /** Length of the measured window, s. */
  readonly seconds: number;
  /** Kernel iterations per service message (single-core) or per counter update (workers). */
  readonly chunk: number;
  /** Worker threads of the multi-core workload. */
  readonly workers: number;
  /** Throughput workload: payload per MQTT message and the sender's window of unacknowledged bytes. */
  readonly payloadBytes: number;
  readonly windowBytes: number;
  /** Scheduling niceness of the hub host (0 = same as the device). */
  readonly hostNice: number;
  /** Bundled scripts (plain node, no tsx) for the hub host and the CPU worker; absent: the .ts sources via tsx. */
  readonly hostScript?: string;
  readonly workerScript?: string;
}

/** What one run reports (one `RESULT <json>` line on stdout). */
export interface RunResult {
  readonly spec: RunSpec;
  /** iterations/s (CPU) or Mbit/s of payload delivered at the sink (throughput), over the window. */
  readonly score: number;
  /** The same work per CPU-second of the measuring process (iterations or Mbit per CPU-s). */
  readonly perCpuSecond: number;
  readonly windowMs: number;
  /** CPU of the measuring process (all threads) over the window, % of one core. */
  readonly cpuPercent: number;
  /** CPU of the main thread alone over the window, % of one core (Linux schedstat; NaN elsewhere). */
  readonly mainCpuPercent: number;
  /**
   * The workload's share of what the device ran, measured by accounting rather than by speed, so it
   * does not move with how fast the CPU happens to be: single-core (VM/DOM) = time inside the kernel
   * ÷ window; multi-core = 1 − main-thread CPU ÷ process CPU (the workers are the workload, the main
   * thread is the device). NaN where it does not apply (HYP single-core, throughput).
   */
  readonly workloadShare: number;
  /** CPU of the hub host (hubs, broker, sink) over the window, % of one core. */
  readonly hostCpuPercent: number;
  /** Tickets accepted during the window, all instances. */
  readonly tickets: number;
  /** Ticket rounds the receiver started during the window, all instances. */
  readonly rounds: number;
  /** Ticket round trips (nonce drawn → ticket accepted) during the window, ms: median and max. */
  readonly ticketRttP50: number;
  readonly ticketRttMax: number;
  /** Event-loop delay over the window (how long I/O waited for a turn), ms: p99 and max; NaN where not watched (multi-core, HYP single-core). */
  readonly loopDelayP99: number;
  readonly loopDelayMax: number;
  /** Anything that should not happen in a clean run: expiries, refusals, withheld, resets, faults, stalls. */
  readonly anomalies: readonly string[];
  readonly checksum: number;
}
