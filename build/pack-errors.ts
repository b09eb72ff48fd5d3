/** Typed failures of `dominion pack` and `dominion install`. Messages never carry key bytes. */

export type PackErrorCode =
  /** The board's artifacts do not verify against the release key: no archive is made from them. */
  | 'artifacts'
  /** The archive is not a gzipped ustar of plain files, or not the shape of an install archive. */
  | 'archive'
  /** PACK.json does not verify against the release key, or a file differs from what it lists. */
  | 'signature'
  /** A bad option (prefix, version). */
  | 'bad-option'
  /** Laying the install out failed (a file system error, named). */
  | 'install';

export class PackError extends Error {
  override readonly name = 'PackError';
  constructor(
    readonly code: PackErrorCode,
    message: string,
  ) {
    super(message);
  }
}
