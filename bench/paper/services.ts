/**
 * The paper benchmark's workloads as `sm` services, written against the ordinary service API
 * (actors/sm/service.ts): one actor per service, nothing but its own messages, inbound traffic and
 * `publish`. What they count goes into a plain object the harness reads — instrumentation standing in
 * for a hardware counter, not a door between domains.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ServiceInbound, ServiceSpec } from '../../actors/sm/index.ts';
import { newKernel, runIterations } from './kernel.ts';

/** Where the CPU workload counts its iterations. */
export interface CpuCounter {
  iterations: number;
  crc: number;
  /** Wall time spent inside the kernel, ms (single-core service): the main thread's share for the workload. */
  busyMs: number;
}

type CpuMsg = { readonly type: 'work' };

/**
 * Single-threaded CPU workload: the kernel in bounded chunks of `chunk` iterations, one chunk per
 * message; after each chunk the service messages itself to continue. So the scheduler serves the
 * higher-priority domains (`sw`, `hypervisor`, `mm`) between chunks and yields to the event loop every
 * `budget` messages, exactly as it would for any busy service.
 */
export function cpuSingleService(o: { readonly chunk: number; readonly counter: CpuCounter }): ServiceSpec<CpuMsg> {
  return {
    name: 'cpu',
    version: '1.0.0',
    capacity: 4,
    start(ctx) {
      const kernel = newKernel();
      const self = ctx.actor.self;
      self.tell({ type: 'work' });
      return {
        receive(msg: CpuMsg | ServiceInbound): void {
          if (msg.type !== 'work') return;
          const t = performance.now();
          o.counter.crc = runIterations(kernel, o.counter.iterations, o.chunk, o.counter.crc);
          o.counter.iterations += o.chunk;
          o.counter.busyMs += performance.now() - t;
          self.tell({ type: 'work' }); // exactly one `work` is ever queued: the mailbox cannot overflow
        },
      };
    },
  };
}

/** Shared counters of the multi-threaded workload: slot 0 = stop flag, slot i = worker i's iterations. */
export function newWorkerCounters(workers: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(8 * (workers + 1)));
}

/**
 * Starts `workers` kernel threads counting into `counts`; the returned function stops and joins them.
 * `script`: a bundled worker (plain JS); default: cpu-worker.mjs, which loads the TypeScript through tsx.
 */
export function startCpuWorkers(counts: Float64Array, workers: number, chunk: number, script?: string): () => Promise<void> {
  counts.fill(0);
  const url = script !== undefined ? pathToFileURL(script) : new URL('./cpu-worker.mjs', import.meta.url);
  const threads = Array.from({ length: workers }, (_, i) => new Worker(url, { workerData: { shared: counts.buffer, slot: i + 1, chunk } }));
  for (const t of threads) t.on('error', (e) => process.stderr.write(`cpu worker failed: ${e instanceof Error ? e.message : String(e)}\n`));
  return async () => {
    counts[0] = 1;
    await Promise.all(
      threads.map((t) => new Promise<void>((resolve) => (t.threadId === -1 ? resolve() : t.once('exit', () => resolve())))),
    );
  };
}

/** Total iterations the workers have done. */
export function workerIterations(counts: Float64Array): number {
  let n = 0;
  for (let i = 1; i < counts.length; i++) n += counts[i]!;
  return n;
}

/**
 * Multi-threaded CPU workload: the service owns `workers` worker threads running the kernel (a VM's
 * vCPUs doing its work) and stops them when it stops; the service actor itself stays idle, so the
 * main thread is left to the runtime and the dominance components.
 */
export function cpuMultiService(o: {
  readonly workers: number;
  readonly chunk: number;
  readonly counts: Float64Array;
  readonly script?: string;
}): ServiceSpec<never> {
  return {
    name: 'cpu',
    version: '1.0.0',
    capacity: 4,
    start() {
      const stop = startCpuWorkers(o.counts, o.workers, o.chunk, o.script);
      return { receive: () => {}, stopped: () => void stop() };
    },
  };
}

/** What the streaming service counts. */
export interface StreamCounters {
  /** Payload bytes `publish` accepted. */
  sent: number;
  /** Cumulative bytes the sink acknowledged. */
  acked: number;
  /** `publish` calls the channel refused. */
  refused: number;
  /** Times no acknowledgement came for a whole check period with a full window: data was lost on the way. */
  stalls: number;
}

type StreamMsg = { readonly type: 'pump' } | { readonly type: 'check' };

/**
 * Throughput workload: publishes `payloadBytes` messages on stream `bulk` as fast as the sink takes
 * them. The sink acknowledges the cumulative bytes it received (arriving as inbound traffic); the
 * service keeps at most `windowBytes` unacknowledged, so nothing queues without bound anywhere between
 * it and the sink — backpressure end to end, as TCP gives iperf. A full window waits for the next
 * acknowledgement, and so does a refusal of the channel to `mm` (it is then full of frames in flight).
 */
export function streamService(o: {
  readonly payloadBytes: number;
  readonly windowBytes: number;
  readonly counters: StreamCounters;
}): ServiceSpec<StreamMsg> {
  const decoder = new TextDecoder();
  return {
    name: 'stream',
    version: '1.0.0',
    capacity: 8,
    start(ctx) {
      const payload = new Uint8Array(o.payloadBytes).fill(0x5a);
      const c = o.counters;
      const self = ctx.actor.self;
      let pumpQueued = false;
      let lastAcked = -1;
      const pump = (): void => {
        if (pumpQueued) return;
        pumpQueued = true;
        self.tell({ type: 'pump' });
      };
      // A lost message would shrink the window for good: resynchronise if acknowledgements stop.
      const check = ctx.actor.timer({ type: 'check' });
      check.arm(1000, 1000);
      pump();
      return {
        receive(msg: StreamMsg | ServiceInbound): void {
          switch (msg.type) {
            case 'pump': {
              pumpQueued = false;
              while (c.sent - c.acked + o.payloadBytes <= o.windowBytes) {
                if (!ctx.publish('bulk', payload)) {
                  // The channel to mm is full of our own frames: the next acknowledgement resumes us.
                  c.refused++;
                  return;
                }
                c.sent += o.payloadBytes;
              }
              return;
            }
            case 'inbound': {
              const acked = Number(decoder.decode(msg.payload));
              if (Number.isSafeInteger(acked) && acked > c.acked) c.acked = acked;
              pump();
              return;
            }
            case 'check':
              if (c.acked === lastAcked && c.sent > c.acked) {
                c.stalls++;
                c.sent = c.acked;
                pump();
              }
              lastAcked = c.acked;
              return;
          }
        },
      };
    },
  };
}
