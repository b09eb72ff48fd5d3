/**
 * The hypervisor's seal on a service's outbound data (docs/ARCHITECTURE.md §3.1, docs/PROTOCOL.md
 * "Sealed service data"). It sits on the one path from `sm:<service>` to `mm` — in one process the
 * service's channel end hands its frames here instead of to `mm`'s end, in `process` placement the
 * hypervisor's frame relay does — so every frame the service publishes passes it exactly once, and
 * `mm` only ever sees what it wrote:
 *
 * - each ServiceFrame's payload becomes a numbered ServiceRecord (boot, seq per stream), and `mm`
 *   gets that instead; the record's SHA-256 is kept;
 * - now and then (at once when the stream was quiet for `sealEveryMs`, else every `sealEveryMs` or
 *   every `maxRecords` records) a ServiceSeal listing those digests is signed with K_SM_<service>
 *   and sent on the same stream. Each seal lists the previous seal's records again, so one lost seal
 *   loses no record's proof.
 *
 * Hashing each record and signing a few seals costs far less than a signature per record (bench/
 * RESULTS.md, "Sealed service data"). The work runs on the caller's turn — the service's send in one
 * process — so a busy service pays for its own sealing, not the hypervisor's actors.
 */
import { checkFrame, FRAME_HEADER_BYTES, frameLength, writeFrame, type Clock, type ClockHandle } from '../../runtime/index.ts';
import {
  createLite,
  lite,
  SEAL_MAX_RECORDS,
  SERVICE_PAYLOAD_MAX,
  ServiceSealLite,
  SIGNATURE_CONTEXT,
  toBinaryLite,
  topics,
  type ChannelContract,
} from '../../proto/index.ts';
import { nodeBackend, type Signer } from '../crypto/index.ts';
import { seal } from '../tickets/index.ts';

export type FrameOutcome = 'ok' | 'closed' | 'full';

export interface SealerCounters {
  /** Records handed to `mm`. */
  records: number;
  /** Seals handed to `mm`. */
  seals: number;
  /** Frames `mm`'s end refused (full or closed): the service's send fails, no number is used. */
  refused: number;
  /** Seals `mm`'s end refused: tried again later, with the newer records. */
  sealsRefused: number;
  /** Dropped: not a ServiceFrame, undecodable, a bad stream name, or too many streams. */
  malformed: number;
  /** Dropped: a payload over SERVICE_PAYLOAD_MAX. */
  oversized: number;
}

export interface ServiceSealerOptions {
  /** The mm–sm channel of this service (its frame types and limit). */
  readonly contract: ChannelContract;
  readonly deviceId: string;
  readonly service: string;
  /** The device's boot count (sw's boot record): records of a later boot are newer. */
  readonly boot: number;
  /** K_SM_<service>. */
  readonly signer: Signer;
  readonly sha256: (bytes: Uint8Array) => Uint8Array;
  readonly clock: Clock;
  /** Hands a frame to `mm`'s end of the channel. */
  readonly toMm: (frame: Uint8Array) => FrameOutcome;
  /** New records per seal at most (default 64; a seal lists up to twice this, `SEAL_MAX_RECORDS` at most). */
  readonly maxRecords?: number;
  /** A record waits at most this long for its seal while the stream is busy (default 20 ms). */
  readonly sealEveryMs?: number;
  /** Streams per service at most (default 64): a stream's numbering must outlive its quiet spells. */
  readonly maxStreams?: number;
}

interface StreamState {
  readonly name: string;
  /** The last number given out. */
  seq: number;
  /** Records `mm` took and not yet hashed, in order: the newest pending ones (see `fromService`). */
  unhashed: Uint8Array[];
  /** Digests of records not yet in a seal that `mm` took, then `unhashed`, from `seq - pending - unhashed + 1`. */
  pending: Uint8Array[];
  /** Digests of the last seal's new records (listed again by the next seal), from `previousFirst`. */
  previous: Uint8Array[];
  previousFirst: number;
  lastSealAt: number;
  timer: ClockHandle | undefined;
}

const EMPTY = new Uint8Array(0);

export class ServiceSealer {
  readonly counters: SealerCounters = { records: 0, seals: 0, refused: 0, sealsRefused: 0, malformed: 0, oversized: 0 };
  private readonly streams = new Map<string, StreamState>();
  private readonly frameType: number;
  private readonly maxRecords: number;
  private readonly sealEveryMs: number;
  private readonly maxStreams: number;
  private readonly boot: bigint;
  private stopped = false;

  constructor(private readonly o: ServiceSealerOptions) {
    this.frameType = o.contract.types.findIndex((t) => t.name === lite.serviceFrame.name);
    if (this.frameType < 0) throw new Error(`channel ${o.contract.name} carries no ServiceFrame`);
    this.maxRecords = Math.min(o.maxRecords ?? 64, SEAL_MAX_RECORDS / 2);
    this.sealEveryMs = o.sealEveryMs ?? 20;
    this.maxStreams = o.maxStreams ?? 64;
    this.boot = BigInt(o.boot);
  }

  /** A frame from the service, bound for `mm`: sealed, then handed on. What `mm`'s end said is the answer. */
  fromService(frame: Uint8Array): FrameOutcome {
    if (this.stopped) return 'closed';
    const typeId = checkFrame(this.o.contract.name, frame, this.o.contract.maxFrameBytes);
    if (typeId !== this.frameType) return this.drop('malformed');
    let msg: { stream: string; payload: Uint8Array };
    try {
      msg = lite.serviceFrame.decode(frame.subarray(FRAME_HEADER_BYTES));
    } catch {
      return this.drop('malformed');
    }
    if (msg.payload.length > SERVICE_PAYLOAD_MAX) return this.drop('oversized');
    const st = this.stream(msg.stream);
    if (st === undefined) return this.drop('malformed');
    const seq = st.seq + 1;
    // The record is written straight into mm's frame and hashed there: one copy of the payload.
    const size = recordLength(this.boot, seq, msg.payload.length);
    const stream = st.name; // ASCII: a topic segment
    const body = 1 + varintSize(stream.length) + stream.length + 1 + varintSize(size) + size;
    // Not zeroed: every byte is written below. A fresh buffer per record — mm and MQTT.js hold it until
    // the broker's PUBACK, and this sealer until it is hashed.
    const out = writeFrame(allocFrame(frameLength(body)), this.frameType, EMPTY);
    let at = FRAME_HEADER_BYTES;
    out[at++] = 0x0a; // ServiceFrame.stream
    at = writeVarint(out, at, stream.length);
    for (let i = 0; i < stream.length; i++) out[at++] = stream.charCodeAt(i);
    out[at++] = 0x12; // ServiceFrame.payload
    at = writeVarint(out, at, size);
    encodeRecordInto(out, at, this.boot, seq, msg.payload, size);
    const outcome = this.o.toMm(out);
    if (outcome !== 'ok') {
      this.counters.refused++;
      return outcome;
    }
    st.seq = seq;
    this.counters.records++;
    // Hashed when sealed, not here: the record leaves for mm first, and while the stream is busy the
    // hashing runs on a later turn, after mm has written this burst to the broker — off the path each
    // record takes to its reader (bench/RESULTS.md, "Sealed service data"). The bytes are the sealer's
    // own buffer, which neither the service nor anything downstream writes to.
    st.unhashed.push(out.subarray(at, at + size));
    const now = this.o.clock.now();
    const waiting = st.pending.length + st.unhashed.length;
    if (st.timer === undefined && now - st.lastSealAt >= this.sealEveryMs)
      this.flush(st); // quiet: at once
    else if (waiting >= 2 * this.maxRecords)
      this.flush(st); // outrunning the turns: bounds what is held
    else if (waiting >= this.maxRecords)
      this.arm(st, now); // a full batch: on the next turn
    else if (st.timer === undefined) this.arm(st, st.lastSealAt + this.sealEveryMs);
    return 'ok';
  }

  /** Seals what is pending on every stream now (e.g. before a planned stop). */
  flushAll(): void {
    for (const st of this.streams.values()) this.flush(st);
  }

  /** No more frames; pending timers are cancelled. */
  stop(): void {
    this.stopped = true;
    for (const st of this.streams.values()) if (st.timer !== undefined) this.o.clock.cancel(st.timer);
  }

  private stream(name: string): StreamState | undefined {
    const known = this.streams.get(name);
    if (known !== undefined) return known;
    if (this.streams.size >= this.maxStreams) return undefined;
    try {
      topics.serviceOut(this.o.service, this.o.deviceId, name); // the same rule mm's topic needs
    } catch {
      return undefined;
    }
    const st: StreamState = {
      name,
      seq: 0,
      unhashed: [],
      pending: [],
      previous: [],
      previousFirst: 1,
      lastSealAt: -Infinity,
      timer: undefined,
    };
    this.streams.set(name, st);
    return st;
  }

  /** The stream's seal is due at `atMs` (or earlier, if it already was). */
  private arm(st: StreamState, atMs: number): void {
    if (st.timer !== undefined) {
      if (st.timer.atMs <= atMs) return;
      this.o.clock.cancel(st.timer);
    }
    st.timer = this.o.clock.schedule(atMs, () => {
      st.timer = undefined;
      if (!this.stopped) this.flush(st);
    });
  }

  /** Seals what is pending, `maxRecords` new records a seal. */
  private flush(st: StreamState): void {
    if (st.timer !== undefined) {
      this.o.clock.cancel(st.timer);
      st.timer = undefined;
    }
    for (const record of st.unhashed) st.pending.push(this.o.sha256(record));
    st.unhashed = [];
    while (st.pending.length > 0) if (!this.sealBatch(st)) return;
  }

  /** One seal: the previous seal's records again, then up to `maxRecords` pending ones. False: mm refused it. */
  private sealBatch(st: StreamState): boolean {
    const pendingFirst = st.seq - st.pending.length + 1;
    const batch = st.pending.length > this.maxRecords ? st.pending.slice(0, this.maxRecords) : st.pending;
    const digests = [...st.previous, ...batch];
    const firstSeq = st.previous.length > 0 ? st.previousFirst : pendingFirst;
    const payload = toBinaryLite(
      ServiceSealLite,
      createLite(ServiceSealLite, {
        deviceId: this.o.deviceId,
        service: this.o.service,
        stream: st.name,
        boot: this.boot,
        firstSeq: BigInt(firstSeq),
        recordDigests: concat(digests),
      }),
    );
    const envelope = seal(this.o.signer, SIGNATURE_CONTEXT.serviceSeal, payload);
    st.lastSealAt = this.o.clock.now();
    const outcome = this.o.toMm(this.frame(st.name, wrapSeal(envelope)));
    if (outcome !== 'ok') {
      // Kept pending and tried again with what comes next (or soon, if mm is only full); past the
      // seal's limit the oldest go unproven. A closed mm takes nothing until the next record.
      this.counters.sealsRefused++;
      if (st.pending.length > this.maxRecords) {
        st.pending.splice(0, st.pending.length - this.maxRecords);
        st.previous = []; // a seal's digests are consecutive records: the gap ends the repetition
      }
      if (outcome === 'full') this.arm(st, st.lastSealAt + this.sealEveryMs);
      return false;
    }
    this.counters.seals++;
    st.previous = batch;
    st.previousFirst = pendingFirst;
    st.pending = batch === st.pending ? [] : st.pending.slice(batch.length);
    return true;
  }

  /** A ServiceFrame carrying `message` on `stream`, as mm's end expects it. */
  private frame(stream: string, message: Uint8Array): Uint8Array {
    const msg = { stream, payload: message };
    const out = writeFrame(new Uint8Array(frameLength(lite.serviceFrame.encodedSize(msg))), this.frameType, EMPTY);
    lite.serviceFrame.encodeInto(msg, out.subarray(FRAME_HEADER_BYTES));
    return out;
  }

  private drop(why: 'malformed' | 'oversized'): FrameOutcome {
    this.counters[why]++;
    return 'ok'; // taken and dropped, as mm drops a frame it cannot decode
  }
}

/**
 * A frame's bytes, not zeroed (zeroing 32 KiB costs more than copying it): the caller writes every one.
 * A plain Uint8Array view, so that `slice` downstream copies as everywhere else.
 */
function allocFrame(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A sealer signing with the K_SM seed `key` (node backend, as the hypervisor's AWDTs). */
export function serviceSealer(o: Omit<ServiceSealerOptions, 'signer' | 'sha256'> & { readonly key: Uint8Array }): ServiceSealer {
  const crypto = nodeBackend();
  return new ServiceSealer({ ...o, signer: crypto.signer(o.key), sha256: (b) => crypto.sha256(b) });
}

function varintSize(n: bigint | number): number {
  if (typeof n === 'number' && n < 0x80000000) {
    let size = 1;
    while (n >= 0x80) {
      n >>>= 7;
      size++;
    }
    return size;
  }
  let v = BigInt(n);
  let size = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, at: number, n: bigint | number): number {
  let v = BigInt(n);
  while (v >= 0x80n) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

/** The encoded size of ServiceMessage{record: ServiceRecord{boot, seq, payload}}. */
function recordLength(boot: bigint, seq: number, payloadBytes: number): number {
  const inner = recordInner(boot, seq, payloadBytes);
  return 1 + varintSize(inner) + inner;
}

function recordInner(boot: bigint, seq: number, payloadBytes: number): number {
  return (
    (boot === 0n ? 0 : 1 + varintSize(boot)) +
    (seq === 0 ? 0 : 1 + varintSize(seq)) +
    (payloadBytes === 0 ? 0 : 1 + varintSize(payloadBytes) + payloadBytes)
  );
}

/**
 * Writes ServiceMessage{record: ServiceRecord{boot, seq, payload}} (`size` bytes, `recordLength`) at
 * `at`, byte for byte what the generated code writes (test/service-data/seal.test.ts); proto3 leaves
 * out zero fields.
 */
function encodeRecordInto(out: Uint8Array, at: number, boot: bigint, seq: number, payload: Uint8Array, size: number): void {
  const inner = recordInner(boot, seq, payload.length);
  if (1 + varintSize(inner) + inner !== size) throw new Error('record size mismatch');
  out[at++] = 0x0a; // field 1 (record), length-delimited
  at = writeVarint(out, at, inner);
  if (boot !== 0n) {
    out[at++] = 0x08; // field 1 (boot), varint
    at = writeVarint(out, at, boot);
  }
  if (seq !== 0) {
    out[at++] = 0x10; // field 2 (seq), varint
    at = writeVarint(out, at, seq);
  }
  if (payload.length > 0) {
    out[at++] = 0x1a; // field 3 (payload), length-delimited
    at = writeVarint(out, at, payload.length);
    out.set(payload, at);
  }
}

/** ServiceMessage{record: ServiceRecord{boot, seq, payload}}: what mm publishes for one payload. */
export function encodeRecord(boot: bigint, seq: number, payload: Uint8Array): Uint8Array {
  const size = recordLength(boot, seq, payload.length);
  const out = new Uint8Array(size);
  encodeRecordInto(out, 0, boot, seq, payload, size);
  return out;
}

/** ServiceMessage{seal: <the encoded SignedEnvelope>}. */
function wrapSeal(envelope: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintSize(envelope.length) + envelope.length);
  out[0] = 0x12; // field 2 (seal), length-delimited
  out.set(envelope, writeVarint(out, 1, envelope.length));
  return out;
}
