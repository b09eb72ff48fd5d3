/**
 * A dashboard on a real SQLite hub database (the hub fixtures' IH with a device that asks for
 * tickets, plus enrolled devices that never asked), on a real loopback port, with time on a
 * ManualClock at an epoch instant and polling done by the test (`dash.poll()`), never by timers.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { changeDeviceState, enrollKeys } from '../../actors/hub/sqlite/index.ts';
import { ManualClock } from '../../runtime/index.ts';
import { Dashboard, loopbackHosts, SqliteSource } from '../../dashboard/index.ts';
import { deviceRuntime, newDevice, signedRequest, sqliteIhFixture, tempDir, type SqliteFixture } from '../hub/fixtures.ts';

export const T0 = 1_764_028_800_000;
export const TOKEN = 'test-operator-token-0123456789';
/** Enrolled besides the fixture's device; `quiet-03` is quarantined. */
export const EXTRA = ['alpha-01', 'alpha-02', 'Beta-X', 'quiet-03', 'zeta-9'];

export interface DashFixture {
  readonly fx: SqliteFixture;
  readonly dash: Dashboard;
  readonly clock: ManualClock;
  readonly base: string;
  readonly port: number;
  readonly logs: string[];
  /** One ticket request of the fixture device's `device` instance at `atMs`, committed. */
  ticket(atMs: number): void;
  close(): Promise<void>;
}

export async function dashFixture(o: { token?: string } = {}): Promise<DashFixture> {
  const fx = sqliteIhFixture(tempDir('dominion-dash-'));
  for (const id of EXTRA) {
    const keys = newDevice(id);
    enrollKeys(fx.store.db, id, [{ instance: 'device', publicKey: keys.device.publicKey }], { nowMs: T0 - 60_000 });
  }
  changeDeviceState(fx.store.db, 'quiet-03', 'quarantine', 'suspicious', T0 - 30_000);
  const ticket = (atMs: number): void => {
    fx.ask(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', deviceRuntime()).bytes, atMs);
    fx.commit();
  };
  ticket(T0);
  const clock = new ManualClock(T0 + 1000);
  const logs: string[] = [];
  const dash = await Dashboard.start({
    sources: [SqliteSource.open(fx.path)],
    ...(o.token !== undefined ? { token: o.token } : {}),
    clock,
    autoPoll: false,
    log: (level, message, fields) => logs.push(JSON.stringify({ level, message, ...fields })),
  });
  const address = await dash.listen('127.0.0.1', 0, loopbackHosts);
  return {
    fx,
    dash,
    clock,
    base: `http://127.0.0.1:${address.port}`,
    port: address.port,
    logs,
    ticket,
    close: async () => {
      await dash.close();
      fx.store.close();
    },
  };
}

/** Parsed JSON answers, read field by field in assertions (tests only). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): Json;
}

/** One HTTP request, the whole answer. */
export function call(
  base: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: o.method ?? 'GET', headers: o.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

export interface SseEvent {
  readonly id?: string;
  readonly event: string;
  readonly data: Json;
}

/** An open /api/events stream: `next(pred)` resolves with the first event (not yet taken) matching. */
export interface SseStream {
  next(pred?: (e: SseEvent) => boolean): Promise<SseEvent>;
  /** Events received and not yet taken. */
  pending(): readonly SseEvent[];
  readonly raw: () => string;
  close(): void;
}

export function openEvents(base: string, lastEventId?: string): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const queue: SseEvent[] = [];
    const waiters: Array<{ pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> = [];
    let buffer = '';
    let all = '';
    const deliver = (): void => {
      for (let w = 0; w < waiters.length; w++) {
        const i = queue.findIndex(waiters[w]!.pred);
        if (i < 0) continue;
        const [e] = queue.splice(i, 1);
        waiters.splice(w--, 1)[0]!.resolve(e!);
      }
    };
    const req = request(`${base}/api/events`, { headers: lastEventId !== undefined ? { 'Last-Event-ID': lastEventId } : {} }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        all += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const c = line.indexOf(':');
            fields.set(line.slice(0, c), line.slice(c + 1).trimStart());
          }
          if (!fields.has('event')) continue;
          queue.push({
            ...(fields.has('id') ? { id: fields.get('id')! } : {}),
            event: fields.get('event')!,
            data: JSON.parse(fields.get('data') ?? 'null'),
          });
        }
        deliver();
      });
      resolve({
        next: (pred = () => true) =>
          new Promise((res2) => {
            waiters.push({ pred, resolve: res2 });
            deliver();
          }),
        pending: () => [...queue],
        raw: () => all,
        close: () => req.destroy(),
      });
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

/**
 * The device view of a device enrolled and granted one ticket at `t0` (either store): its device
 * instance's deadline follows the ticket, and its audit trail, newest first, is the enrolment and
 * that ticket.
 */
export function assertOneTicketDevice(
  dev: {
    instances: Array<{ lastTicketAtMs: number; deadlineMs: number; lastDeferralMs: number }>;
    audit: Array<{ atMs: number; outcome: string; reason: string }>;
  },
  t0: number,
): void {
  assert.equal(dev.instances[0]!.lastTicketAtMs, t0);
  assert.equal(dev.instances[0]!.deadlineMs, t0 + dev.instances[0]!.lastDeferralMs);
  const times = dev.audit.map((a) => a.atMs);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => b - a),
  );
  assert.deepEqual(dev.audit.map((a) => `${a.outcome} ${a.reason}`).sort(), ['operator enrolled', 'ticket granted']);
  assert.equal(dev.audit.find((a) => a.outcome === 'ticket')!.atMs, t0);
}
