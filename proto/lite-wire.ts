/**
 * A small table-driven protobuf codec for the dominion.v1 messages the device domains sign and check
 * (the tables are in lite-messages.ts). `sw` and the hypervisor's AWDTs use it instead of the
 * protobuf runtime, whose reflection and descriptors would be most of `sw`'s bundle.
 *
 * It behaves exactly like the code @bufbuild/protobuf generates for these messages, malformed input
 * included: `toBinaryLite` writes the same bytes as `toBinary`, `fromBinaryLite` returns the same
 * message as `fromBinary` (with `readUnknownFields: false` and `RECURSION_LIMIT`) and throws for the
 * same inputs, and `createLite` builds what `create` does. test/proto/lite-messages.test.ts checks
 * the tables against the generated descriptors and both directions with property tests.
 *
 * Covered: what dominion.v1 uses — proto3 implicit-presence string, bytes, bool, uint32, uint64 and
 * open enums; singular and repeated message fields; oneofs of messages. Unknown fields are skipped
 * (groups too, within the recursion limit) and never kept. Like the generated code, a known field is
 * read by its declared type whatever its wire type, and a nested message may run past its declared
 * length: neither is refused there, and neither may be here.
 */
import type { Message, MessageInitShape } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import { checkLimit, decodeChecked, RECURSION_LIMIT, type BoundedCodec, type DecodeOptions, type DecodeResult } from './bounded.ts';
import { ProtoEncodeError } from './errors.ts';
import { FrameArena } from '../runtime/arena.ts';

/** Scalar kinds (`ENUM` is an open enum: any int32 is kept). */
export const STRING = 1;
export const BYTES = 2;
export const BOOL = 3;
export const UINT32 = 4;
export const UINT64 = 5;
export const ENUM = 6;
export type LiteScalar = typeof STRING | typeof BYTES | typeof BOOL | typeof UINT32 | typeof UINT64 | typeof ENUM;

/**
 * One field: its number, its TypeScript (local) name, its kind (a scalar, or the table of a message
 * type), and optionally the oneof it belongs to (its local name) or `true` for a repeated field.
 * A table lists its fields in field-number order.
 */
export type LiteField = readonly [no: number, name: string, kind: LiteScalar | LiteMessage, oneofOrRepeated?: string | true];

/** A message type's table; `T` is the generated type its messages have. */
export interface LiteMessage<T extends Message = Message> {
  readonly typeName: T['$typeName'];
  readonly fields: readonly LiteField[];
  /** Never set: carries `T` for type inference. */
  readonly shape?: T;
}

/** What `createLite` takes: the init shape `create` takes for the generated schema. */
export type LiteInit<T extends Message> = MessageInitShape<GenMessage<T>>;

/** Declares a message type's table. */
export function liteMessage<T extends Message>(typeName: T['$typeName'], fields: readonly LiteField[]): LiteMessage<T> {
  return { typeName, fields };
}

// The generated code's names for these failures, so a refusal reads the same from either codec.
const EOF = 'premature EOF';

type Fields = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// create

const zero = (kind: LiteScalar): unknown =>
  kind === STRING ? '' : kind === BYTES ? new Uint8Array(0) : kind === BOOL ? false : kind === UINT64 ? 0n : 0;

/** An init value as a field's value: a message made from a plain object, bytes from an array. */
function convert(kind: LiteScalar | LiteMessage, value: unknown): unknown {
  if (typeof kind === 'object')
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? createLite(kind, value as LiteInit<Message>) : value;
  return kind === BYTES && Array.isArray(value) ? new Uint8Array(value) : value;
}

/** Like `create(schema, init)`: a message of `schema`'s type, with zero values where `init` has none. */
export function createLite<T extends Message>(schema: LiteMessage<T>, init?: LiteInit<T>): T {
  const from = init as Fields | undefined;
  if (from != null && typeof from === 'object' && from.$typeName === schema.typeName) return from as T;
  const m: Fields = { $typeName: schema.typeName };
  for (const [, name, kind, extra] of schema.fields) {
    if (typeof extra === 'string') {
      if (extra in m) continue; // the oneof was filled at its first member
      const v = from?.[extra];
      const member = v?.case != null ? schema.fields.find((f) => f[1] === v.case && f[3] === extra) : undefined;
      m[extra] = member ? { case: v.case, value: convert(member[2], v.value) } : { case: undefined };
    } else {
      const v = from?.[name];
      if (extra) m[name] = Array.isArray(v) ? v.map((x) => convert(kind, x)) : (v ?? []);
      else if (v != null) m[name] = convert(kind, v);
      else if (typeof kind !== 'object') m[name] = zero(kind);
    }
  }
  return m as T;
}

// ---------------------------------------------------------------------------------------------
// encode

const utf8 = new TextEncoder();

/**
 * One growable buffer; a length-delimited value is written first and its length put before it.
 * Every encode writes into the same scratch buffer (an encode runs to its end synchronously, and
 * starts at 0) and hands out a copy carved from an arena (runtime/arena.ts): two fresh backing stores
 * an encode cost more than the encoding of a ticket reply.
 */
class Writer {
  buf = scratch;
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf);
    this.buf = next;
    if (next.length <= SCRATCH_MAX) scratch = next;
  }

  varint32(v: number): void {
    this.ensure(5);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  varint64(v: bigint): void {
    this.ensure(10);
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  raw(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  string(s: string): void {
    // Ids, instances and contexts are short ASCII: length byte and characters written in place, with
    // no view for encodeInto and no shift for the length (a hub writes five such strings a reply).
    const n = s.length;
    if (n < 0x80) {
      this.ensure(n + 1);
      const at = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        this.buf[at + i] = c;
      }
      if (i === n) {
        this.buf[this.pos] = n;
        this.pos = at + n;
        return;
      }
    }
    this.ensure(s.length * 3); // UTF-8 takes at most three bytes per UTF-16 unit (a lone surrogate: U+FFFD)
    const start = this.pos;
    this.pos += utf8.encodeInto(s, this.buf.subarray(start)).written;
    this.prefixLength(start);
  }

  /** Puts the length of what was written since `start` before it, as a varint. */
  prefixLength(start: number): void {
    let len = this.pos - start;
    const n = len < 0x80 ? 1 : len < 0x4000 ? 2 : len < 0x200000 ? 3 : len < 0x10000000 ? 4 : 5;
    this.ensure(n);
    this.buf.copyWithin(start + n, start, this.pos);
    this.pos += n;
    for (; len > 0x7f; len >>>= 7) this.buf[start++] = (len & 0x7f) | 0x80;
    this.buf[start] = len;
  }

  finish(): Uint8Array {
    return encoded.copy(this.buf.subarray(0, this.pos));
  }
}

/** The largest scratch buffer kept between encodes (a bigger message grows a buffer of its own). */
const SCRATCH_MAX = 64 * 1024;
let scratch = new Uint8Array(1024);
const encoded = new FrameArena();

/** The field being written, for errors: `schema.typeName` and the field's name. */
type Label = readonly [LiteMessage, string];

/** Throws the generated writer's error for a value out of its field's range. */
function invalid([schema, name]: Label, what: string, value: unknown): never {
  throw new Error(`cannot encode field ${schema.typeName}.${name} to binary: invalid ${what}: ${String(value)}`);
}

/** A 32-bit integer in [min, max] (the generated writer's assertion; a numeric string passes), as a number. */
function int(label: Label, value: unknown, what: string, min: number, max: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : invalid(label, what, value);
}

/** Zero values of implicit-presence fields are not written (the generated code's test, per type). */
function isZero(kind: LiteScalar, v: unknown): boolean {
  switch (kind) {
    case STRING:
      return v === '';
    case BYTES:
      return v instanceof Uint8Array && v.byteLength === 0;
    case BOOL:
      return v === false;
    case ENUM:
      return v === 0;
    default:
      return v == 0; // loose, as generated: 0, 0n and "0" are all zero
  }
}

/** Writes one field's tag and value; `label` names the field in errors. */
function writeValue(w: Writer, no: number, kind: LiteScalar | LiteMessage, v: unknown, label: Label): void {
  if (typeof kind === 'object') {
    w.varint32((no << 3) | 2);
    const start = w.pos;
    writeMessage(w, kind, v === undefined ? createLite(kind) : (v as Fields));
    return w.prefixLength(start);
  }
  w.varint32((no << 3) | (kind === STRING || kind === BYTES ? 2 : 0));
  switch (kind) {
    case STRING:
      return w.string(typeof v === 'string' ? v : String(v));
    case BYTES: {
      const b = v instanceof Uint8Array ? v : invalid(label, 'bytes', v);
      w.varint32(b.byteLength);
      return w.raw(b);
    }
    case BOOL:
      return w.varint32(v ? 1 : 0);
    case UINT32:
      return w.varint32(int(label, v, 'uint32', 0, 0xffffffff));
    case ENUM: {
      const n = int(label, v, 'int32', -0x80000000, 0x7fffffff);
      return n >= 0 ? w.varint32(n) : w.varint64(BigInt.asUintN(64, BigInt(n))); // negative: ten bytes
    }
    case UINT64: {
      let n: bigint;
      try {
        n = typeof v === 'bigint' ? v : BigInt(v as string | number);
      } catch {
        return invalid(label, 'uint64', v);
      }
      return n < 0n || n > 0xffffffffffffffffn ? invalid(label, 'uint64', v) : w.varint64(n);
    }
  }
}

/**
 * Like `toBinary(schema, msg)`: the same bytes. Throws, like it, for a message of another type or a
 * value outside its field's type.
 */
export function toBinaryLite<T extends Message>(schema: LiteMessage<T>, msg: T): Uint8Array {
  const w = new Writer();
  writeMessage(w, schema, msg as Fields);
  return w.finish();
}

function writeMessage(w: Writer, schema: LiteMessage, m: Fields): void {
  if (m.$typeName !== schema.typeName) throw new Error(`cannot encode ${String(m.$typeName)} as ${schema.typeName}`);
  for (const [no, name, kind, extra] of schema.fields) {
    const label: Label = [schema, name];
    if (typeof extra === 'string') {
      if (m[extra].case === name) writeValue(w, no, kind, m[extra].value, label);
    } else if (extra) {
      for (const v of m[name] as unknown[]) writeValue(w, no, kind, v, label);
    } else if (typeof kind === 'object' ? m[name] !== undefined && Object.hasOwn(m, name) : !isZero(kind, m[name])) {
      writeValue(w, no, kind, m[name], label);
    }
  }
  for (const u of (m.$unknown ?? []) as readonly { no: number; wireType: number; data: Uint8Array }[]) {
    w.varint32(((u.no << 3) | u.wireType) >>> 0);
    w.raw(u.data);
  }
}

// ---------------------------------------------------------------------------------------------
// decode

// proto3 strings are checked UTF-8; a leading U+FEFF is text, not a byte-order mark.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.buf.length) throw new RangeError(EOF);
    return this.buf[this.pos++]!;
  }

  /** A varint of at most ten bytes, truncated to 64 bits. */
  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.byte();
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, v);
    }
    throw new Error('invalid varint');
  }

  /** A varint (at most ten bytes) truncated to 32 bits. */
  u32(): number {
    let v = 0;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      if (i < 5) v += (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) return v % 2 ** 32;
    }
    throw new Error('invalid varint');
  }

  tag(): [no: number, wireType: number] {
    const start = this.pos;
    const tag = this.u32();
    const read = this.pos - start;
    if (read > 5 || (read === 5 && this.buf[this.pos - 1]! > 0x0f)) throw new Error('illegal tag: varint overflows uint32');
    const no = tag >>> 3;
    const wireType = tag & 7;
    if (no <= 0 || wireType > 5) throw new Error(`illegal tag: field no ${no} wire type ${wireType}`);
    return [no, wireType];
  }

  take(n: number): Uint8Array {
    if (n > this.buf.length - this.pos) throw new RangeError(EOF);
    return this.buf.subarray(this.pos, (this.pos += n));
  }

  /** Skips an unknown field; `budget` is how many groups deep it may still go. */
  skip(wireType: number, no: number, budget: number): void {
    switch (wireType) {
      case 0:
        while (this.byte() & 0x80); // any length, as generated
        return;
      case 1:
        this.take(8);
        return;
      case 2:
        this.take(this.u32());
        return;
      case 5:
        this.take(4);
        return;
      case 3:
        if (budget <= 0) throw new Error('maximum recursion depth reached');
        for (;;) {
          const [n, w] = this.tag();
          if (w === 4) {
            if (n !== no) throw new Error('invalid end group tag');
            return;
          }
          this.skip(w, n, budget - 1);
        }
      default:
        throw new Error(`cant skip wire type ${wireType}`);
    }
  }
}

function readScalar(r: Reader, kind: LiteScalar): unknown {
  switch (kind) {
    case STRING:
      return utf8Strict.decode(r.take(r.u32()));
    case BYTES:
      return r.take(r.u32());
    case BOOL:
      return r.varint() !== 0n;
    case UINT32:
      return r.u32();
    case ENUM:
      return r.u32() | 0;
    case UINT64:
      return r.varint();
  }
}

function readMessage(r: Reader, schema: LiteMessage, m: Fields, depth: number, end: number): void {
  if (depth > RECURSION_LIMIT)
    throw new Error(`cannot decode ${schema.typeName} from binary: maximum recursion depth of ${RECURSION_LIMIT} reached`);
  while (r.pos < end) {
    const [no, wireType] = r.tag();
    const field = schema.fields.find((f) => f[0] === no);
    if (field === undefined) {
      r.skip(wireType, no, RECURSION_LIMIT - depth);
      continue;
    }
    const [, name, kind, extra] = field;
    let v: unknown;
    if (typeof kind === 'object') {
      // A message field met twice merges into the first, as protobuf requires (a oneof: if the same case).
      const prev = typeof extra === 'string' ? (m[extra].case === name ? m[extra].value : undefined) : extra ? undefined : m[name];
      v = prev ?? createLite(kind);
      const length = r.u32();
      readMessage(r, kind, v as Fields, depth + 1, r.pos + length);
    } else v = readScalar(r, kind);
    if (typeof extra === 'string') m[extra] = { case: name, value: v };
    else if (extra) m[name].push(v);
    else m[name] = v;
  }
}

/** Like `fromBinary(schema, bytes, { readUnknownFields: false, recursionLimit: RECURSION_LIMIT })`. Bytes fields are views into `bytes`. */
export function fromBinaryLite<T extends Message>(schema: LiteMessage<T>, bytes: Uint8Array): T {
  const m = createLite(schema);
  readMessage(new Reader(bytes), schema, m as Fields, 1, bytes.byteLength);
  return m;
}

// ---------------------------------------------------------------------------------------------
// codec

/** A bounded codec over a table, like `protoCodec` over a generated schema. */
export interface LiteProtoCodec<T extends Message> extends BoundedCodec<T> {
  readonly schema: LiteMessage<T>;
}

/**
 * Like `protoCodec(schema, maxBytes, options)`: `decode` throws ProtoDecodeError (`oversized` before
 * parsing, `malformed`, `invalid` with the validator's problems), `encode` throws ProtoEncodeError
 * for an encoding over `maxBytes`.
 */
export function liteCodec<T extends Message>(schema: LiteMessage<T>, maxBytes: number, options: DecodeOptions<T> = {}): LiteProtoCodec<T> {
  checkLimit(maxBytes);
  const typeName = schema.typeName;
  const tryDecode = (bytes: Uint8Array): DecodeResult<T> =>
    decodeChecked(typeName, bytes, maxBytes, (b) => fromBinaryLite(schema, b), options);
  return {
    name: typeName,
    schema,
    maxBytes,
    encode(msg: T): Uint8Array {
      const bytes = toBinaryLite(schema, msg);
      if (bytes.byteLength > maxBytes) throw new ProtoEncodeError(typeName, bytes.byteLength, maxBytes);
      return bytes;
    },
    decode(bytes: Uint8Array): T {
      const result = tryDecode(bytes);
      if (!result.ok) throw result.error;
      return result.message;
    },
    tryDecode,
  };
}
