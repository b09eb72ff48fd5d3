/** Why a board profile could not be loaded. The message always names the board and, if any, the field. */
export type BoardErrorCode = 'unknown-board' | 'invalid-board';

export class BoardError extends Error {
  override readonly name = 'BoardError';
  constructor(
    readonly code: BoardErrorCode,
    message: string,
    /** Dotted path of the offending field, e.g. `rpi4.domains.mm.heapMb`; absent for an unknown board. */
    readonly field?: string,
  ) {
    super(message);
  }
}
