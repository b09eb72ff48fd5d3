/**
 * Bounded protobuf decoding for untrusted bytes.
 *
 * Every frame that crosses a trust-domain boundary or arrives from the network goes through
 * `decodeBounded` (or a `protoCodec` built on it):
 *
 * - **Size first.** Input longer than the caller's `maxBytes` is rejected *before* any parsing.
 * - **Nesting is bounded by the schema.** No dominion.v1 message is recursive (the deepest path is
 *   TicketRequest → RuntimeInfo → DomainReport → ActorReport, four levels), so legitimate input
 *   cannot nest deeper than that. `RECURSION_LIMIT` additionally caps how deep the parser will
 *   descend while *skipping* unknown group fields, which junk could otherwise nest arbitrarily.
 * - **No unknown fields.** `readUnknownFields: false`: fields the schema does not know are skipped and
 *   dropped, so junk cannot ride along inside a message and be re-encoded onward.
 * - **No aliasing.** The input is copied before parsing; decoded `bytes` fields are views into that
 *   private copy, never into the caller's (possibly reused) frame buffer.
 * - **One error type.** Every failure is a `ProtoDecodeError` with a code: `oversized`, `malformed`
 *   (the protobuf parser rejected the bytes), or `invalid` (not a byte array, or the decoded message
 *   failed the semantic check given as `validate`).
 *
 * Note what the protobuf layer cannot catch: bytes cut at a field boundary still parse (as a message
 * with fewer fields set). Signatures over the exact payload and `validate.ts` catch that.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { ProtoDecodeError, ProtoEncodeError } from './errors.ts';
import type { ValidationProblem } from './validate.ts';

export { ProtoDecodeError, ProtoEncodeError, type ProtoDecodeErrorCode } from './errors.ts';

/**
 * The shape the runtime's channels take as a message codec. Structurally identical to the runtime's
 * own interface, so a `protoCodec` can be passed to a channel without either side importing the other.
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

/** Decodes `bytes` as `schema`, returning a result instead of throwing ProtoDecodeError. */
export function tryDecodeBounded<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  maxBytes: number,
  options: DecodeOptions<MessageShape<Desc>> = {},
): DecodeResult<MessageShape<Desc>> {
  checkLimit(maxBytes);
  const typeName = schema.typeName;
  if (!isByteArray(bytes)) {
    return fail(new ProtoDecodeError('invalid', typeName, `expected a Uint8Array, got ${describeValue(bytes)}`));
  }
  if (bytes.byteLength > maxBytes) {
    return fail(new ProtoDecodeError('oversized', typeName, `${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`));
  }
  let message: MessageShape<Desc>;
  try {
    message = fromBinary(schema, options.copyInput === false ? bytes : bytes.slice(), {
      readUnknownFields: false,
      recursionLimit: RECURSION_LIMIT,
    });
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

/**
 * Decodes `bytes` as `schema`, rejecting input longer than `maxBytes` before parsing.
 * Throws ProtoDecodeError (and nothing else) for any bad input; throws RangeError for a bad `maxBytes`.
 */
export function decodeBounded<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  maxBytes: number,
  options: DecodeOptions<MessageShape<Desc>> = {},
): MessageShape<Desc> {
  const result = tryDecodeBounded(schema, bytes, maxBytes, options);
  if (!result.ok) throw result.error;
  return result.message;
}

/** A MessageCodec for one protobuf message type, with its frame limit and optional validator. */
export interface ProtoCodec<Desc extends DescMessage> extends MessageCodec<MessageShape<Desc>> {
  readonly schema: Desc;
  readonly maxBytes: number;
  /** Like `decode`, but returns a result instead of throwing. */
  tryDecode(bytes: Uint8Array): DecodeResult<MessageShape<Desc>>;
}

/**
 * Builds the codec a channel uses for one message type. `name` is the protobuf type name
 * (`$typeName`). `decode` throws ProtoDecodeError; `encode` throws ProtoEncodeError when the encoding
 * exceeds `maxBytes` (the receiver would reject it anyway). Validation, if given, runs on decode only.
 */
export function protoCodec<Desc extends DescMessage>(
  schema: Desc,
  maxBytes: number,
  options: DecodeOptions<MessageShape<Desc>> = {},
): ProtoCodec<Desc> {
  checkLimit(maxBytes);
  const typeName = schema.typeName;
  return {
    name: typeName,
    schema,
    maxBytes,
    encode(msg: MessageShape<Desc>): Uint8Array {
      const bytes = toBinary(schema, msg);
      if (bytes.byteLength > maxBytes) throw new ProtoEncodeError(typeName, bytes.byteLength, maxBytes);
      return bytes;
    },
    decode(bytes: Uint8Array): MessageShape<Desc> {
      return decodeBounded(schema, bytes, maxBytes, options);
    },
    tryDecode(bytes: Uint8Array): DecodeResult<MessageShape<Desc>> {
      return tryDecodeBounded(schema, bytes, maxBytes, options);
    },
  };
}

function checkLimit(maxBytes: number): void {
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
