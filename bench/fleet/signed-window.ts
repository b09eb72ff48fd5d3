/**
 * The messages between the simulator and its signing thread: the simulator asks for window k (the
 * sends planned in [k·W, (k+1)·W) ms of the run), the thread answers with every request of it signed,
 * packed in a few transferable arrays so that handing a window over copies nothing.
 */
export interface SignerSetup {
  readonly records: Uint8Array;
  readonly devices: number;
  readonly seed: number;
  readonly intervalMs: number;
  readonly scheduleSeed: number;
}

export interface WindowAsk {
  readonly window: number;
  readonly fromMs: number;
  readonly toMs: number;
}

export interface SignedWindow {
  readonly window: number;
  /** Device of request j. */
  readonly devices: Uint32Array;
  /** When request j is due (ms from the start of the run). */
  readonly atMs: Float64Array;
  /** Request j is bytes[offsets[j], offsets[j + 1]): a sealed TicketRequest. */
  readonly offsets: Uint32Array;
  readonly bytes: Uint8Array;
  /** Request j's nonce is nonces[32j, 32j + 32). */
  readonly nonces: Uint8Array;
  /** Time the thread spent building and signing this window (ms). */
  readonly signMs: number;
}

export type SignerReply = { readonly kind: 'ready'; readonly keyMs: number } | ({ readonly kind: 'window' } & SignedWindow);

export const NONCE_LENGTH = 32;
