/**
 * A hand-written protobuf wire codec for the flat channel messages of channel.proto (two fields: a
 * string and, optionally, bytes). `mm` uses it instead of the protobuf runtime so its bundle stays
 * small; it is wire-compatible with the generated code (test/proto/lite.test.ts).
 *
 * Decoding is bounded: the frame size is checked first, lengths are checked against what remains,
 * unknown fields are skipped (never kept), groups and bad wire types are refused.
 */
import type { MessageCodec } from './codec.ts';
import { ProtoDecodeError } from './errors.ts';

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Bytes of a string field's value, without allocating for the common ASCII case. */
function stringBytes(s: string): number {
  return isAscii(s) ? s.length : utf8.encode(s).length;
}

function fieldSize(valueBytes: number): number {
  return valueBytes === 0 ? 0 : 1 + varintSize(valueBytes) + valueBytes; // proto3: empty means absent
}

function writeString(out: Uint8Array, at: number, fieldNo: number, s: string): number {
  if (s.length === 0) return at;
  out[at++] = (fieldNo << 3) | WIRE_LEN;
  if (isAscii(s)) {
    at = writeVarint(out, at, s.length);
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
    return at;
  }
  const b = utf8.encode(s);
  at = writeVarint(out, at, b.length);
  out.set(b, at);
  return at + b.length;
}

function writeBytes(out: Uint8Array, at: number, fieldNo: number, b: Uint8Array): number {
  if (b.length === 0) return at;
  out[at++] = (fieldNo << 3) | WIRE_LEN;
  at = writeVarint(out, at, b.length);
  out.set(b, at);
  return at + b.length;
}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly typeName: string,
  ) {}
  fail(detail: string): never {
    throw new ProtoDecodeError('malformed', this.typeName, `${detail} at byte ${this.pos} of ${this.buf.length}`);
  }
  varint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (n > Number.MAX_SAFE_INTEGER) this.fail('varint too large');
        return n;
      }
      mul *= 128;
    }
    this.fail('varint longer than 10 bytes');
  }
  take(n: number): Uint8Array {
    if (n > this.buf.length - this.pos) this.fail(`length ${n} runs past the end`);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_I64) this.take(8);
    else if (wireType === WIRE_LEN) this.take(this.varint());
    else if (wireType === WIRE_I32) this.take(4);
    else this.fail(`unsupported wire type ${wireType}`); // groups (3, 4) and junk (6, 7)
  }
}

/** A flat message of one string field (1) and optionally one bytes field (2). */
interface FlatShape<S extends string, B extends string> {
  readonly typeName: string;
  readonly stringField: S;
  readonly bytesField?: B;
  readonly maxBytes: number;
}

export interface LiteCodec<T> extends MessageCodec<T> {
  readonly maxBytes: number;
  encodedSize(msg: T): number;
  /** Writes exactly `encodedSize(msg)` bytes into `out`. */
  encodeInto(msg: T, out: Uint8Array): void;
}

type Flat<S extends string, B extends string> = { [K in S]: string } & { [K in B]: Uint8Array };

function flatCodec<S extends string, B extends string>(shape: FlatShape<S, B>): LiteCodec<Flat<S, B>> {
  const { typeName, stringField, bytesField, maxBytes } = shape;
  const codec: LiteCodec<Flat<S, B>> = {
    name: typeName,
    maxBytes,
    encodedSize(msg) {
      const s = fieldSize(stringBytes(msg[stringField] as string));
      return bytesField === undefined ? s : s + fieldSize((msg[bytesField] as Uint8Array).length);
    },
    encodeInto(msg, out) {
      const at = writeString(out, 0, 1, msg[stringField] as string);
      if (bytesField !== undefined) writeBytes(out, at, 2, msg[bytesField] as Uint8Array);
    },
    encode(msg) {
      const out = new Uint8Array(codec.encodedSize(msg));
      codec.encodeInto(msg, out);
      return out;
    },
    decode(bytes) {
      if (bytes.length > maxBytes)
        throw new ProtoDecodeError('oversized', typeName, `${bytes.length} bytes exceeds the limit of ${maxBytes}`);
      const r = new Reader(bytes, typeName);
      let str = '';
      let bin: Uint8Array = new Uint8Array(0);
      while (r.pos < bytes.length) {
        const tag = r.varint();
        const fieldNo = Math.floor(tag / 8);
        const wireType = tag & 7;
        if (fieldNo === 0) r.fail('field number 0');
        if (fieldNo === 1 && wireType === WIRE_LEN) {
          try {
            str = utf8Strict.decode(r.take(r.varint()));
          } catch (e) {
            if (e instanceof ProtoDecodeError) throw e;
            r.fail(`field ${stringField} is not valid UTF-8`);
          }
        } else if (fieldNo === 2 && bytesField !== undefined && wireType === WIRE_LEN) {
          bin = r.take(r.varint());
        } else if (fieldNo <= 2 && (fieldNo === 1 || bytesField !== undefined)) {
          r.fail(`field ${fieldNo} has wire type ${wireType}, expected length-delimited`);
        } else {
          r.skip(wireType);
        }
      }
      const out: Record<string, string | Uint8Array> = { [stringField]: str };
      if (bytesField !== undefined) out[bytesField] = bin;
      return out as Flat<S, B>;
    },
  };
  return codec;
}

/** Frame limits: an envelope is at most a TicketRequest-sized payload plus signature and header. */
const ENVELOPE_FRAME_MAX = 64 * 1024 + 1024;

export type ProxyRequestLite = { instance: string };
export type ProxyEnvelopeLite = { instance: string; envelope: Uint8Array };
export type ServiceFrameLite = { stream: string; payload: Uint8Array };
export type ServiceRefusedLite = { stream: string };
export type ServiceResumeLite = Record<string, never>;
export type BootGrantedLite = Record<string, never>;

/** mm → service ServiceFrames carry traffic from the service's hub on this stream. */
export const SERVICE_INBOUND_STREAM = 'in';

/** A message with no fields: encodes to nothing, decodes by skipping whatever fields it meets. */
function emptyCodec(typeName: string, maxBytes: number): LiteCodec<ServiceResumeLite> {
  const codec: LiteCodec<ServiceResumeLite> = {
    name: typeName,
    maxBytes,
    encodedSize: () => 0,
    encodeInto: () => {},
    encode: () => new Uint8Array(0),
    decode(bytes) {
      if (bytes.length > maxBytes)
        throw new ProtoDecodeError('oversized', typeName, `${bytes.length} bytes exceeds the limit of ${maxBytes}`);
      const r = new Reader(bytes, typeName);
      while (r.pos < bytes.length) {
        const tag = r.varint();
        if (tag >>> 3 === 0) r.fail('field number 0');
        r.skip(tag & 7);
      }
      return {};
    },
  };
  return codec;
}

export const lite = {
  proxyRequest: flatCodec({ typeName: 'dominion.v1.ProxyRequest', stringField: 'instance', maxBytes: 128 }) as LiteCodec<ProxyRequestLite>,
  proxyEnvelope: flatCodec({
    typeName: 'dominion.v1.ProxyEnvelope',
    stringField: 'instance',
    bytesField: 'envelope',
    maxBytes: ENVELOPE_FRAME_MAX,
  }) as LiteCodec<ProxyEnvelopeLite>,
  serviceFrame: flatCodec({
    typeName: 'dominion.v1.ServiceFrame',
    stringField: 'stream',
    bytesField: 'payload',
    maxBytes: 64 * 1024,
  }) as LiteCodec<ServiceFrameLite>,
  serviceRefused: flatCodec({
    typeName: 'dominion.v1.ServiceRefused',
    stringField: 'stream',
    maxBytes: 128,
  }) as LiteCodec<ServiceRefusedLite>,
  serviceResume: emptyCodec('dominion.v1.ServiceResume', 64),
  bootGranted: emptyCodec('dominion.v1.BootGranted', 64) as LiteCodec<BootGrantedLite>,
} as const;
