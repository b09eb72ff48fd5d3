/**
 * Broker passwords and their hashes in Mosquitto 2.0's `password_file` format (docs/ARCHITECTURE.md
 * §7.1): `$7$<iterations>$<salt, base64>$<PBKDF2-HMAC-SHA512, 64 bytes, base64>`, what
 * `mosquitto_passwd` writes (salt 12 bytes, 101 iterations by default). Hubs keep only the hash; the
 * embedded broker (Aedes) checks passwords against the same hashes.
 *
 * Passwords are 32 random bytes (base64url): with 256 bits of entropy the hash need not be slow, so
 * we use Mosquitto's own default iteration count and keep a CONNECT cheap for the broker.
 */
import { pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export const PASSWORD_ITERATIONS = 101;
const SALT_BYTES = 12;
const HASH_BYTES = 64;
/** Bounds what a stored hash may ask of us: a hostile file must not make every CONNECT cost seconds. */
const MAX_ITERATIONS = 1_000_000;
const HASH = /^\$7\$([1-9][0-9]{0,6})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export class PasswordHashError extends Error {
  override readonly name = 'PasswordHashError';
}

/** A fresh broker password: 32 random bytes, base64url (43 characters, no padding). */
export function newBrokerPassword(): string {
  return randomBytes(32).toString('base64url');
}

/** The `$7$` hash of `password`; `salt` only for tests (default: 12 random bytes). */
export function hashPassword(password: string, options: { iterations?: number; salt?: Uint8Array } = {}): string {
  const iterations = options.iterations ?? PASSWORD_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS)
    throw new PasswordHashError(`iterations must be 1-${MAX_ITERATIONS}`);
  const salt = Buffer.from(options.salt ?? randomBytes(SALT_BYTES));
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface ParsedHash {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Checks the shape of a stored hash; throws PasswordHashError (never echoing the hash) when it is not one. */
export function parsePasswordHash(text: string): ParsedHash {
  const m = typeof text === 'string' ? HASH.exec(text) : null;
  if (m === null) throw new PasswordHashError('not a Mosquitto $7$ (PBKDF2-SHA512) password hash');
  const iterations = Number(m[1]);
  if (iterations > MAX_ITERATIONS) throw new PasswordHashError(`more than ${MAX_ITERATIONS} iterations`);
  const salt = Buffer.from(m[2]!, 'base64');
  const hash = Buffer.from(m[3]!, 'base64');
  if (salt.length === 0 || hash.length !== HASH_BYTES) throw new PasswordHashError('salt empty or hash not 64 bytes');
  return { iterations, salt, hash };
}

export function isPasswordHash(text: string): boolean {
  try {
    parsePasswordHash(text);
    return true;
  } catch {
    return false;
  }
}

/** True when `password` matches `stored`; false for a wrong password or a malformed hash. Constant-time compare. */
export function verifyPassword(password: string | Uint8Array, stored: string): boolean {
  let parsed: ParsedHash;
  try {
    parsed = parsePasswordHash(stored);
  } catch {
    return false;
  }
  const candidate = pbkdf2Sync(Buffer.from(password), parsed.salt, parsed.iterations, HASH_BYTES, 'sha512');
  return timingSafeEqual(candidate, parsed.hash);
}
