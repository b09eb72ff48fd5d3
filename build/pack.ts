/**
 * `dominion pack --board <id>`: one signed, versioned archive that installs a board's device —
 * `dominion-<board>-<version>.tar.gz`, under one top folder `dominion-<board>-<version>/`:
 *
 *   bin/dominion-device.mjs     the bundled runner (build/runner.ts): needs only `node`
 *   dist/<board>/…              the build's files, exactly the bytes that verified
 *   dominion-<board>.service    the systemd unit (the one the manifest lists)
 *   board.json                  the board profile
 *   install.sh                  POSIX sh installer (build/install-script.ts)
 *   SHA512SUMS                  for install.sh's integrity check
 *   PACK.json  PACK.sig         every file above with size, SHA-512 and mode; signed by the release key
 *
 * Nothing is packed from artifacts that do not verify against the release key: either the board is
 * built here, or an existing dist/<board>/ must verify first. Where the files go: build/install-layout.ts.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { CONTEXTS, hex, nodeBackend } from '../actors/crypto/index.ts';
import {
  ArtifactError,
  BOARD_FILE,
  MANIFEST_FILE,
  PUBLIC_KEY_FILE,
  SIGNATURE_FILE,
  verifyArtifacts,
  type VerifiedArtifacts,
} from '../actors/release/index.ts';
import { loadBoard, validateBoard, type BoardProfile } from '../boards/index.ts';
import { buildBoard, PROJECT_ROOT } from './build.ts';
import { CHECKSUMS_FILE, INSTALL_SCRIPT, installLayout, unitName } from './install-layout.ts';
import { installScript } from './install-script.ts';
import { PackError } from './pack-errors.ts';
import { encodePack, PACK_FILE, PACK_FORMAT, PACK_SIG_FILE, packEntry, packFileName, type PackDoc, type PackFile } from './pack-format.ts';
import { DEV_KEY_FILE, devReleaseKey, readReleaseKey, type ReleaseKey } from './release-key.ts';
import { bundleRunner } from './runner.ts';
import { signDocument } from './sign.ts';
import { DEFAULT_LAYOUT, RUNNER_PATH } from './systemd.ts';
import { writeTarGz, type TarEntry } from './tar.ts';

export interface PackOptions {
  /** A shipped board id, or a profile. */
  readonly board: string | BoardProfile;
  /** Where the archive goes, and a build's `<id>/` (as `dominion build --out`); default `<root>/dist`. */
  readonly outDir?: string;
  /** Pack this existing `dist/<board>/` (it must verify) instead of building. */
  readonly artifacts?: string;
  /** A key or a seed file; default the development key, as `dominion build`. */
  readonly releaseKey?: ReleaseKey | string;
  /** Build as this release version; with `artifacts`, they must be it. */
  readonly releaseVersion?: number;
  readonly log?: (line: string) => void;
  readonly root?: string;
}

export interface PackResult {
  /** The archive's path. */
  readonly file: string;
  readonly doc: PackDoc;
  readonly releaseKey: { readonly publicKey: Uint8Array; readonly dev: boolean };
}

/** The one release version of every bundle a manifest lists (a build gives them all one). */
function releaseVersionOf(verified: VerifiedArtifacts, dir: string): number {
  const versions = new Set(Object.values(verified.manifest.files).flatMap((f) => (f.version === undefined ? [] : [f.version])));
  if (versions.size !== 1)
    throw new PackError('artifacts', `${dir}: its bundles have release versions ${[...versions].join(', ')}, not one`);
  return [...versions][0]!;
}

/** When the release was issued, in seconds: the archive's timestamps, so one release packs to the same bytes. */
function issuedAtS(verified: VerifiedArtifacts): number {
  const times = Object.values(verified.manifest.files).flatMap((f) => (f.issuedAt === undefined ? [] : [f.issuedAt]));
  return Math.floor(Math.max(0, ...times) / 1000);
}

export async function packBoard(options: PackOptions): Promise<PackResult> {
  const root = options.root ?? PROJECT_ROOT;
  const log = options.log ?? (() => {});
  const board = typeof options.board === 'string' ? loadBoard(options.board) : validateBoard(options.board);
  const outDir = resolve(options.outDir ?? join(root, 'dist'));
  const artifactsDir = options.artifacts === undefined ? undefined : resolve(options.artifacts);
  // The development key sits beside the dist root, as `dominion build` puts it.
  const keyHome = artifactsDir === undefined ? dirname(outDir) : dirname(dirname(artifactsDir));
  const release =
    options.releaseKey === undefined
      ? devReleaseKey(join(keyHome, DEV_KEY_FILE), log)
      : typeof options.releaseKey === 'string'
        ? readReleaseKey(options.releaseKey)
        : options.releaseKey;

  let dir: string;
  if (artifactsDir === undefined) {
    const built = await buildBoard({ board, outDir, releaseKey: release, releaseVersion: options.releaseVersion, log, root });
    dir = built.dir;
  } else {
    dir = artifactsDir;
  }
  // Packed from the verified bytes, never re-read: what verified is what ships.
  let verified: VerifiedArtifacts;
  try {
    verified = verifyArtifacts(dir, release.publicKey);
  } catch (e) {
    if (e instanceof ArtifactError)
      throw new PackError('artifacts', `${dir}: ${e.message}; nothing packed (rebuild with "dominion build --board ${board.id}")`);
    throw e;
  }
  if (verified.manifest.board !== board.id)
    throw new PackError('artifacts', `${dir}: built for board ${verified.manifest.board}, not ${board.id}`);
  const version = releaseVersionOf(verified, dir);
  if (options.releaseVersion !== undefined && options.releaseVersion !== version)
    throw new PackError('bad-option', `${dir}: holds release ${version}, not --release-version ${options.releaseVersion}`);

  const unit = unitName(board.id);
  const unitBytes = verified.files.get(unit);
  const boardBytes = verified.files.get(BOARD_FILE);
  if (unitBytes === undefined || boardBytes === undefined)
    throw new PackError('artifacts', `${dir}: the manifest lists no ${unitBytes ? BOARD_FILE : unit}`);

  const scratch = mkdtempSync(join(tmpdir(), 'dominion-pack-'));
  let runner: Uint8Array;
  try {
    await bundleRunner(join(scratch, 'runner.mjs'), verified.manifest.target, root);
    runner = new Uint8Array(readFileSync(join(scratch, 'runner.mjs')));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const encoder = new TextEncoder();
  const contents = new Map<string, { bytes: Uint8Array; mode: number }>();
  contents.set(RUNNER_PATH, { bytes: runner, mode: 0o755 });
  const dist = `dist/${board.id}`;
  for (const [name, bytes] of verified.files) contents.set(`${dist}/${name}`, { bytes, mode: 0o644 });
  contents.set(`${dist}/${MANIFEST_FILE}`, { bytes: verified.manifestBytes, mode: 0o644 });
  contents.set(`${dist}/${SIGNATURE_FILE}`, { bytes: verified.signature, mode: 0o644 });
  // Written from the key that signed, not copied: the dist folder's copy is not covered by the manifest.
  contents.set(`${dist}/${PUBLIC_KEY_FILE}`, { bytes: encoder.encode(`${hex(release.publicKey)}\n`), mode: 0o644 });
  contents.set(unit, { bytes: unitBytes, mode: 0o644 });
  contents.set(BOARD_FILE, { bytes: boardBytes, mode: 0o644 });

  const top = `dominion-${board.id}-${version}`;
  const head = {
    format: PACK_FORMAT,
    board: board.id,
    version,
    firmware: verified.manifest.version,
    target: verified.manifest.target,
    top,
    unitPrefix: DEFAULT_LAYOUT.prefix,
  } as const;
  const listedSoFar = (): Record<string, PackFile> => Object.fromEntries([...contents].map(([p, c]) => [p, packEntry(c.bytes, c.mode)]));
  const script = encoder.encode(installScript(installLayout({ board: board.id, files: listedSoFar() }), head));
  contents.set(INSTALL_SCRIPT, { bytes: script, mode: 0o755 });
  const sums = [...contents]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([p, c]) => `${packEntry(c.bytes, c.mode).sha512}  ${p}`)
    .join('\n');
  contents.set(CHECKSUMS_FILE, { bytes: encoder.encode(`${sums}\n`), mode: 0o644 });
  const doc: PackDoc = { ...head, files: listedSoFar() };
  const docBytes = encodePack(doc);
  contents.set(PACK_FILE, { bytes: docBytes, mode: 0o644 });
  contents.set(PACK_SIG_FILE, { bytes: signDocument(docBytes, release.secretKey, CONTEXTS.pack), mode: 0o644 });

  // Folders first (each before what it holds), then files; both sorted: the same release, the same bytes.
  const paths = [...contents.keys()].sort();
  const folders = new Set<string>([top]);
  for (const p of paths) for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) folders.add(`${top}/${p.slice(0, i)}`);
  const entries: TarEntry[] = [
    ...[...folders].sort().map((path) => ({ path, type: 'dir' as const, mode: 0o755 })),
    ...paths.map((p) => ({ path: `${top}/${p}`, type: 'file' as const, mode: contents.get(p)!.mode, bytes: contents.get(p)!.bytes })),
  ];
  const archive = writeTarGz(entries, issuedAtS(verified));

  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, packFileName(board.id, version));
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, archive, { mode: 0o644 });
  renameSync(partial, file);
  log(
    `wrote ${file} (${(archive.length / 1024).toFixed(1)} KiB, ${paths.length} files): board ${board.id} release ${version}, PACK.json signed by release key ${hex(nodeBackend().verifier(release.publicKey).keyId)}${release.dev ? ' (development key)' : ''}`,
  );
  return { file, doc, releaseKey: { publicKey: release.publicKey, dev: release.dev } };
}
