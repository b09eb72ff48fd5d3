/** Typed failures of artifact verification. Messages never carry key bytes. */

export type ArtifactErrorCode =
  /** A file the manifest needs (or the manifest itself, or its signature) is not there. */
  | 'missing'
  /** The manifest or its signature file is not in the expected format. */
  | 'malformed'
  /** The manifest is signed by another key than the pinned release key. */
  | 'wrong-key'
  /** The manifest does not verify against its signature: the manifest or the signature was changed. */
  | 'bad-signature'
  /** A file's size or SHA-512 differs from the manifest: the file was changed. */
  | 'digest-mismatch';

/** Artifacts that must not be run: `file` names the offending file (relative to the artifact dir). */
export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
  constructor(
    readonly code: ArtifactErrorCode,
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}
