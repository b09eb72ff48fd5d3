/**
 * Key files (ARCHITECTURE.md §3), JSON with a `kind` and a format `version`:
 *
 *   dominion.hub-key        a hub's signing key: { hubId, role, service?, publicKey, secretKey }   mode 0600
 *   dominion.hub-public     what devices pin and enrolment reads: { hubId, role, service?, publicKey }
 *   dominion.device-keys    a device's K_I, K_MM, K_SM_k: { deviceId, keys: { <instance>: { publicKey, secretKey } } }  mode 0600
 *   dominion.device-public  the same without secrets: { deviceId, keys: { <instance>: <publicKey> } }
 *
 * Keys are hex: 32-byte Ed25519 seeds and public keys. Secret files are created with mode 0600
 * (O_EXCL: an existing key is never overwritten) and refused when group or others can read them.
 * Errors name the file and the field, never a key's bytes.
 */
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { cryptoBackend, fromHex, generateSecretKey, hex, type Signer } from '../crypto/index.ts';
import { instanceProblem, serviceInstance, type Instance } from '../../proto/index.ts';
import { DEVICE_ID_PATTERN } from './registry.ts';
import { roleName, serviceHubRole, IH_ROLE, type HubRole } from './role.ts';

export const HUB_KEY_KIND = 'dominion.hub-key';
export const HUB_PUBLIC_KIND = 'dominion.hub-public';
export const DEVICE_KEYS_KIND = 'dominion.device-keys';
export const DEVICE_PUBLIC_KIND = 'dominion.device-public';
const VERSION = 1;
const HUB_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
}

export interface HubPublicKey {
  readonly hubId: string;
  readonly role: HubRole;
  readonly publicKey: Uint8Array;
}

export interface HubKey extends HubPublicKey {
  readonly signer: Signer;
}

/** A hub key with its seed, as made by `newHubKey` and written by `writeHubKeyFile`. */
export interface HubKeyPair extends HubKey {
  readonly secretKey: Uint8Array;
}

/** A device's secret keys, in the shape the simulated device takes (actors/device DeviceKeys). */
export interface DeviceSecretKeys {
  readonly deviceId: string;
  readonly device: Uint8Array;
  readonly mm: Uint8Array;
  readonly services: Readonly<Record<string, Uint8Array>>;
}

export interface DevicePublicKeys {
  readonly deviceId: string;
  readonly keys: ReadonlyArray<{ readonly instance: Instance; readonly publicKey: Uint8Array }>;
}

const node = cryptoBackend('node');

/** A fresh hub key pair. */
export function newHubKey(hubId: string, role: HubRole): HubKeyPair {
  checkHubId(hubId, 'hub id');
  const secretKey = generateSecretKey();
  const signer = node.signer(secretKey);
  return { hubId, role, publicKey: signer.publicKey, signer, secretKey };
}

/** Fresh K_I, K_MM and one K_SM per service. */
export function newDeviceKeys(deviceId: string, services: readonly string[]): DeviceSecretKeys {
  checkDeviceId(deviceId, 'device id');
  for (const s of services) serviceInstance(s); // throws for a bad service name
  if (new Set(services).size !== services.length) throw new KeyFileError('a service is named twice');
  return { deviceId, device: generateSecretKey(), mm: generateSecretKey(), services: Object.fromEntries(services.map((s) => [s, generateSecretKey()])) };
}

export function devicePublicKeys(keys: DeviceSecretKeys): DevicePublicKeys {
  return {
    deviceId: keys.deviceId,
    keys: [
      { instance: 'device', publicKey: node.publicKeyOf(keys.device) },
      { instance: 'mm', publicKey: node.publicKeyOf(keys.mm) },
      ...Object.entries(keys.services).map(([s, seed]) => ({ instance: serviceInstance(s), publicKey: node.publicKeyOf(seed) })),
    ],
  };
}

// ── writing ─────────────────────────────────────────────────────────────────────────────────────

/** Writes the hub's secret key file (0600, never overwriting an existing file). */
export function writeHubKeyFile(path: string, key: HubKeyPair): void {
  writeSecretJson(path, { kind: HUB_KEY_KIND, version: VERSION, ...hubFields(key), secretKey: hex(key.secretKey) });
}

export function writeHubPublicFile(path: string, key: HubPublicKey): void {
  writeJson(path, { kind: HUB_PUBLIC_KIND, version: VERSION, ...hubFields(key) }, 0o644);
}

export function writeDeviceKeysFile(path: string, keys: DeviceSecretKeys): void {
  const pub = devicePublicKeys(keys);
  const seeds: Record<string, Uint8Array> = { device: keys.device, mm: keys.mm, ...Object.fromEntries(Object.entries(keys.services).map(([s, k]) => [`sm:${s}`, k])) };
  writeSecretJson(path, {
    kind: DEVICE_KEYS_KIND,
    version: VERSION,
    deviceId: keys.deviceId,
    keys: Object.fromEntries(pub.keys.map((k) => [k.instance, { publicKey: hex(k.publicKey), secretKey: hex(seeds[k.instance]!) }])),
  });
}

export function writeDevicePublicFile(path: string, keys: DevicePublicKeys): void {
  writeJson(path, { kind: DEVICE_PUBLIC_KIND, version: VERSION, deviceId: keys.deviceId, keys: Object.fromEntries(keys.keys.map((k) => [k.instance, hex(k.publicKey)])) }, 0o644);
}

function hubFields(key: HubPublicKey): Record<string, string> {
  return { hubId: key.hubId, role: key.role.kind, ...(key.role.kind === 'sh' ? { service: key.role.service } : {}), publicKey: hex(key.publicKey) };
}

function writeSecretJson(path: string, value: unknown): void {
  writeJson(path, value, 0o600);
}

/** Creates `path` exclusively with `mode` (umask cannot widen it: the mode is set at creation). */
function writeJson(path: string, value: unknown, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(code === 'EEXIST' ? `${path} already exists; refusing to overwrite a key file` : `${path}: cannot create (${code ?? 'error'})`);
  }
  try {
    writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// ── reading ─────────────────────────────────────────────────────────────────────────────────────

/** Reads a hub's secret key file; refuses one that group or others may read. */
export function readHubKeyFile(path: string): HubKeyPair {
  const doc = readJson(path, HUB_KEY_KIND, true);
  const pub = hubPublicOf(doc, path);
  const secretKey = bytes(doc.secretKey, path, 'secretKey', 32);
  const signer = node.signer(secretKey);
  if (hex(signer.publicKey) !== hex(pub.publicKey)) throw new KeyFileError(`${path}: publicKey does not belong to secretKey`);
  return { ...pub, signer, secretKey };
}

/** Reads a hub's public file — or its secret key file, using only the public part. */
export function readHubPublicFile(path: string): HubPublicKey {
  const doc = readJson(path, [HUB_PUBLIC_KIND, HUB_KEY_KIND], false);
  return hubPublicOf(doc, path);
}

export function readDeviceKeysFile(path: string): DeviceSecretKeys {
  const doc = readJson(path, DEVICE_KEYS_KIND, true);
  const deviceId = checkDeviceId(doc.deviceId, `${path}: deviceId`);
  const keys = record(doc.keys, path, 'keys');
  const seeds = new Map<string, Uint8Array>();
  for (const [instance, entry] of Object.entries(keys)) {
    checkInstance(instance, path);
    const e = record(entry, path, `keys.${instance}`);
    const seed = bytes(e.secretKey, path, `keys.${instance}.secretKey`, 32);
    if (hex(node.publicKeyOf(seed)) !== hex(bytes(e.publicKey, path, `keys.${instance}.publicKey`, 32))) {
      throw new KeyFileError(`${path}: keys.${instance}.publicKey does not belong to its secretKey`);
    }
    seeds.set(instance, seed);
  }
  const device = seeds.get('device');
  const mm = seeds.get('mm');
  if (device === undefined || mm === undefined) throw new KeyFileError(`${path}: keys.device and keys.mm are required`);
  const services = Object.fromEntries([...seeds].filter(([i]) => i.startsWith('sm:')).map(([i, k]) => [i.slice(3), k]));
  return { deviceId, device, mm, services };
}

/** Reads a device's public file — or its secret key file, using only the public keys. */
export function readDevicePublicFile(path: string): DevicePublicKeys {
  const doc = readJson(path, [DEVICE_PUBLIC_KIND, DEVICE_KEYS_KIND], false);
  const deviceId = checkDeviceId(doc.deviceId, `${path}: deviceId`);
  const keys = record(doc.keys, path, 'keys');
  const out = Object.entries(keys).map(([instance, entry]) => {
    checkInstance(instance, path);
    const text = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).publicKey : entry;
    return { instance: instance as Instance, publicKey: bytes(text, path, `keys.${instance}`, 32) };
  });
  if (!out.some((k) => k.instance === 'device') || !out.some((k) => k.instance === 'mm')) throw new KeyFileError(`${path}: keys for device and mm are required`);
  return { deviceId, keys: out };
}

function hubPublicOf(doc: Record<string, unknown>, path: string): HubPublicKey {
  const hubId = checkHubId(doc.hubId, `${path}: hubId`);
  let role: HubRole;
  if (doc.role === 'ih') role = IH_ROLE;
  else if (doc.role === 'sh') {
    if (typeof doc.service !== 'string') throw new KeyFileError(`${path}: a service hub needs "service"`);
    try {
      role = serviceHubRole(doc.service);
    } catch (err) {
      throw new KeyFileError(`${path}: service: ${err instanceof Error ? err.message : 'invalid'}`);
    }
  } else throw new KeyFileError(`${path}: role must be "ih" or "sh"`);
  return { hubId, role, publicKey: bytes(doc.publicKey, path, 'publicKey', 32) };
}

function readJson(path: string, kind: string | readonly string[], secret: boolean): Record<string, unknown> {
  let text: string;
  try {
    if (secret && (statSync(path).mode & 0o077) !== 0) {
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
  if (typeof doc !== 'object' || doc === null || !kinds.includes(String(d.kind))) throw new KeyFileError(`${path}: not a ${kinds.join(' or ')} file`);
  if (d.version !== VERSION) throw new KeyFileError(`${path}: format version ${String(d.version)} is not supported (expected ${VERSION})`);
  return d;
}

function record(value: unknown, path: string, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new KeyFileError(`${path}: ${field} must be an object`);
  return value as Record<string, unknown>;
}

function bytes(value: unknown, path: string, field: string, length: number): Uint8Array {
  if (typeof value !== 'string' || value.length !== 2 * length) throw new KeyFileError(`${path}: ${field} must be ${2 * length} hex digits`);
  try {
    return fromHex(value);
  } catch {
    throw new KeyFileError(`${path}: ${field} must be hex`);
  }
}

function checkInstance(instance: string, path: string): void {
  const problem = instanceProblem(instance);
  if (problem !== undefined) throw new KeyFileError(`${path}: ${JSON.stringify(instance.slice(0, 40))} is not an instance (${problem})`);
}

export function checkHubId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !HUB_ID.test(value)) throw new KeyFileError(`${what} must be 1-64 characters of [A-Za-z0-9._:-]`);
  return value;
}

export function checkDeviceId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !DEVICE_ID_PATTERN.test(value)) throw new KeyFileError(`${what} must be 1-64 characters of [A-Za-z0-9._-]`);
  return value;
}

/** `ih` or `sh:<service>`, for messages. */
export function describeHub(key: HubPublicKey): string {
  return `${key.hubId} (${roleName(key.role)})`;
}
