/**
 * The simulator's side of its signing thread (sign-worker.ts): asks for windows ahead of time and
 * hands them to the publisher when their time comes. Counts what was pre-signed and the thread's
 * busy time, so the report can show that signing kept ahead.
 */
import { Worker } from 'node:worker_threads';
import type { FleetKeys } from './fleet-keys.ts';
import type { SignedWindow, SignerReply, SignerSetup, WindowAsk } from './signed-window.ts';

export class PreSigner {
  private readonly worker: Worker;
  private readonly ready = new Map<number, { window: SignedWindow; arrivedAt: number }>();
  private failure: Error | undefined;
  /** Requests signed so far, and the signing thread's busy time (ms). */
  signed = 0;
  signMs = 0;
  readonly started: Promise<{ keyMs: number }>;

  constructor(
    keys: FleetKeys,
    intervalMs: number,
    scheduleSeed: number,
    private readonly windowMs: number,
  ) {
    const setup: SignerSetup = { records: keys.records, devices: keys.devices, seed: keys.seed, intervalMs, scheduleSeed };
    this.worker = new Worker(new URL('./sign-worker.mjs', import.meta.url), { workerData: setup });
    this.started = new Promise((resolve, reject) => {
      this.worker.on('message', (m: SignerReply) => {
        if (m.kind === 'ready') resolve({ keyMs: m.keyMs });
        else {
          this.ready.set(m.window, { window: m, arrivedAt: performance.now() });
          this.signed += m.devices.length;
          this.signMs += m.signMs;
        }
      });
      this.worker.once('error', (err) => {
        this.failure = err;
        reject(new Error(`fleet-sim: the signing thread failed: ${err.message}`));
      });
    });
  }

  /** Asks for window `k` (its sends are due in [k·W, (k+1)·W) ms of the run). */
  ask(k: number): void {
    const ask: WindowAsk = { window: k, fromMs: k * this.windowMs, toMs: (k + 1) * this.windowMs };
    this.worker.postMessage(ask);
  }

  /**
   * Window `k` if signed by now (and forgets it), with when it arrived (performance.now()), else
   * undefined. Throws if the thread died.
   */
  take(k: number): { window: SignedWindow; arrivedAt: number } | undefined {
    if (this.failure !== undefined) throw new Error(`fleet-sim: the signing thread failed: ${this.failure.message}`);
    const w = this.ready.get(k);
    if (w !== undefined) this.ready.delete(k);
    return w;
  }

  /** Resolves once window `k` is signed (not taken yet). */
  async signedBy(k: number): Promise<void> {
    while (!this.ready.has(k)) {
      if (this.failure !== undefined) throw new Error(`fleet-sim: the signing thread failed: ${this.failure.message}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
