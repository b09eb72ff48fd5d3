/** Typed failures of `dominion build`. Messages never carry key bytes. */

export type BuildErrorCode = 'budget' | 'isolation' | 'no-entry' | 'bundle' | 'release-key' | 'bad-option' | 'bad-service';

/** The build could not produce a board's artifacts; nothing was written to dist. */
export class BuildError extends Error {
  override readonly name = 'BuildError';
  constructor(
    readonly code: BuildErrorCode,
    message: string,
  ) {
    super(message);
  }
}
