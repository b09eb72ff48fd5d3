/**
 * The consumer's side of sealed service data (docs/PROTOCOL.md "Sealed service data"): given the
 * enrolled K_SM public key of each (device, service), it accepts a service record only once a seal
 * signed with that key lists the record's SHA-256, and only once: a record the device's hypervisor
 * did not seal (forged, tampered, moved), an old one again (replayed) or one that comes after a later
 * one (out of order) is reported as such, and counted.
 *
 * Records come before the seal that covers them (the hypervisor seals a run of records at a time), so
 * a record waits here until a seal names it, at most `sealWaitMs`; `expire` reports the ones whose
 * seal never came as forged (`unsealed`).
 */
import {
  RECORD_DIGEST_BYTES,
  SEAL_MAX_RECORDS,
  serviceMessageLiteCodec,
  serviceSealLiteCodec,
  SIGNATURE_CONTEXT,
  TOPIC_PREFIX,
  type SignedEnvelope,
} from '../../proto/index.ts';
import { bytesEqual, nodeBackend, SIGNATURE_LENGTH, verifyInContext, type CryptoBackend, type Verifier } from '../crypto/index.ts';

/** Where a message came from, by its topic (`dominion/v1/service/<service>/<device>/<stream>`). */
export interface ServiceSource {
  readonly deviceId: string;
  readonly service: string;
  readonly stream: string;
}

export type ForgedReason =
  /** The seal's envelope does not verify with the enrolled key (another key, another context, bad bytes). */
  | 'bad-seal'
  /** A verified seal names another device, service or stream than its topic. */
  | 'wrong-source'
  /** A verified seal lists another digest for this record's number. */
  | 'digest-mismatch'
  /** No seal named the record within `sealWaitMs` (or too many records were waiting). */
  | 'unsealed';

export type ServiceDataOutcome =
  | (ServiceSource & { readonly kind: 'ok'; readonly boot: bigint; readonly seq: bigint; readonly payload: Uint8Array })
  | (ServiceSource & { readonly kind: 'forged'; readonly reason: ForgedReason; readonly detail: string })
  | (ServiceSource & { readonly kind: 'replayed' | 'out-of-order'; readonly boot: bigint; readonly seq: bigint })
  | (ServiceSource & { readonly kind: 'unknown-device' })
  | { readonly kind: 'malformed'; readonly topic: string; readonly detail: string };

export type OutcomeKind = ServiceDataOutcome['kind'];

export type VerifierCounters = Record<OutcomeKind, number> & { seals: number };

export interface ServiceDataVerifierOptions {
  /** The enrolled K_SM public key of (device, service) — the service hub's registry has it. */
  readonly keyOf: (deviceId: string, service: string) => Uint8Array | undefined;
  /** Milliseconds, any monotonic origin (tests: a ManualClock's `now`). */
  readonly now: () => number;
  readonly backend?: CryptoBackend;
  /** How long a record waits for its seal (default 5 s; the device seals within ~20 ms while it can publish). */
  readonly sealWaitMs?: number;
  /** Records waiting per stream at most (default 1024): past it the oldest is reported unsealed. */
  readonly maxWaiting?: number;
  /** How far back (in numbers) a late record can still be told apart from a replay (default 4096). */
  readonly window?: number;
}

interface Waiting {
  readonly boot: bigint;
  readonly seq: bigint;
  readonly digest: Uint8Array;
  readonly payload: Uint8Array;
  readonly at: number;
}

interface StreamState {
  /** The newest boot a verified seal named; -1: none yet. */
  boot: bigint;
  /** The highest number accepted in `boot`. */
  high: bigint;
  /** Numbers accepted in `boot`, within `window` of `high`. */
  readonly seen: Set<bigint>;
  /** Digests verified seals listed for `boot`, by number, within `window` of the newest. */
  readonly sealed: Map<bigint, Uint8Array>;
  waiting: Waiting[];
}

export class ServiceDataVerifier {
  readonly counters: VerifierCounters = {
    ok: 0,
    forged: 0,
    replayed: 0,
    'out-of-order': 0,
    'unknown-device': 0,
    malformed: 0,
    seals: 0,
  };
  private readonly streams = new Map<string, StreamState>();
  private readonly verifiers = new Map<string, Verifier>();
  private readonly backend: CryptoBackend;
  private readonly sealWaitMs: number;
  private readonly maxWaiting: number;
  private readonly window: bigint;

  constructor(private readonly o: ServiceDataVerifierOptions) {
    this.backend = o.backend ?? nodeBackend();
    this.sealWaitMs = o.sealWaitMs ?? 5000;
    this.maxWaiting = o.maxWaiting ?? 1024;
    this.window = BigInt(o.window ?? 4096);
  }

  /** One MQTT message from a service topic: what it decided (records it freed, or this one's fate). Never throws. */
  receive(topic: string, bytes: Uint8Array): ServiceDataOutcome[] {
    const source = parseServiceTopic(topic);
    if (source === undefined) return [this.count({ kind: 'malformed', topic, detail: 'not a service topic' })];
    const decoded = serviceMessageLiteCodec.tryDecode(bytes);
    if (!decoded.ok) return [this.count({ kind: 'malformed', topic, detail: decoded.error.detail })];
    const verifier = this.verifierOf(source);
    if (verifier === undefined) return [this.count({ ...source, kind: 'unknown-device' })];
    const kind = decoded.message.kind;
    if (kind.case === 'record') {
      const r = kind.value;
      if (r.seq === 0n) return [this.count({ kind: 'malformed', topic, detail: 'record numbered 0' })];
      const w: Waiting = { boot: r.boot, seq: r.seq, digest: this.backend.sha256(bytes), payload: r.payload, at: this.o.now() };
      return this.record(source, this.state(source), w);
    }
    if (kind.case === 'seal') return this.seal(source, verifier, kind.value);
    return [this.count({ kind: 'malformed', topic, detail: 'neither a record nor a seal' })];
  }

  /** Reports the records whose seal did not come within `sealWaitMs`. */
  expire(): ServiceDataOutcome[] {
    const out: ServiceDataOutcome[] = [];
    const limit = this.o.now() - this.sealWaitMs;
    for (const [key, st] of this.streams) {
      const source = sourceOfKey(key);
      const stale = st.waiting.filter((w) => w.at <= limit);
      if (stale.length === 0) continue;
      st.waiting = st.waiting.filter((w) => w.at > limit);
      for (const w of stale) out.push(this.unsealed(source, w));
    }
    return out;
  }

  /** Records waiting for a seal, all streams. */
  get waiting(): number {
    let n = 0;
    for (const st of this.streams.values()) n += st.waiting.length;
    return n;
  }

  private record(source: ServiceSource, st: StreamState, w: Waiting): ServiceDataOutcome[] {
    if (st.boot >= 0n && w.boot < st.boot) return [this.count({ ...source, kind: 'replayed', boot: w.boot, seq: w.seq })];
    const listed = w.boot === st.boot ? st.sealed.get(w.seq) : undefined;
    if (listed !== undefined) return [this.judge(source, st, w, listed)];
    st.waiting.push(w);
    if (st.waiting.length > this.maxWaiting) return [this.unsealed(source, st.waiting.shift()!)];
    return [];
  }

  private seal(source: ServiceSource, verifier: Verifier, env: SignedEnvelope): ServiceDataOutcome[] {
    // What `open` (actors/tickets) checks, on the envelope the message decoder already read.
    const context = SIGNATURE_CONTEXT.serviceSeal;
    if (env.context !== context) return [this.forged(source, 'bad-seal', `context is not ${context}`)];
    if (!bytesEqual(env.signerKeyId, verifier.keyId))
      return [this.forged(source, 'bad-seal', 'signed by another key than the enrolled one')];
    if (env.signature.length !== SIGNATURE_LENGTH || !verifyInContext(verifier, context, env.payload, env.signature))
      return [this.forged(source, 'bad-seal', 'the signature does not verify')];
    const decoded = serviceSealLiteCodec.tryDecode(env.payload);
    if (!decoded.ok) return [this.forged(source, 'bad-seal', `signed but undecodable: ${decoded.error.detail}`)];
    const s = decoded.message;
    if (s.deviceId !== source.deviceId || s.service !== source.service || s.stream !== source.stream)
      return [this.forged(source, 'wrong-source', `sealed for ${s.deviceId}/${s.service}/${s.stream}`)];
    const count = s.recordDigests.length / RECORD_DIGEST_BYTES;
    if (s.firstSeq === 0n || !Number.isInteger(count) || count === 0 || count > SEAL_MAX_RECORDS)
      return [this.forged(source, 'bad-seal', 'a seal lists 1-256 digests of 32 bytes from number 1 on')];
    this.counters.seals++;
    const st = this.state(source);
    if (st.boot >= 0n && s.boot < st.boot) return [this.count({ ...source, kind: 'replayed', boot: s.boot, seq: s.firstSeq })];
    if (s.boot > st.boot) {
      st.boot = s.boot;
      st.high = 0n;
      st.seen.clear();
      st.sealed.clear();
    }
    for (let i = 0; i < count; i++)
      st.sealed.set(s.firstSeq + BigInt(i), s.recordDigests.subarray(i * RECORD_DIGEST_BYTES, (i + 1) * RECORD_DIGEST_BYTES));
    const newest = s.firstSeq + BigInt(count - 1);
    for (const seq of st.sealed.keys()) if (seq + this.window < newest) st.sealed.delete(seq);
    // Free what this seal settles, in number order; older boots' records can never be sealed now.
    const out: ServiceDataOutcome[] = [];
    const keep: Waiting[] = [];
    for (const w of [...st.waiting].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))) {
      if (w.boot < st.boot) out.push(this.count({ ...source, kind: 'replayed', boot: w.boot, seq: w.seq }));
      else if (w.boot === st.boot && st.sealed.has(w.seq)) out.push(this.judge(source, st, w, st.sealed.get(w.seq)!));
      else keep.push(w);
    }
    st.waiting = keep;
    return out;
  }

  /** A record whose number a verified seal listed: genuine if the digests agree, then new, late or again. */
  private judge(source: ServiceSource, st: StreamState, w: Waiting, listed: Uint8Array): ServiceDataOutcome {
    if (!bytesEqual(listed, w.digest)) return this.forged(source, 'digest-mismatch', `record ${w.boot}/${w.seq} is not the one sealed`);
    if (st.seen.has(w.seq) || w.seq + this.window <= st.high) return this.count({ ...source, kind: 'replayed', boot: w.boot, seq: w.seq });
    st.seen.add(w.seq);
    if (w.seq < st.high) return this.count({ ...source, kind: 'out-of-order', boot: w.boot, seq: w.seq });
    st.high = w.seq;
    for (const seq of st.seen) if (seq + this.window <= st.high) st.seen.delete(seq);
    return this.count({ ...source, kind: 'ok', boot: w.boot, seq: w.seq, payload: w.payload });
  }

  private unsealed(source: ServiceSource, w: Waiting): ServiceDataOutcome {
    return this.forged(source, 'unsealed', `no seal named record ${w.boot}/${w.seq}`);
  }

  private forged(source: ServiceSource, reason: ForgedReason, detail: string): ServiceDataOutcome {
    return this.count({ ...source, kind: 'forged', reason, detail });
  }

  private count(outcome: ServiceDataOutcome): ServiceDataOutcome {
    this.counters[outcome.kind]++;
    return outcome;
  }

  private verifierOf(source: ServiceSource): Verifier | undefined {
    const id = `${source.deviceId}/${source.service}`;
    const known = this.verifiers.get(id);
    if (known !== undefined) return known;
    const key = this.o.keyOf(source.deviceId, source.service);
    if (key === undefined) return undefined;
    let verifier: Verifier;
    try {
      verifier = this.backend.verifier(key);
    } catch {
      return undefined; // an enrolled key that is not one: nothing can verify against it
    }
    this.verifiers.set(id, verifier);
    return verifier;
  }

  private state(source: ServiceSource): StreamState {
    const key = keyOf(source);
    let st = this.streams.get(key);
    if (st === undefined) {
      st = { boot: -1n, high: 0n, seen: new Set(), sealed: new Map(), waiting: [] };
      this.streams.set(key, st);
    }
    return st;
  }
}

const keyOf = (s: ServiceSource): string => `${s.deviceId}/${s.service}/${s.stream}`;
const sourceOfKey = (key: string): ServiceSource => {
  const [deviceId, service, stream] = key.split('/') as [string, string, string];
  return { deviceId, service, stream };
};

/** `dominion/v1/service/<service>/<device>/<stream>` → its parts; `undefined` for any other topic. */
export function parseServiceTopic(topic: string): ServiceSource | undefined {
  const prefix = `${TOPIC_PREFIX}/service/`;
  if (!topic.startsWith(prefix)) return undefined;
  const parts = topic.slice(prefix.length).split('/');
  if (parts.length !== 3 || parts.some((p) => p.length === 0 || p.includes('+') || p.includes('#'))) return undefined;
  const [service, deviceId, stream] = parts as [string, string, string];
  return { deviceId, service, stream };
}
