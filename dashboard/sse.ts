/**
 * Server-sent events (docs/DASHBOARD.md, GET /api/events): a numbered change log in a ring, and the
 * open connections. Each connection gets at most one `change` event per MIN_GAP_MS, naming every
 * device changed since the last one it got (or `*` past MAX_IDS, or when it asks to resume from a
 * number the ring no longer holds). Time comes from the injected clock: tests advance it.
 */
import type { ServerResponse } from 'node:http';
import type { Clock, ClockHandle } from '../runtime/index.ts';

export const MIN_GAP_MS = 250;
export const MAX_IDS = 500;
export const PING_MS = 15_000;
/** Change entries kept for Last-Event-ID resume. */
export const RING = 1024;

interface Change {
  readonly seq: number;
  readonly devices: readonly string[] | '*';
}

interface Client {
  readonly res: ServerResponse;
  /** The last seq this client has been told about. */
  seq: number;
  lastSentMs: number;
  timer: ClockHandle | undefined;
}

export class ChangeFeed {
  private readonly ring: Change[] = [];
  private seqNow = 0;
  private readonly clients = new Set<Client>();
  private ping: ClockHandle | undefined;

  constructor(private readonly clock: Clock) {}

  get seq(): number {
    return this.seqNow;
  }

  get connections(): number {
    return this.clients.size;
  }

  /** Records a change of these devices ('*': anything may have changed) and wakes the connections. */
  publish(devices: readonly string[] | '*'): void {
    if (devices !== '*' && devices.length === 0) return;
    const change: Change = { seq: ++this.seqNow, devices: devices === '*' || devices.length > MAX_IDS ? '*' : devices };
    this.ring.push(change);
    if (this.ring.length > RING) this.ring.shift();
    for (const c of this.clients) this.wake(c);
  }

  /** A new EventSource: headers, `retry`, `hello`, and at once what it missed if it resumes. */
  attach(res: ServerResponse, lastEventId: string | undefined, headers: Record<string, string>): void {
    res.writeHead(200, {
      ...headers,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ seq: this.seqNow, now: this.clock.now() })}\n\n`);
    const resumeFrom = parseLastEventId(lastEventId);
    const client: Client = { res, seq: resumeFrom ?? this.seqNow, lastSentMs: -Infinity, timer: undefined };
    // A number from the future (another server process, a restart): everything may have changed.
    if (resumeFrom !== undefined && resumeFrom > this.seqNow) client.seq = -1;
    this.clients.add(client);
    res.on('close', () => this.detach(client));
    if (client.seq !== this.seqNow) this.flush(client);
    this.schedulePing();
  }

  /** Ends every connection (server shutdown). */
  close(): void {
    for (const c of [...this.clients]) {
      this.detach(c);
      c.res.end();
    }
    if (this.ping !== undefined) this.clock.cancel(this.ping);
    this.ping = undefined;
  }

  private detach(c: Client): void {
    if (c.timer !== undefined) this.clock.cancel(c.timer);
    c.timer = undefined;
    this.clients.delete(c);
  }

  private wake(c: Client): void {
    if (c.timer !== undefined) return;
    const at = Math.max(this.clock.now(), c.lastSentMs + MIN_GAP_MS);
    if (at <= this.clock.now()) this.flush(c);
    else
      c.timer = this.clock.schedule(at, () => {
        c.timer = undefined;
        this.flush(c);
      });
  }

  private flush(c: Client): void {
    if (c.seq >= this.seqNow || !this.clients.has(c)) return;
    const devices = this.since(c.seq);
    c.seq = this.seqNow;
    c.lastSentMs = this.clock.now();
    const data = JSON.stringify({ seq: this.seqNow, devices, summary: true });
    c.res.write(`id: ${this.seqNow}\nevent: change\ndata: ${data}\n\n`);
  }

  /** Devices changed after `seq`: their ids, or '*' when too many or the ring lost some. */
  private since(seq: number): string[] | '*' {
    const oldest = this.ring[0]?.seq ?? this.seqNow + 1;
    if (seq < oldest - 1) return '*';
    const ids = new Set<string>();
    for (let i = this.ring.length - 1; i >= 0 && this.ring[i]!.seq > seq; i--) {
      const d = this.ring[i]!.devices;
      if (d === '*') return '*';
      for (const id of d) ids.add(id);
      if (ids.size > MAX_IDS) return '*';
    }
    return [...ids].sort();
  }

  private schedulePing(): void {
    if (this.ping !== undefined || this.clients.size === 0) return;
    this.ping = this.clock.schedule(this.clock.now() + PING_MS, () => {
      this.ping = undefined;
      for (const c of this.clients) c.res.write(': ping\n\n');
      this.schedulePing();
    });
  }
}

function parseLastEventId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) return undefined;
  return Number(text.trim());
}
