/**
 * A hub's key files (docs/ARCHITECTURE.md §3), on the key-file toolkit of actors/provisioning:
 *
 *   dominion.hub-key        a hub's signing key: { hubId, role, service?, publicKey, secretKey }   mode 0600
 *   dominion.hub-public     what devices pin and enrolment reads: { hubId, role, service?, publicKey,
 *                           brokerPasswordHash? }
 *
 * `brokerPasswordHash`: the Mosquitto `$7$` hash of the hub's broker password (its credential file is
 * actors/provisioning/broker-credential.ts); enrolment stores it in the hub's database, where
 * `dominion broker-sync` finds it. A hash of 32 random bytes reveals nothing worth guessing at.
 *
 * (A device's key files are actors/provisioning/device-keys.ts.)
 */
import { cryptoBackend, generateSecretKey, hex, type Signer } from '../crypto/index.ts';
import { KEY_FILE_VERSION, KeyFileError, keyBytes, readKeyJson, writeJson, writeSecretJson } from '../provisioning/index.ts';
import { isPasswordHash } from '../broker-auth/index.ts';
import { roleName, serviceHubRole, IH_ROLE, type HubRole } from './role.ts';

const HUB_KEY_KIND = 'dominion.hub-key';
const HUB_PUBLIC_KIND = 'dominion.hub-public';
const VERSION = KEY_FILE_VERSION;
const HUB_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export interface HubPublicKey {
  readonly hubId: string;
  readonly role: HubRole;
  readonly publicKey: Uint8Array;
  /** The hash of the hub's broker password (docs/ARCHITECTURE.md §7.1), when it has one. */
  readonly brokerPasswordHash?: string;
}

export interface HubKey extends HubPublicKey {
  readonly signer: Signer;
}

/** A hub key with its seed, as made by `newHubKey` and written by `writeHubKeyFile`. */
export interface HubKeyPair extends HubKey {
  readonly secretKey: Uint8Array;
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
// ── writing ─────────────────────────────────────────────────────────────────────────────────────

/** Writes the hub's secret key file (0600, never overwriting an existing file). */
export function writeHubKeyFile(path: string, key: HubKeyPair): void {
  writeSecretJson(path, { kind: HUB_KEY_KIND, version: VERSION, ...hubFields(key), secretKey: hex(key.secretKey) });
}

export function writeHubPublicFile(path: string, key: HubPublicKey): void {
  writeJson(path, { kind: HUB_PUBLIC_KIND, version: VERSION, ...hubFields(key) }, 0o644);
}

function hubFields(key: HubPublicKey): Record<string, string> {
  return {
    hubId: key.hubId,
    role: key.role.kind,
    ...(key.role.kind === 'sh' ? { service: key.role.service } : {}),
    publicKey: hex(key.publicKey),
    ...(key.brokerPasswordHash !== undefined ? { brokerPasswordHash: key.brokerPasswordHash } : {}),
  };
}

// ── reading ─────────────────────────────────────────────────────────────────────────────────────

/** Reads a hub's secret key file; refuses one that group or others may read. */
export function readHubKeyFile(path: string): HubKeyPair {
  const doc = readKeyJson(path, HUB_KEY_KIND, true);
  const pub = hubPublicOf(doc, path);
  const secretKey = keyBytes(doc.secretKey, path, 'secretKey', 32);
  const signer = node.signer(secretKey);
  if (hex(signer.publicKey) !== hex(pub.publicKey)) throw new KeyFileError(`${path}: publicKey does not belong to secretKey`);
  return { ...pub, signer, secretKey };
}

/** Reads a hub's public file — or its secret key file, using only the public part. */
export function readHubPublicFile(path: string): HubPublicKey {
  const doc = readKeyJson(path, [HUB_PUBLIC_KIND, HUB_KEY_KIND], false);
  return hubPublicOf(doc, path);
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
  const publicKey = keyBytes(doc.publicKey, path, 'publicKey', 32);
  if (doc.brokerPasswordHash === undefined) return { hubId, role, publicKey };
  if (typeof doc.brokerPasswordHash !== 'string' || !isPasswordHash(doc.brokerPasswordHash))
    throw new KeyFileError(`${path}: brokerPasswordHash must be a Mosquitto $7$ password hash`);
  return { hubId, role, publicKey, brokerPasswordHash: doc.brokerPasswordHash };
}

function checkHubId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !HUB_ID.test(value)) throw new KeyFileError(`${what} must be 1-64 characters of [A-Za-z0-9._:-]`);
  return value;
}

/** `ih` or `sh:<service>`, for messages. */
export function describeHub(key: HubPublicKey): string {
  return `${key.hubId} (${roleName(key.role)})`;
}
