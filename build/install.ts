/**
 * `dominion install <archive>`: checks an install archive against the pinned release key (PACK.sig,
 * every file, then the dist manifest inside it), and lays it out as build/install-layout.ts says —
 * the same table the archive's install.sh was generated from.
 *
 * The prefix is staged beside its final place and renamed into it, the old one moved aside only for
 * the moment between the two renames (and moved back if the second fails); the unit is written to a
 * temporary name and renamed. /etc/dominion and /var/lib/dominion are made when missing, never emptied.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArtifactError, verifyArtifacts } from '../actors/release/index.ts';
import { checkPrefix, DEFAULT_PREFIX, installLayout, rewriteUnit, type InstallLayout } from './install-layout.ts';
import { PackError } from './pack-errors.ts';
import { PACK_FILE, verifyPack, type PackDoc, type VerifiedPack } from './pack-format.ts';
import { readTarGz } from './tar.ts';

export interface InstallOptions {
  readonly archive: string;
  /** Everything goes under it (like DESTDIR); default `/`. */
  readonly root?: string;
  readonly prefix?: string;
  readonly releasePublicKey: Uint8Array;
  /** Verify only; lay nothing out. */
  readonly checkOnly?: boolean;
  readonly log?: (line: string) => void;
}

export interface InstallResult {
  readonly doc: PackDoc;
  readonly layout: InstallLayout;
  /** `<root><prefix>`. */
  readonly dest: string;
  /** What PACK.json the replaced install had, if one was there. */
  readonly replaced?: { readonly board: string; readonly version: number };
}

/** The archive read and verified; a PackError names the archive and says why, in one line. */
export function readPack(archive: string, releasePublicKey: Uint8Array): VerifiedPack {
  let gz: Uint8Array;
  try {
    gz = new Uint8Array(readFileSync(archive));
  } catch (e) {
    throw new PackError('archive', `${archive}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return verifyPack(readTarGz(gz), releasePublicKey);
  } catch (e) {
    if (e instanceof PackError) throw new PackError(e.code, `${archive}: ${e.message}; nothing installed`);
    throw e;
  }
}

function previous(dest: string): InstallResult['replaced'] {
  try {
    const doc = JSON.parse(readFileSync(join(dest, PACK_FILE), 'utf8')) as Partial<PackDoc>;
    return typeof doc.board === 'string' && typeof doc.version === 'number' ? { board: doc.board, version: doc.version } : undefined;
  } catch {
    return undefined;
  }
}

/** `path` and its missing parents, each made 0755 whatever the umask (as install.sh's `umask 022; mkdir -p`). */
function makeParents(path: string): void {
  if (existsSync(path)) return;
  makeParents(dirname(path));
  mkdirSync(path);
  chmodSync(path, 0o755);
}

function fsError(e: unknown): never {
  const err = e as NodeJS.ErrnoException;
  throw new PackError('install', `${err.path ?? ''}${err.path ? ': ' : ''}${err.code ?? err.message}`);
}

export function installPack(options: InstallOptions): InstallResult {
  const log = options.log ?? (() => {});
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const root = options.root ?? '/';
  const pack = readPack(options.archive, options.releasePublicKey);
  const layout = installLayout(pack.doc);
  const dest = join(root, prefix);
  if (options.checkOnly === true) return { doc: pack.doc, layout, dest };

  const stage = `${dest}.staging-${process.pid}`;
  const old = `${dest}.old-${process.pid}`;
  const replaced = previous(dest);
  try {
    rmSync(stage, { recursive: true, force: true });
    makeParents(dirname(dest));
    for (const d of layout.dirs.filter((d) => d.base === 'prefix')) {
      mkdirSync(join(stage, d.path));
      chmodSync(join(stage, d.path), d.mode);
    }
    for (const f of layout.files.filter((f) => f.base === 'prefix')) {
      writeFileSync(join(stage, f.path), pack.files.get(f.from)!);
      chmodSync(join(stage, f.path), f.mode);
    }
    // Belt and braces: the dist folder as staged verifies as the device will check it at start.
    try {
      verifyArtifacts(join(stage, 'dist', pack.doc.board), options.releasePublicKey);
    } catch (e) {
      if (e instanceof ArtifactError)
        throw new PackError('signature', `${options.archive}: dist/${pack.doc.board}/${e.message}; nothing installed`);
      throw e;
    }
    if (existsSync(dest)) renameSync(dest, old);
    try {
      renameSync(stage, dest);
    } catch (e) {
      if (existsSync(old)) renameSync(old, dest);
      throw e;
    }
    rmSync(old, { recursive: true, force: true });

    for (const d of layout.dirs.filter((d) => d.base === 'root')) {
      const path = join(root, d.path);
      if (!existsSync(path)) {
        makeParents(dirname(path));
        mkdirSync(path);
        chmodSync(path, d.mode);
      } else if (!statSync(path).isDirectory()) throw new PackError('install', `${path}: exists and is not a folder`);
    }
    for (const f of layout.files.filter((f) => f.base === 'root')) {
      const path = join(root, f.path);
      const bytes = pack.files.get(f.from)!;
      const text = f.rewritePrefix
        ? new TextEncoder().encode(rewriteUnit(new TextDecoder().decode(bytes), pack.doc.unitPrefix, prefix))
        : bytes;
      const tmp = `${path}.tmp-${process.pid}`;
      writeFileSync(tmp, text);
      chmodSync(tmp, f.mode);
      renameSync(tmp, path);
    }
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    if (e instanceof PackError) throw e;
    fsError(e);
  }
  log(
    `installed dominion ${pack.doc.board} release ${pack.doc.version} into ${dest}${replaced ? ` (replacing ${replaced.board} release ${replaced.version})` : ''}; unit ${join(root, layout.files.find((f) => f.rewritePrefix)!.path)}`,
  );
  return { doc: pack.doc, layout, dest, ...(replaced ? { replaced } : {}) };
}
