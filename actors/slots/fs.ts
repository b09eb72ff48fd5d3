/**
 * The few file system calls the slot room makes, behind a small interface so tests can count them
 * and cut the power at any one of them; and the two disciplines built on them: a durable atomic
 * replace (temp file, fsync, rename, fsync the directory) and a bounded read (size checked on the
 * open descriptor before a byte is read, so an endless or huge file is refused, not read).
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export interface FileStat {
  readonly size: number;
  isFile(): boolean;
}

/** The subset of node:fs the slot room uses, all synchronous: a boot decision never interleaves with other work. */
export interface SlotFs {
  openSync(path: string, flags: number, mode?: number): number;
  closeSync(fd: number): void;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number): number;
  fstatSync(fd: number): FileStat;
  fsyncSync(fd: number): void;
  renameSync(from: string, to: string): void;
  /** Creates the directory and its parents; no error if it exists. */
  mkdirSync(path: string): void;
  /** Removes a file or a directory tree; no error if it is absent. */
  rmSync(path: string): void;
  readdirSync(path: string): string[];
}

export const nodeFs: SlotFs = {
  openSync: (path, flags, mode) => openSync(path, flags, mode),
  closeSync: (fd) => closeSync(fd),
  readSync: (fd, buffer, offset, length, position) => readSync(fd, buffer, offset, length, position),
  writeSync: (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length),
  fstatSync: (fd) => fstatSync(fd),
  fsyncSync: (fd) => fsyncSync(fd),
  renameSync: (from, to) => renameSync(from, to),
  mkdirSync: (path) => void mkdirSync(path, { recursive: true }),
  rmSync: (path) => rmSync(path, { recursive: true, force: true }),
  readdirSync: (path) => readdirSync(path),
};

// Not every platform defines these; where one is missing the open simply goes without it.
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const DIRECTORY = constants.O_DIRECTORY ?? 0;

/** Closes `fd` after `body`; when `body` throws, a failing close does not hide the first error. */
function withFd<T>(fs: SlotFs, fd: number, body: () => T): T {
  let result: T;
  try {
    result = body();
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // The first error is the one that matters.
    }
    throw e;
  }
  fs.closeSync(fd);
  return result;
}

/** Writes `bytes` as the whole of `path` (created or truncated) and fsyncs it. Not atomic by itself. */
export function writeSynced(fs: SlotFs, path: string, bytes: Uint8Array, mode = 0o600): void {
  const fd = fs.openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | NOFOLLOW, mode);
  withFd(fs, fd, () => {
    for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    fs.fsyncSync(fd);
  });
}

/** Makes the directory's entries (a rename, a new file) durable. */
export function syncDir(fs: SlotFs, dir: string): void {
  const fd = fs.openSync(dir, constants.O_RDONLY | DIRECTORY);
  withFd(fs, fd, () => fs.fsyncSync(fd));
}

/**
 * Replaces `path` with `bytes` in one step: a power cut at any point leaves either the old file or
 * the new one, whole. `<path>.tmp` is written and fsynced first (a stale one from a cut is simply
 * truncated next time), renamed over `path`, and the directory fsynced so the rename itself lasts.
 */
export function replaceAtomically(fs: SlotFs, path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeSynced(fs, tmp, bytes);
  fs.renameSync(tmp, path);
  syncDir(fs, dirname(path));
}

export type BoundedRead =
  | { readonly kind: 'ok'; readonly bytes: Uint8Array }
  | { readonly kind: 'missing' }
  /** Larger than allowed: nothing was read. */
  | { readonly kind: 'too-large'; readonly size: number }
  /** A directory, device, FIFO or symbolic link: nothing was read. */
  | { readonly kind: 'not-a-file' }
  | { readonly kind: 'unreadable'; readonly code: string };

/**
 * Reads `path` if it is a regular file of at most `max` bytes. The size comes from the open
 * descriptor (so it is the same file that is read), the open neither follows a symbolic link nor
 * blocks on a FIFO, and a file that changes size while read is refused.
 */
export function readBounded(fs: SlotFs, path: string, max: number): BoundedRead {
  let fd: number;
  try {
    fd = fs.openSync(path, constants.O_RDONLY | NOFOLLOW | NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Only the file system's own errors are outcomes; anything else is not this function's to judge.
    if (code === undefined) throw e;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    if (code === 'ELOOP') return { kind: 'not-a-file' };
    return { kind: 'unreadable', code };
  }
  return withFd(fs, fd, (): BoundedRead => {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return { kind: 'not-a-file' };
    if (stat.size > max) return { kind: 'too-large', size: stat.size };
    // One byte more than the size, to notice a file that grows while it is read.
    const buffer = new Uint8Array(stat.size + 1);
    let got = 0;
    while (got < buffer.length) {
      const n = fs.readSync(fd, buffer, got, buffer.length - got, got);
      if (n === 0) break;
      got += n;
    }
    if (got !== stat.size) return { kind: 'unreadable', code: 'ECHANGED' };
    return { kind: 'ok', bytes: buffer.slice(0, got) };
  });
}
