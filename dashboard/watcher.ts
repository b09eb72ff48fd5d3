/**
 * Watches the hub databases (docs/ARCHITECTURE.md, "The dashboard"): every POLL_MS each source says
 * what its audit log and history gained since its watermark (SQLite first asks `PRAGMA data_version`,
 * which costs nothing when nobody wrote); the named devices are read again, folded into the index,
 * and published to the event streams. Devices whose deadline passed without a write are read again
 * too. A source that fails is marked unhealthy (GET /api/health) and retried at the next poll.
 */
import type { Clock, ClockHandle } from '../runtime/index.ts';
import { FleetIndex } from './fleet-index.ts';
import { Rates } from './rates.ts';
import type { ChangeFeed } from './sse.ts';
import type { HubSource } from './source.ts';
import { DeviceFold } from './types.ts';

export const POLL_MS = 250;
export const DUE_PER_POLL = 5000;
/** Devices read again per poll at most. */
export const REREAD_PER_POLL = 1000;

export interface HubHealth {
  readonly label: string;
  ok: boolean;
  error?: string;
}

export type Log = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields?: Readonly<Record<string, string | number | boolean | null | undefined>>,
) => void;

export class Watcher {
  readonly index = new FleetIndex();
  readonly rates = new Rates();
  readonly health: HubHealth[];
  private timer: ClockHandle | undefined;
  private polling: Promise<boolean> | undefined;
  private stopped = false;
  /** Devices named by changes (or a passed deadline) and not read again yet. */
  private readonly pending = new Set<string>();

  constructor(
    readonly sources: readonly HubSource[],
    private readonly feed: ChangeFeed,
    private readonly clock: Clock,
    private readonly log: Log,
  ) {
    this.health = sources.map((s) => ({ label: s.label, ok: true }));
  }

  /** Reads every source whole (the index) and seeds the charts; a failure here fails the start. */
  async load(): Promise<void> {
    const now = this.clock.now();
    const since = Rates.since(now);
    for (const s of this.sources) {
      this.rates.seed(await s.start(since.minutes, since.hours));
      // A source's rows come grouped by device: one device's fold at a time, never the whole fleet's.
      let fold: DeviceFold | undefined;
      await s.scan(now, (row) => {
        if (fold !== undefined && fold.deviceId !== row.deviceId) this.index.merge(fold);
        if (fold === undefined || fold.deviceId !== row.deviceId) fold = new DeviceFold(row.deviceId);
        fold.add(row, now);
      });
      if (fold !== undefined) this.index.merge(fold);
    }
    this.index.sealLoad();
  }

  /** Polls every POLL_MS from now on (on the injected clock). */
  run(): void {
    this.stopped = false;
    this.schedule(POLL_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /**
   * One poll of every source; resolves when its changes are in the index and published, true when
   * a source has more rows waiting.
   */
  poll(): Promise<boolean> {
    // One poll at a time: a slow database delays the next, never doubles the work.
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = this.clock.schedule(this.clock.now() + delayMs, () => {
      this.timer = undefined;
      void this.poll().then((more) => this.schedule(more ? 0 : POLL_MS));
    });
  }

  private async pollOnce(): Promise<boolean> {
    const now = this.clock.now();
    // A fleet whose deadlines all pass at once (a restarted dashboard, a dead broker) is read again
    // DUE_PER_POLL devices at a time, not all in one poll.
    for (const id of this.index.due(now, DUE_PER_POLL)) this.pending.add(id);
    let more = false;
    for (const [i, s] of this.sources.entries()) {
      try {
        const c = await s.poll();
        this.rates.add(c);
        for (const id of c.devices) this.pending.add(id);
        more ||= c.more;
        this.markHealthy(i);
      } catch (err) {
        this.markFailed(i, err);
      }
    }
    if (this.pending.size === 0) return more;
    // At most REREAD_PER_POLL devices' rows in memory at once (the process's memory budget); the
    // rest at the next poll, at once.
    const ids: string[] = [];
    for (const id of this.pending) {
      if (ids.length >= REREAD_PER_POLL) break;
      ids.push(this.index.canonical(id));
      this.pending.delete(id);
    }
    // (no poll sooner for what is left: a fleet-wide flip is read again at REREAD_PER_POLL per POLL_MS.)
    const rows = [];
    for (const [i, s] of this.sources.entries()) {
      try {
        rows.push(...(await s.rowsOf(ids, now)));
      } catch (err) {
        this.markFailed(i, err);
      }
    }
    this.index.refresh(ids, rows, now);
    this.feed.publish(ids);
    return more;
  }

  private markHealthy(i: number): void {
    const h = this.health[i]!;
    if (!h.ok) this.log('info', 'hub database readable again', { hub: h.label });
    h.ok = true;
    delete h.error;
  }

  private markFailed(i: number, err: unknown): void {
    const h = this.health[i]!;
    const message = messageOf(err);
    if (h.ok || h.error !== message) this.log('error', 'hub database poll failed', { hub: h.label, error: message });
    h.ok = false;
    h.error = message;
  }
}

export function messageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}
