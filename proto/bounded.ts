/**
 * The rules of bounded decoding (codec.ts), apart from any parser: the generated codecs
 * (`decodeBounded`, `protoCodec`) and the table-driven ones of lite-wire.ts both decode through
 * `decodeChecked`, so size-first, the input copy, the error codes and validation are written once.
 * Imports no protobuf runtime, so a bundle that uses only the table-driven codecs carries none.
 */
import { ProtoDecodeError } from './errors.ts';
import { FrameArena } from '../runtime/arena.ts';
import type { ValidationProblem } from './validate.ts';

/**
 * The shape the runtime's channels take as a message codec. Structurally identical to the runtime's
 * own interface, so a codec can be passed to a channel without either side importing the other.
 */
export interface MessageCodec<T> {
  readonly name: string;
  encode(msg: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** How deep the parser may nest (messages and skipped groups). The schema itself needs 4. */
export const RECURSION_LIMIT = 8;

export type DecodeResult<T> = { readonly ok: true; readonly message: T } | { readonly ok: false; readonly error: ProtoDecodeError };

export interface DecodeOptions<T> {
  /** Semantic check run after a successful parse; any problem makes the decode fail with `invalid`. */
  readonly validate?: (msg: T) => readonly ValidationProblem[];
  /**
   * Copy the input before parsing (default true), so decoded `bytes` fields never alias a buffer the
   * caller may reuse. Runtime channel frames are owned by their receiver and never reused (see
   * runtime/arena.ts), so channel codecs skip the copy: it costs as much as a small decode.
   */
  readonly copyInput?: boolean;
}

/** A codec for one message type with its frame limit: what `protoCodec` and `liteCodec` both build. */
export interface BoundedCodec<T> extends MessageCodec<T> {
  readonly maxBytes: number;
  /** Like `decode`, but returns a result instead of throwing. */
  tryDecode(bytes: Uint8Array): DecodeResult<T>;
}

/**
 * Decodes `bytes` as `typeName` with `parse`: refuses anything but a byte array (`invalid`) and input
 * longer than `maxBytes` (`oversized`) before `parse` sees a byte, turns whatever `parse` throws into
 * `malformed`, then runs `options.validate` (`invalid`). Throws RangeError for a bad `maxBytes`.
 */
export function decodeChecked<T>(
  typeName: string,
  bytes: Uint8Array,
  maxBytes: number,
  parse: (bytes: Uint8Array) => T,
  options: DecodeOptions<T> = {},
): DecodeResult<T> {
  checkLimit(maxBytes);
  if (!isByteArray(bytes)) {
    return fail(new ProtoDecodeError('invalid', typeName, `expected a Uint8Array, got ${describeValue(bytes)}`));
  }
  if (bytes.byteLength > maxBytes) {
    return fail(new ProtoDecodeError('oversized', typeName, `${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`));
  }
  let message: T;
  try {
    message = parse(options.copyInput === false ? bytes : copies.copy(bytes));
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return fail(new ProtoDecodeError('malformed', typeName, `${reason} (${bytes.byteLength} bytes)`, [], { cause }));
  }
  if (options.validate !== undefined) {
    const problems = options.validate(message);
    if (problems.length > 0) {
      const listed = problems.map((p) => `${p.field}: ${p.problem}`).join('; ');
      return fail(new ProtoDecodeError('invalid', typeName, listed, problems));
    }
  }
  return { ok: true, message };
}

/** Input copies: views never reused (runtime/arena.ts), a fresh backing store cost more than a decode. */
const copies = new FrameArena();

/** Throws RangeError unless `maxBytes` is a positive safe integer. */
export function checkLimit(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new RangeError(`maxBytes must be a positive integer, got ${String(maxBytes)}`);
  }
}

function isByteArray(value: unknown): value is Uint8Array {
  // Buffer is a Uint8Array; the tag check also admits Uint8Arrays from another realm (vm, worker).
  return value instanceof Uint8Array || Object.prototype.toString.call(value) === '[object Uint8Array]';
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  try {
    return (value as { constructor?: { name?: unknown } }).constructor?.name?.toString() ?? 'object';
  } catch {
    return 'object';
  }
}

function fail<T>(error: ProtoDecodeError): DecodeResult<T> {
  return { ok: false, error };
}
