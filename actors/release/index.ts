/**
 * The door to `actors/release/`: a board's signed artifacts as a device receives them — the manifest
 * format, the release key's signature over it, and the check a device runs before it loads a byte.
 */
export {
  bundleFile,
  encodeManifest,
  labelOfBundle,
  sha512Hex,
  verifyArtifacts,
  verifyManifest,
  verifyReleaseImage,
  verifySignedDocument,
  BOARD_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  PUBLIC_KEY_FILE,
  SIGNATURE_FILE,
  type Manifest,
  type ManifestFile,
  type ManifestSignature,
  type ReleaseImage,
  type VerifiedImage,
  type VerifiedArtifacts,
} from './manifest.ts';
export { ArtifactError, type ArtifactErrorCode } from './errors.ts';
