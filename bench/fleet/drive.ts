/**
 * Drives the fleet open-loop: every pre-signed request goes out when the schedule says, whatever the
 * hub answers (a slow hub gets no relief, as with real devices), over a few shared MQTT connections;
 * every reply is matched to its device's outstanding nonce, and each device's deadline is kept as its
 * AWDT would. Requests due in the warm-up (the first round: the hub meets each key once) are sent and
 * tracked for deadlines but not counted in the rates and latencies.
 */
import type { MqttClient } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { DeadlineBook } from './deadlines.ts';
import { fleetDeviceId } from './fleet-keys.ts';
import type { PreSigner } from './presign.ts';
import type { ReplyReader } from './replies.ts';
import { Samples } from './samples.ts';
import { NONCE_LENGTH, type SignedWindow } from './signed-window.ts';

/** Windows asked ahead of the one being published. */
const AHEAD = 3;

/** CPU seconds so far: each hub worker, each broker, this process. */
export interface CpuSnapshot {
  readonly hubs: readonly number[];
  readonly brokers: readonly number[];
  readonly sim: number;
}

export interface DriveOptions {
  readonly clients: readonly MqttClient[];
  readonly hubId: string;
  readonly devices: number;
  readonly deferralMs: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly windowMs: number;
  /** How long to wait for replies after the last request. */
  readonly drainMs: number;
  readonly signer: PreSigner;
  readonly reader: ReplyReader;
  readonly cpu: () => CpuSnapshot;
  readonly progress: (msg: string) => void;
}

export interface DriveResult {
  readonly sent: number;
  /** Counted below: requests due in the measured window. */
  readonly sentMeasured: number;
  readonly tickets: number;
  readonly refused: ReadonlyMap<string, number>;
  readonly unanswered: number;
  /** Replies to no outstanding nonce (late after the device's next request, or duplicates). */
  readonly stale: number;
  readonly bad: ReadonlyMap<string, number>;
  readonly verified: number;
  readonly latency: Samples;
  readonly sendLag: Samples;
  /** Replies that arrived within the measured window (any request), for the per-CPU rate. */
  readonly answersInWindow: number;
  readonly resets: number;
  readonly devicesReset: number;
  /** Windows whose signing was not done when their first request was due, and the worst wait. */
  readonly lateWindows: number;
  readonly worstSignWaitMs: number;
  readonly cpuStart: CpuSnapshot;
  readonly cpuEnd: CpuSnapshot;
}

export async function driveFleet(o: DriveOptions): Promise<DriveResult> {
  const N = o.devices;
  const horizon = o.warmupMs + o.measureMs;
  const windows = Math.ceil(horizon / o.windowMs);
  const base = topics.hubRequestBase(o.hubId);
  const sentAt = new Float64Array(N).fill(NaN);
  const measuredReq = new Uint8Array(N);
  const nonceBook = Buffer.alloc(N * NONCE_LENGTH);
  const book = new DeadlineBook(N, 0, o.deferralMs);
  const latency = new Samples();
  const sendLag = new Samples();
  const refused = new Map<string, number>();
  const bad = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
  let sent = 0;
  let sentMeasured = 0;
  let tickets = 0;
  let unanswered = 0;
  let stale = 0;
  let verified = 0;
  let answersInWindow = 0;
  let outstanding = 0;
  let lateWindows = 0;
  let worstSignWaitMs = 0;

  // The first windows are signed before the clock starts, so the run opens with signing ahead.
  for (let k = 0; k < Math.min(AHEAD, windows); k++) o.signer.ask(k);
  await o.signer.signedBy(Math.min(AHEAD, windows) - 1);
  const streams = o.clients.map((c) => c.stream as { cork?: () => void; uncork?: () => void } | undefined);
  const t0 = performance.now();
  const rel = (): number => performance.now() - t0;

  const onMessage = (topic: string, payload: Buffer): void => {
    const now = rel();
    const r = o.reader.read(topic, payload);
    if (r.kind === 'bad') return bump(bad, r.why);
    if (r.verified) verified++;
    const d = r.device;
    const at = sentAt[d]!;
    if (Number.isNaN(at) || !nonceBook.subarray(d * NONCE_LENGTH, (d + 1) * NONCE_LENGTH).equals(r.nonce)) {
      stale++;
      return;
    }
    sentAt[d] = NaN;
    outstanding--;
    if (now >= o.warmupMs && now < horizon) answersInWindow++;
    if (r.kind === 'ticket') book.ticket(d, at, r.deferralMs, now);
    if (measuredReq[d] === 1) {
      latency.push(now - at);
      if (r.kind === 'ticket') tickets++;
      else bump(refused, r.why);
    }
  };
  const corkOnMessage = o.clients.map((c, i) => {
    let corked = false;
    const s = streams[i];
    return (topic: string, payload: Buffer): void => {
      // One write for a turn's PUBACKs, as the hub does (bench/hub.ts).
      if (!corked && s?.cork !== undefined && s.uncork !== undefined) {
        corked = true;
        s.cork();
        setImmediate(() => {
          corked = false;
          s.uncork!();
        });
      }
      onMessage(topic, payload);
    };
  });
  o.clients.forEach((c, i) => c.on('message', corkOnMessage[i]!));

  let cpuStart: CpuSnapshot = o.cpu();
  let cpuEnd: CpuSnapshot | undefined;
  const timers = [
    setTimeout(() => (cpuStart = o.cpu()), o.warmupMs),
    setTimeout(() => (cpuEnd = o.cpu()), horizon),
    setInterval(() => {
      if (rel() < horizon) book.sweep(rel());
    }, 1000),
    setInterval(() => {
      const p99 = latency.count > 0 ? `, p99 ${latency.percentile(99).toFixed(1)} ms` : '';
      o.progress(
        `${(rel() / 1000).toFixed(0)} s: ${sent} sent, ${outstanding} outstanding, ${tickets} tickets counted${p99}, ${book.resets} would-have-reset, signing ${o.signer.signed} done`,
      );
    }, 10_000),
  ];

  let k = 0;
  let cur: SignedWindow | undefined;
  let j = 0;
  const publish = (w: SignedWindow, i: number, now: number): void => {
    const d = w.devices[i]!;
    if (!Number.isNaN(sentAt[d]!)) {
      // Its previous request got no reply within the interval.
      outstanding--;
      if (measuredReq[d] === 1) unanswered++;
    }
    nonceBook.set(w.nonces.subarray(i * NONCE_LENGTH, (i + 1) * NONCE_LENGTH), d * NONCE_LENGTH);
    sentAt[d] = now;
    const measured = w.atMs[i]! >= o.warmupMs;
    measuredReq[d] = measured ? 1 : 0;
    outstanding++;
    sent++;
    if (measured) sentMeasured++;
    sendLag.push(now - w.atMs[i]!);
    const bytes = Buffer.from(w.bytes.buffer, w.bytes.byteOffset + w.offsets[i]!, w.offsets[i + 1]! - w.offsets[i]!);
    o.clients[d % o.clients.length]!.publish(`${base}/${fleetDeviceId(d)}`, bytes, { qos: 1 });
  };

  await new Promise<void>((resolve, reject) => {
    const tick = (): void => {
      try {
        const now = rel();
        for (const s of streams) s?.cork?.();
        while (k < windows) {
          if (cur === undefined) {
            const taken = o.signer.take(k);
            if (taken === undefined) break; // not signed yet: polled again in 1 ms
            cur = taken.window;
            const waited = taken.arrivedAt - t0 - k * o.windowMs;
            if (waited > 0) {
              lateWindows++;
              worstSignWaitMs = Math.max(worstSignWaitMs, waited);
            }
            if (k + AHEAD < windows) o.signer.ask(k + AHEAD);
            j = 0;
          }
          while (j < cur.devices.length && cur.atMs[j]! <= now && cur.atMs[j]! < horizon) publish(cur, j++, now);
          if (j < cur.devices.length && cur.atMs[j]! < horizon) break;
          cur = undefined;
          k++;
        }
        setImmediate(() => {
          for (const s of streams) s?.uncork?.();
        });
        if (k >= windows) return resolve();
        const next = cur !== undefined ? cur.atMs[j]! : k * o.windowMs;
        setTimeout(tick, Math.max(1, Math.min(next - rel(), 50)));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    tick();
  });

  const drainEnd = rel() + o.drainMs;
  while (outstanding > 0 && rel() < drainEnd) await new Promise((r) => setTimeout(r, 50));
  for (const t of timers) clearTimeout(t);
  o.clients.forEach((c, i) => c.off('message', corkOnMessage[i]!));
  book.sweep(horizon);
  for (let d = 0; d < N; d++) if (!Number.isNaN(sentAt[d]!) && measuredReq[d] === 1) unanswered++;

  return {
    sent,
    sentMeasured,
    tickets,
    refused,
    unanswered,
    stale,
    bad,
    verified,
    latency,
    sendLag,
    answersInWindow,
    resets: book.resets,
    devicesReset: book.devicesReset,
    lateWindows,
    worstSignWaitMs,
    cpuStart,
    cpuEnd: cpuEnd ?? o.cpu(),
  };
}
