/**
 * The protocol's decode and encode errors, apart from the protobuf runtime so that code which only
 * needs the errors (the hand-written `lite` codecs of `mm`) does not pull @bufbuild/protobuf in.
 */
import type { ValidationProblem } from './validate.ts';

export type ProtoDecodeErrorCode = 'oversized' | 'malformed' | 'invalid';

/** Bytes that could not be decoded into the expected message type. */
export class ProtoDecodeError extends Error {
  override readonly name = 'ProtoDecodeError';
  constructor(
    readonly code: ProtoDecodeErrorCode,
    /** The fully qualified protobuf type that was expected, e.g. `dominion.v1.TicketRequest`. */
    readonly typeName: string,
    /** What was wrong, without the type name. */
    readonly detail: string,
    /** For `invalid` after decoding: the problems the validator found. */
    readonly problems: readonly ValidationProblem[] = [],
    options?: { cause?: unknown },
  ) {
    super(`cannot decode ${typeName}: ${code}: ${detail}`, options);
  }
}

/** A message whose encoding exceeds the codec's limit; raised by `encode` so the receiver never has to. */
export class ProtoEncodeError extends Error {
  override readonly name = 'ProtoEncodeError';
  constructor(
    readonly typeName: string,
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`cannot encode ${typeName}: ${size} bytes exceeds the limit of ${maxBytes}`);
  }
}
