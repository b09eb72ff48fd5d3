/**
 * An install archive's `PACK.json` and its check. PACK.json lists every other file of the archive
 * (relative to its one top folder) with size, SHA-512 and mode, and says what the archive is: board,
 * release version, the firmware version and Node target it was built for. `PACK.sig` is the release
 * key's signature over PACK.json's exact bytes, in the context `dominion/v1/pack`, in the same
 * format as `manifest.sig` (actors/release).
 */
import { bytesEqual, CONTEXTS, fromHex, nodeBackend } from '../actors/crypto/index.ts';
import { ArtifactError, sha512Hex, verifySignedDocument } from '../actors/release/index.ts';
import { PackError } from './pack-errors.ts';
import { safeRelativePath, type TarEntry } from './tar.ts';

export const PACK_FILE = 'PACK.json';
export const PACK_SIG_FILE = 'PACK.sig';
export const PACK_FORMAT = 'dominion-pack/1';

export interface PackFile {
  readonly bytes: number;
  readonly sha512: string;
  readonly mode: number;
}

export interface PackDoc {
  readonly format: typeof PACK_FORMAT;
  readonly board: string;
  /** The release version of the bundles it carries. */
  readonly version: number;
  /** The firmware (package) version they were built from. */
  readonly firmware: string;
  /** esbuild's Node target of the bundles and the runner (the board needs this Node or newer). */
  readonly target: string;
  /** The archive's top folder: `dominion-<board>-<version>`. */
  readonly top: string;
  /** The prefix the signed systemd unit names; an install under another prefix rewrites it. */
  readonly unitPrefix: string;
  /** Every file but PACK.json and PACK.sig, by path under `top`, sorted. */
  readonly files: Readonly<Record<string, PackFile>>;
}

/** The archive's file name. */
export function packFileName(board: string, version: number): string {
  return `dominion-${board}-${version}.tar.gz`;
}

/** PACK.json's exact bytes: fixed key order, files sorted. */
export function encodePack(doc: PackDoc): Uint8Array {
  const files: Record<string, PackFile> = {};
  for (const name of Object.keys(doc.files).sort()) {
    const f = doc.files[name]!;
    files[name] = { bytes: f.bytes, sha512: f.sha512, mode: f.mode };
  }
  const ordered = {
    format: doc.format,
    board: doc.board,
    version: doc.version,
    firmware: doc.firmware,
    target: doc.target,
    top: doc.top,
    unitPrefix: doc.unitPrefix,
    files,
  };
  return new TextEncoder().encode(`${JSON.stringify(ordered, null, 2)}\n`);
}

export function packEntry(bytes: Uint8Array, mode: number): PackFile {
  return { bytes: bytes.length, sha512: sha512Hex(bytes), mode };
}

/** A verified archive: what PACK.json says, and every listed file's bytes by path under `top`. */
export interface VerifiedPack {
  readonly doc: PackDoc;
  readonly docBytes: Uint8Array;
  readonly signature: Uint8Array;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/-]*$/;

/**
 * Checks an archive's entries against the pinned release key: one top folder, PACK.sig over
 * PACK.json (before anything PACK.json says is read), then exactly the files it lists, each of its
 * size and SHA-512. Throws PackError ('archive' or 'signature') with a one-line reason.
 */
export function verifyPack(entries: readonly TarEntry[], releasePublicKey: Uint8Array): VerifiedPack {
  const tops = new Set(entries.map((e) => e.path.split('/')[0]!));
  if (tops.size !== 1) throw new PackError('archive', `must hold one top folder, holds ${tops.size}`);
  const top = [...tops][0]!;
  const files = new Map<string, Uint8Array>();
  for (const e of entries)
    if (e.type === 'file') {
      const rel = e.path.slice(top.length + 1);
      if (rel === '' || files.has(rel)) throw new PackError('archive', `unexpected entry ${e.path}`);
      files.set(rel, e.bytes!);
    }
  const docBytes = files.get(PACK_FILE);
  const signature = files.get(PACK_SIG_FILE);
  if (docBytes === undefined || signature === undefined)
    throw new PackError('signature', `no ${docBytes === undefined ? PACK_FILE : PACK_SIG_FILE} in ${top}/: not a signed install archive`);
  try {
    verifySignedDocument(docBytes, signature, releasePublicKey, CONTEXTS.pack, PACK_FILE, PACK_SIG_FILE);
  } catch (e) {
    if (e instanceof ArtifactError) throw new PackError('signature', e.message);
    throw e;
  }
  // Signed by the release key: from here on PACK.json says what the archive is.
  let doc: PackDoc;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(docBytes)) as PackDoc;
  } catch (e) {
    throw new PackError('archive', `${PACK_FILE} is not valid JSON (${(e as Error).message})`);
  }
  if (
    doc?.format !== PACK_FORMAT ||
    typeof doc.board !== 'string' ||
    !/^[a-z0-9-]{1,64}$/.test(doc.board) ||
    !Number.isSafeInteger(doc.version) ||
    doc.version < 1 ||
    doc.top !== top ||
    typeof doc.unitPrefix !== 'string' ||
    !ABSOLUTE_PATH.test(doc.unitPrefix) ||
    doc.files === null ||
    typeof doc.files !== 'object'
  )
    throw new PackError('archive', `${PACK_FILE} is not a ${PACK_FORMAT} document for its top folder ${top}/`);
  const listed = new Set([PACK_FILE, PACK_SIG_FILE]);
  const backend = nodeBackend();
  for (const [name, entry] of Object.entries(doc.files)) {
    safeRelativePath(name);
    const bytes = files.get(name);
    if (bytes === undefined) throw new PackError('signature', `${name}: listed in ${PACK_FILE} but not in the archive`);
    if (
      typeof entry?.sha512 !== 'string' ||
      !/^[0-9a-f]{128}$/.test(entry.sha512) ||
      bytes.length !== entry.bytes ||
      !bytesEqual(backend.sha512(bytes), fromHex(entry.sha512))
    )
      throw new PackError(
        'signature',
        `${name}: does not match the signed ${PACK_FILE} (its size or SHA-512 differs): tampered or corrupt`,
      );
    if (!Number.isSafeInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o777)
      throw new PackError('archive', `${PACK_FILE}: bad mode for ${name}`);
    listed.add(name);
  }
  for (const name of files.keys())
    if (!listed.has(name)) throw new PackError('signature', `${name}: in the archive but not listed in the signed ${PACK_FILE}`);
  return { doc, docBytes, signature, files };
}
