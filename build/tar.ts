/**
 * A small ustar (POSIX.1-1988) writer and reader for the install archive (build/pack.ts), gzipped
 * with node:zlib.
 *
 * Why not the system `tar`: written here, the archive is the same bytes for the same inputs (fixed
 * order, owner 0:0, mtime the release's issue time — GNU and busybox tar differ in all of these), and
 * the reader refuses anything but plain files and folders under relative paths *before* a byte is
 * written, which matters for `dominion install`, run as root. What it writes is plain ustar, so a
 * board's own `tar xzf` (GNU or busybox) unpacks it for `install.sh`.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { PackError } from './pack-errors.ts';

export interface TarEntry {
  /** Relative, `/`-separated; folders without a trailing slash. */
  readonly path: string;
  readonly type: 'file' | 'dir';
  /** Permission bits (e.g. 0o644). */
  readonly mode: number;
  /** Files only. */
  readonly bytes?: Uint8Array;
}

const BLOCK = 512;
/** Most entries and unpacked bytes a reader accepts: an install archive is a few files of a few MB. */
const MAX_ENTRIES = 4096;
const MAX_UNPACKED = 256 * 1024 * 1024;

function field(header: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > length) throw new PackError('archive', `tar field too long: ${text}`);
  header.set(bytes, offset);
}

function octal(header: Uint8Array, offset: number, length: number, value: number): void {
  field(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** `path` as ustar's name (≤ 100 bytes) and prefix (≤ 155 bytes), split at a `/`. */
function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { name, prefix };
  }
  throw new PackError('archive', `path too long for a ustar archive: ${path}`);
}

function header(entry: TarEntry, mtimeS: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const { name, prefix } = splitName(entry.type === 'dir' ? `${entry.path}/` : entry.path);
  field(h, 0, 100, name);
  octal(h, 100, 8, entry.mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, entry.type === 'file' ? entry.bytes!.length : 0);
  octal(h, 136, 12, mtimeS);
  h.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  h[156] = entry.type === 'file' ? 0x30 : 0x35;
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  field(h, 265, 32, 'root');
  field(h, 297, 32, 'root');
  field(h, 345, 155, prefix);
  const sum = h.reduce((a, b) => a + b, 0);
  field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** The gzipped ustar archive of `entries`, in the order given, each stamped `mtimeS` and owned by 0:0. */
export function writeTarGz(entries: readonly TarEntry[], mtimeS: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    parts.push(header(e, mtimeS));
    if (e.type === 'file') {
      parts.push(e.bytes!);
      const pad = (BLOCK - (e.bytes!.length % BLOCK)) % BLOCK;
      if (pad > 0) parts.push(new Uint8Array(pad));
    }
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return new Uint8Array(gzipSync(Buffer.concat(parts), { level: 9 }));
}

function text(block: Uint8Array, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
}

function readOctal(block: Uint8Array, offset: number, length: number, what: string): number {
  const t = text(block, offset, length).trim();
  if (!/^[0-7]{1,12}$/.test(t)) throw new PackError('archive', `bad ${what} in a tar header`);
  return parseInt(t, 8);
}

/** A relative path with no `.`/`..`/empty parts, or a PackError naming it. */
export function safeRelativePath(path: string): string {
  const parts = path.split('/');
  if (path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || /[\0\\]/.test(p)))
    throw new PackError('archive', `unsafe path in the archive: ${JSON.stringify(path.slice(0, 200))}`);
  return path;
}

/**
 * The entries of a gzipped ustar archive: plain files and folders only. A link, device, pax header,
 * an absolute path or one with `..`, a bad checksum or a truncated archive is refused, naming it.
 */
export function readTarGz(gz: Uint8Array): TarEntry[] {
  let tar: Uint8Array;
  try {
    tar = new Uint8Array(gunzipSync(gz, { maxOutputLength: MAX_UNPACKED }));
  } catch (e) {
    throw new PackError('archive', `not a gzip archive, or larger than ${MAX_UNPACKED} bytes unpacked (${(e as Error).message})`);
  }
  const entries: TarEntry[] = [];
  for (let at = 0; ;) {
    if (at + BLOCK > tar.length) throw new PackError('archive', 'truncated tar archive (no end marker)');
    const block = tar.subarray(at, at + BLOCK);
    if (block.every((b) => b === 0)) return entries;
    if (entries.length >= MAX_ENTRIES) throw new PackError('archive', `more than ${MAX_ENTRIES} entries`);
    const stored = readOctal(block, 148, 8, 'checksum');
    const sum = block.reduce((a, b, i) => a + (i >= 148 && i < 156 ? 0x20 : b), 0);
    if (sum !== stored) throw new PackError('archive', `bad tar header checksum at byte ${at}`);
    const prefix = text(block, 345, 155);
    const name = text(block, 0, 100);
    const full = (prefix === '' ? name : `${prefix}/${name}`).replace(/\/$/, '');
    const flag = String.fromCharCode(block[156]!);
    const size = readOctal(block, 124, 12, 'size');
    const mode = readOctal(block, 100, 8, 'mode') & 0o7777;
    at += BLOCK;
    if (flag === '5') {
      entries.push({ path: safeRelativePath(full), type: 'dir', mode });
    } else if (flag === '0' || flag === '\0') {
      if (at + size > tar.length) throw new PackError('archive', `truncated tar archive (in ${full})`);
      entries.push({ path: safeRelativePath(full), type: 'file', mode, bytes: tar.slice(at, at + size) });
      at += Math.ceil(size / BLOCK) * BLOCK;
    } else {
      throw new PackError(
        'archive',
        `${JSON.stringify(full.slice(0, 200))} is not a plain file or folder (tar type ${JSON.stringify(flag)})`,
      );
    }
  }
}
