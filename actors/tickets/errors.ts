/** Why a signed frame on the ticket path was refused. Never carries key, nonce or ticket bytes. */
export type TicketErrorCode =
  | 'malformed-envelope' // not a decodable, well-formed SignedEnvelope
  | 'wrong-context' // signed for another message kind
  | 'unknown-signer' // key id not pinned / not enrolled
  | 'bad-signature'
  | 'malformed-payload' // the signed payload does not decode or validate
  | 'wrong-device'
  | 'wrong-instance'
  | 'wrong-nonce' // answers none of the outstanding nonces
  | 'no-outstanding-nonce' // nothing was requested, or the nonce was already used
  | 'too-late' // arrived after the deadline had passed
  | 'flood'; // more replies to check than the AWDT's signature budget: dropped unchecked

export class TicketError extends Error {
  override readonly name = 'TicketError';
  constructor(
    readonly code: TicketErrorCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}
