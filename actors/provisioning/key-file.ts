/**
 * Key files on disk (docs/ARCHITECTURE.md §3): JSON with a `kind` and a format `version`, keys in hex.
 * Secret files are created with mode 0600 (O_EXCL: an existing key is never overwritten) and refused
 * when group or others can read them. Errors name the file and the field, never a key's bytes.
 * The device's key files (device-keys.ts) and the hub's (actors/hub/keyfiles.ts) are built on these.
 */
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { fromHex } from '../crypto/index.ts';
import { instanceProblem } from '../../proto/index.ts';

export const KEY_FILE_VERSION = 1;
const VERSION = KEY_FILE_VERSION;

/** Device ids as the protocol allows them (proto/validate.ts): in topics, files and hub databases. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

export function writeSecretJson(path: string, value: unknown): void {
  writeJson(path, value, 0o600);
}

/** Creates `path` exclusively with `mode` (umask cannot widen it: the mode is set at creation). */
export function writeJson(path: string, value: unknown, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(
      code === 'EEXIST' ? `${path} already exists; refusing to overwrite a key file` : `${path}: cannot create (${code ?? 'error'})`,
    );
  }
  try {
    writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readKeyJson(path: string, kind: string | readonly string[], secret: boolean): Record<string, unknown> {
  let text: string;
  try {
    const stat = statSync(path);
    // A folder's mode says nothing about a key: name the real mistake (--key given a folder).
    if (stat.isDirectory()) throw new KeyFileError(`${path}: is a folder, not a key file`);
    if (secret && (stat.mode & 0o077) !== 0) {
      throw new KeyFileError(`${path}: a secret key file must not be readable by group or others (chmod 600 ${path})`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${code ?? 'error'})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyFileError(`${path}: not JSON`);
  }
  const kinds = typeof kind === 'string' ? [kind] : kind;
  const d = doc as Record<string, unknown>;
  if (typeof doc !== 'object' || doc === null || !kinds.includes(String(d.kind)))
    throw new KeyFileError(`${path}: not a ${kinds.join(' or ')} file`);
  if (d.version !== VERSION) throw new KeyFileError(`${path}: format version ${String(d.version)} is not supported (expected ${VERSION})`);
  return d;
}

export function keyRecord(value: unknown, path: string, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new KeyFileError(`${path}: ${field} must be an object`);
  return value as Record<string, unknown>;
}

export function keyBytes(value: unknown, path: string, field: string, length: number): Uint8Array {
  if (typeof value !== 'string' || value.length !== 2 * length)
    throw new KeyFileError(`${path}: ${field} must be ${2 * length} hex digits`);
  try {
    return fromHex(value);
  } catch {
    throw new KeyFileError(`${path}: ${field} must be hex`);
  }
}

export function checkInstance(instance: string, path: string): void {
  const problem = instanceProblem(instance);
  if (problem !== undefined) throw new KeyFileError(`${path}: ${JSON.stringify(instance.slice(0, 40))} is not an instance (${problem})`);
}

export function checkDeviceId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !DEVICE_ID_PATTERN.test(value))
    throw new KeyFileError(`${what} must be 1-64 characters of [A-Za-z0-9._-]`);
  return value;
}
