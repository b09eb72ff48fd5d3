/**
 * The simulated fleet's keys: device i's Ed25519 seed is derived from (seed, i), so a fleet is the
 * same on every run and machine, and the whole fleet (seed and public key per device) is cached in
 * one file keyed by (N, seed): deriving 100,000 public keys costs many seconds, reading them back
 * does not. These are benchmark keys, never a real device's.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBackend } from '../../actors/crypto/index.ts';

const MAGIC = Buffer.from('DFLEET1\n', 'latin1');
const HEADER = MAGIC.length + 8;
const RECORD = 64; // 32-byte seed, 32-byte public key

/** The simulated device id of fleet member `i` (a valid topic segment). */
export function fleetDeviceId(i: number): string {
  return `sim-${i}`;
}

/** The index of a fleet device id, or -1 if `id` is not one. */
export function fleetIndexOf(id: string): number {
  if (!id.startsWith('sim-')) return -1;
  const n = Number(id.slice(4));
  return Number.isInteger(n) && n >= 0 && String(n) === id.slice(4) ? n : -1;
}

export class FleetKeys {
  /** `records` holds `devices` records of seed ‖ public key. */
  constructor(
    readonly devices: number,
    readonly seed: number,
    readonly records: Buffer,
  ) {
    if (records.length !== devices * RECORD) throw new RangeError('FleetKeys: records do not match the fleet size');
  }

  secretKey(i: number): Uint8Array {
    return this.records.subarray(i * RECORD, i * RECORD + 32);
  }

  publicKey(i: number): Uint8Array {
    return this.records.subarray(i * RECORD + 32, (i + 1) * RECORD);
  }
}

/** Device i's seed: SHA-512("dominion fleet-sim" ‖ seed ‖ i), first 32 bytes. */
export function deviceSecret(seed: number, i: number): Buffer {
  const tail = Buffer.alloc(8);
  tail.writeUInt32BE(seed >>> 0, 0);
  tail.writeUInt32BE(i >>> 0, 4);
  return createHash('sha512').update('dominion fleet-sim\0').update(tail).digest().subarray(0, 32);
}

/**
 * A node KeyObject for signing. Imported as JWK, not PKCS#8 DER: OpenSSL 3 decodes DER an order of
 * magnitude slower, which at 100,000 keys is minutes. With `publicKey` unknown a placeholder `x`
 * satisfies Node's JWK parser; OpenSSL derives the public key from `d` alone (checked on every
 * fleet generation: the derived key must verify a signature on the project's node backend).
 */
export function signingKey(secretKey: Uint8Array, publicKey?: Uint8Array): KeyObject {
  const x = Buffer.from(publicKey ?? new Uint8Array(32)).toString('base64url');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(secretKey).toString('base64url'), x }, format: 'jwk' });
}

function derivePublicKey(secretKey: Uint8Array): Buffer {
  const x = createPublicKey(signingKey(secretKey)).export({ format: 'jwk' }).x;
  if (x === undefined) throw new Error('fleet keys: OpenSSL gave no public key');
  return Buffer.from(x, 'base64url');
}

export function generateFleetKeys(devices: number, seed: number): FleetKeys {
  const records = Buffer.alloc(devices * RECORD);
  for (let i = 0; i < devices; i++) {
    const secret = deviceSecret(seed, i);
    secret.copy(records, i * RECORD);
    derivePublicKey(secret).copy(records, i * RECORD + 32);
  }
  const keys = new FleetKeys(devices, seed, records);
  checkFleetKeys(keys);
  return keys;
}

/** Throws unless the first and last devices' keys are what (seed, i) derive and sign verifiably. */
export function checkFleetKeys(keys: FleetKeys): void {
  for (const i of new Set([0, keys.devices - 1])) {
    if (!deviceSecret(keys.seed, i).equals(keys.secretKey(i)))
      throw new Error(`fleet keys: device ${i}'s seed is not derived from the seed`);
    const message = Buffer.from(`fleet check ${i}`);
    const signature = sign(null, message, signingKey(keys.secretKey(i), keys.publicKey(i)));
    if (!nodeBackend().verifier(keys.publicKey(i)).verify(message, signature))
      throw new Error(`fleet keys: device ${i}'s public key does not verify its signature`);
  }
}

/** Where the fleet of (devices, seed) is cached by default. */
export function defaultFleetCacheDir(): string {
  return join(tmpdir(), 'dominion-fleet-cache');
}

export interface LoadedFleet {
  readonly keys: FleetKeys;
  /** True when read back from the cache file. */
  readonly cached: boolean;
  readonly file: string;
}

/**
 * The fleet of (devices, seed): from `cacheDir` when a valid file is there, else generated and
 * written (atomically, 0600). A file that does not check out is replaced, with a note.
 */
export function loadFleetKeys(o: { devices: number; seed: number; cacheDir?: string; note?: (msg: string) => void }): LoadedFleet {
  if (!Number.isInteger(o.devices) || o.devices < 1) throw new RangeError('fleet keys: devices must be an integer >= 1');
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)
    throw new RangeError('fleet keys: seed must be a 32-bit unsigned integer');
  const dir = o.cacheDir ?? defaultFleetCacheDir();
  const file = join(dir, `fleet-${o.devices}-${o.seed}.bin`);
  const cached = readCache(file, o.devices, o.seed, o.note);
  if (cached !== undefined) return { keys: cached, cached: true, file };
  const keys = generateFleetKeys(o.devices, o.seed);
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header);
  header.writeUInt32BE(o.devices, MAGIC.length);
  header.writeUInt32BE(o.seed, MAGIC.length + 4);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([header, keys.records]), { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    o.note?.(`fleet cache ${file} not written (${err instanceof Error ? err.message : String(err)}); the fleet is generated each run`);
  }
  return { keys, cached: false, file };
}

function readCache(file: string, devices: number, seed: number, note?: (msg: string) => void): FleetKeys | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined; // no cache yet
  }
  try {
    if (
      bytes.length !== HEADER + devices * RECORD ||
      !bytes.subarray(0, MAGIC.length).equals(MAGIC) ||
      bytes.readUInt32BE(MAGIC.length) !== devices ||
      bytes.readUInt32BE(MAGIC.length + 4) !== seed
    )
      throw new Error('wrong size or header');
    const keys = new FleetKeys(devices, seed, bytes.subarray(HEADER));
    checkFleetKeys(keys);
    return keys;
  } catch (err) {
    note?.(`fleet cache ${file} is not valid (${err instanceof Error ? err.message : String(err)}): generating the fleet again`);
    return undefined;
  }
}
