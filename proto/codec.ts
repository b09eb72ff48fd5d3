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
 *
 * These rules live in bounded.ts (`decodeChecked`), shared with the table-driven codecs of
 * lite-wire.ts / lite-messages.ts, which decode the same bytes to the same messages without the
 * protobuf runtime.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { checkLimit, decodeChecked, RECURSION_LIMIT, type BoundedCodec, type DecodeOptions, type DecodeResult } from './bounded.ts';
import { ProtoEncodeError } from './errors.ts';

export { ProtoDecodeError, ProtoEncodeError, type ProtoDecodeErrorCode } from './errors.ts';
export { RECURSION_LIMIT, type BoundedCodec, type DecodeOptions, type DecodeResult, type MessageCodec } from './bounded.ts';

/** Decodes `bytes` as `schema`, returning a result instead of throwing ProtoDecodeError. */
export function tryDecodeBounded<Desc extends DescMessage>(
  schema: Desc,
  bytes: Uint8Array,
  maxBytes: number,
  options: DecodeOptions<MessageShape<Desc>> = {},
): DecodeResult<MessageShape<Desc>> {
  return decodeChecked(
    schema.typeName,
    bytes,
    maxBytes,
    (b) => fromBinary(schema, b, { readUnknownFields: false, recursionLimit: RECURSION_LIMIT }),
    options,
  );
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
export interface ProtoCodec<Desc extends DescMessage> extends BoundedCodec<MessageShape<Desc>> {
  readonly schema: Desc;
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
