/**
 * The signed manifest of a board's artifacts (docs/ARCHITECTURE.md §5): its format, and how a device
 * verifies it. `dominion build` writes and signs it (build/sign.ts).
 *
 * `manifest.json` lists every artifact — the domain bundles, the board profile they were built for
 * and the systemd unit — with its size and SHA-512. `manifest.sig` holds an Ed25519 signature by
 * the release key over the exact bytes of `manifest.json`, in the signature context
 * `dominion/v1/manifest` (so no other signed dominion message can pass for a manifest). Signing
 * raw bytes needs no JSON canonicalisation; the build writes the JSON in a fixed key order anyway,
 * so the same inputs give the same bytes.
 *
 * `verifyArtifacts` checks the signature against the *pinned* release key before it reads anything
 * the manifest says, then every file's size and digest, and returns the verified bytes: a runner
 * should load exactly those bytes (not re-read the files), so nothing can change between the check
 * and the load.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, CONTEXTS, fromHex, hex, nodeBackend, verifyInContext, type SignatureContext } from '../crypto/index.ts';
import type { DomainKind } from '../../boards/index.ts';
import { ArtifactError } from './errors.ts';

export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';
/** The board profile the artifacts were built for. */
export const BOARD_FILE = 'board.json';
/** The release public key, for provisioning; not listed in the manifest and never trusted by a device. */
export const PUBLIC_KEY_FILE = 'release-key.pub';
export const MANIFEST_FORMAT = 'dominion-manifest/2';

export interface ManifestFile {
  /** Bundles only: the domain kind it is the image of, and for `sm` the service. */
  readonly domain?: DomainKind;
  readonly service?: string;
  /**
   * Bundles only: the domain's release version, a positive integer that only ever grows for a
   * domain; a device refuses one below the lowest it has committed (docs/ARCHITECTURE.md §5).
   */
  readonly version?: number;
  /** Bundles only: when the release was issued, in ms since the Unix epoch; never decreases with version. */
  readonly issuedAt?: number;
  readonly bytes: number;
  /** Lower-case hex SHA-512 of the file. */
  readonly sha512: string;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly board: string;
  /** The firmware version (package version) the artifacts were built from. */
  readonly version: string;
  /** esbuild's Node target for the bundles. */
  readonly target: string;
  /** By file name (no directories), sorted. */
  readonly files: Readonly<Record<string, ManifestFile>>;
}

export interface ManifestSignature {
  readonly context: string;
  readonly algorithm: 'ed25519';
  /** Key id of the release key (first 16 bytes of SHA-512 of its public key), hex. */
  readonly keyId: string;
  readonly signature: string;
}

/** The exact bytes of `manifest.json`: keys in a fixed order, files sorted, two-space indent. */
export function encodeManifest(m: Manifest): Uint8Array {
  const files: Record<string, ManifestFile> = {};
  for (const name of Object.keys(m.files).sort()) {
    const f = m.files[name]!;
    files[name] = {
      ...(f.domain !== undefined ? { domain: f.domain } : {}),
      ...(f.service !== undefined ? { service: f.service } : {}),
      ...(f.version !== undefined ? { version: f.version } : {}),
      ...(f.issuedAt !== undefined ? { issuedAt: f.issuedAt } : {}),
      bytes: f.bytes,
      sha512: f.sha512,
    };
  }
  const ordered = { format: m.format, board: m.board, version: m.version, target: m.target, files };
  return new TextEncoder().encode(`${JSON.stringify(ordered, null, 2)}\n`);
}

export function sha512Hex(bytes: Uint8Array): string {
  return hex(nodeBackend().sha512(bytes));
}

/** The bundle file of a domain label: `sw` → sw.mjs, `sm:<service>` → sm-<service>.mjs. */
export function bundleFile(label: string): string {
  return `${label.replace(':', '-')}.mjs`;
}

/** The domain label of a bundle file: sm-<service>.mjs → `sm:<service>`, sw.mjs → `sw`. */
export function labelOfBundle(file: string): string {
  const name = file.replace(/\.mjs$/, '');
  return name.startsWith('sm-') ? `sm:${name.slice(3)}` : name;
}

export interface VerifiedArtifacts {
  readonly dir: string;
  readonly manifest: Manifest;
  /** SHA-512 of `manifest.json`: what `sw` reports as the manifest it booted from. */
  readonly manifestDigest: Uint8Array;
  /** The exact bytes of `manifest.json` and `manifest.sig`, as verified (what a slot keeps). */
  readonly manifestBytes: Uint8Array;
  readonly signature: Uint8Array;
  /** Every file the manifest lists, as verified. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function read(dir: string, file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(join(dir, file)));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArtifactError(
      'missing',
      file,
      code === 'ENOENT' ? `not found in ${dir}` : `cannot be read (${code ?? (e as Error).message})`,
    );
  }
}

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new ArtifactError('malformed', file, `is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Checks `docBytes` against its signature file (`{context, algorithm, keyId, signature}`) made by the
 * pinned release key in `context`: the manifest, and an install archive's PACK.json (build/pack.ts).
 * Throws ArtifactError naming `docFile` or `sigFile`; returns only when the signature verifies.
 */
export function verifySignedDocument(
  docBytes: Uint8Array,
  signatureBytes: Uint8Array,
  releasePublicKey: Uint8Array,
  context: SignatureContext,
  docFile: string,
  sigFile: string,
): void {
  const release = nodeBackend().verifier(releasePublicKey);
  const sig = parseJson(signatureBytes, sigFile) as Partial<ManifestSignature> | null;
  if (
    sig === null ||
    typeof sig !== 'object' ||
    sig.context !== context ||
    sig.algorithm !== 'ed25519' ||
    typeof sig.keyId !== 'string' ||
    !/^[0-9a-f]{32}$/.test(sig.keyId) ||
    typeof sig.signature !== 'string' ||
    !/^[0-9a-f]{128}$/.test(sig.signature)
  ) {
    throw new ArtifactError(
      'malformed',
      sigFile,
      `must be {context: "${context}", algorithm: "ed25519", keyId, signature} in lower-case hex`,
    );
  }
  if (!bytesEqual(fromHex(sig.keyId), release.keyId)) {
    throw new ArtifactError('wrong-key', docFile, `is signed by key ${sig.keyId}, not by the pinned release key ${hex(release.keyId)}`);
  }
  if (!verifyInContext(release, context, docBytes, fromHex(sig.signature))) {
    throw new ArtifactError(
      'bad-signature',
      docFile,
      `does not match its signature in ${sigFile}: ${docFile} or its signature was changed`,
    );
  }
}

/**
 * Checks a manifest's bytes against its signature and the pinned release key, then its shape: throws
 * ArtifactError, and reads nothing the manifest says before the signature verifies.
 */
export function verifyManifest(manifestBytes: Uint8Array, signatureBytes: Uint8Array, releasePublicKey: Uint8Array): Manifest {
  verifySignedDocument(manifestBytes, signatureBytes, releasePublicKey, CONTEXTS.manifest, MANIFEST_FILE, SIGNATURE_FILE);

  // Signed by the release key: from here on the manifest says what the artifacts are.
  const manifest = parseJson(manifestBytes, MANIFEST_FILE) as Manifest;
  if (
    manifest === null ||
    typeof manifest !== 'object' ||
    manifest.format !== MANIFEST_FORMAT ||
    typeof manifest.board !== 'string' ||
    manifest.files === null ||
    typeof manifest.files !== 'object'
  ) {
    throw new ArtifactError('malformed', MANIFEST_FILE, `is not a ${MANIFEST_FORMAT} manifest`);
  }
  for (const [name, entry] of Object.entries(manifest.files)) {
    if (!SAFE_NAME.test(name) || name === MANIFEST_FILE || name === SIGNATURE_FILE)
      throw new ArtifactError('malformed', MANIFEST_FILE, `lists an unacceptable file name ${JSON.stringify(name)}`);
    if (typeof entry?.sha512 !== 'string' || !/^[0-9a-f]{128}$/.test(entry.sha512) || !Number.isSafeInteger(entry.bytes)) {
      throw new ArtifactError('malformed', MANIFEST_FILE, `entry for ${name} needs bytes and a hex sha512`);
    }
    if (
      entry.domain !== undefined &&
      !(Number.isSafeInteger(entry.version) && entry.version! >= 1 && Number.isSafeInteger(entry.issuedAt) && entry.issuedAt! >= 0)
    ) {
      throw new ArtifactError('malformed', MANIFEST_FILE, `bundle ${name} needs a version (a positive integer) and issuedAt`);
    }
  }
  return manifest;
}

/** One domain's image as a release ships it: its bundle and the signed manifest that lists it. */
export interface ReleaseImage {
  readonly manifest: Uint8Array;
  readonly signature: Uint8Array;
  readonly bundle: Uint8Array;
}

/** A release image that verified: what it is, and the digests a device reports and a hub checks. */
export interface VerifiedImage {
  readonly label: string;
  readonly board: string;
  readonly version: number;
  readonly issuedAt: number;
  /** SHA-512 of the bundle. */
  readonly digest: Uint8Array;
  /** SHA-512 of the manifest's bytes. */
  readonly manifestDigest: Uint8Array;
  readonly manifest: Manifest;
}

/**
 * Verifies one domain's image (`label`: `sw`, `hypervisor`, `mm`, `sm:<service>`) against the pinned
 * release key: the manifest's signature, its board, then the bundle's size and SHA-512.
 */
export function verifyReleaseImage(image: ReleaseImage, label: string, releasePublicKey: Uint8Array, board?: string): VerifiedImage {
  const manifest = verifyManifest(image.manifest, image.signature, releasePublicKey);
  if (board !== undefined && manifest.board !== board)
    throw new ArtifactError('malformed', MANIFEST_FILE, `is for board ${manifest.board}, not ${board}`);
  const file = bundleFile(label);
  const entry = manifest.files[file];
  const domain = label.startsWith('sm:') ? 'sm' : label;
  if (entry === undefined || entry.domain !== domain) throw new ArtifactError('missing', file, `is not listed in ${MANIFEST_FILE}`);
  const backend = nodeBackend();
  const digest = backend.sha512(image.bundle);
  if (image.bundle.length !== entry.bytes || !bytesEqual(digest, fromHex(entry.sha512))) {
    const how =
      image.bundle.length !== entry.bytes ? `${image.bundle.length} bytes, the manifest says ${entry.bytes}` : 'its SHA-512 differs';
    throw new ArtifactError('digest-mismatch', file, `does not match the signed manifest (${how}): tampered or corrupt`);
  }
  return {
    label,
    board: manifest.board,
    version: entry.version!,
    issuedAt: entry.issuedAt!,
    digest,
    manifestDigest: backend.sha512(image.manifest),
    manifest,
  };
}

/**
 * Checks `dir` against the pinned release public key: the manifest's signature, then every listed
 * file's size and SHA-512. Throws ArtifactError naming the first bad file; returns the verified
 * bytes of every listed file.
 */
export function verifyArtifacts(dir: string, releasePublicKey: Uint8Array): VerifiedArtifacts {
  const backend = nodeBackend();
  const manifestBytes = read(dir, MANIFEST_FILE);
  const signature = read(dir, SIGNATURE_FILE);
  const manifest = verifyManifest(manifestBytes, signature, releasePublicKey);
  const files = new Map<string, Uint8Array>();
  for (const [name, entry] of Object.entries(manifest.files)) {
    const bytes = read(dir, name);
    if (bytes.length !== entry.bytes || !bytesEqual(backend.sha512(bytes), fromHex(entry.sha512))) {
      throw new ArtifactError(
        'digest-mismatch',
        name,
        `does not match the signed manifest (its size or SHA-512 differs: ${bytes.length} bytes, the manifest says ${entry.bytes}): tampered or corrupt`,
      );
    }
    files.set(name, bytes);
  }
  return { dir, manifest, manifestDigest: backend.sha512(manifestBytes), manifestBytes, signature, files };
}
