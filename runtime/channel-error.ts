export type ChannelErrorCode =
  | 'undeclared-type' // a type the channel does not carry
  | 'oversized' // a frame over the channel's maximum
  | 'truncated' // a frame shorter than its header or its declared length
  | 'undecodable' // the payload does not decode as the declared type
  | 'unrouted' // a declared type nobody on this side receives
  | 'receiver-full' // the receiving mailbox refused it
  | 'closed'; // the other side's domain is stopped

/** Why a channel refused a frame. Never carries the frame's bytes: they may hold a ticket. */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly code: ChannelErrorCode,
    readonly channel: string,
    detail: string,
  ) {
    super(`channel ${channel}: ${code}: ${detail}`);
  }
}

export const CHANNEL_ERROR_CODES: readonly ChannelErrorCode[] = [
  'undeclared-type',
  'oversized',
  'truncated',
  'undecodable',
  'unrouted',
  'receiver-full',
  'closed',
];
