/**
 * The provisioning file: what a device is told at enrolment (docs/ARCHITECTURE.md §3 — devices hold hub
 * public keys, pinned at provisioning). Written by `dominion enroll`, read by the device
 * (`dominion device --provision <file>`) through `loadProvisioning`. JSON, no secrets:
 *
 *   {
 *     "kind": "dominion.provisioning",
 *     "version": 1,
 *     "deviceId": "pi-0001",
 *     "broker": "mqtts://broker.example:8883",                  (optional: the primary)
 *     "brokers": ["mqtts://broker.example:8883", "mqtts://b2.example:8883"],   (optional: in order)
 *     "brokerCa": "-----BEGIN CERTIFICATE-----\n…",            (optional: the broker's CA, PEM)
 *     "deviceKeys": "pi-0001.keys.json",                       (relative to this file, or absolute)
 *     "brokerCredential": "pi-0001.broker.json",               (optional; the same; broker-credential.ts)
 *     "hubs": {
 *       "ih":       { "id": "ih-1",       "publicKey": "<64 hex>" },
 *       "services": { "sensor": { "id": "sh-sensor", "publicKey": "<64 hex>" } }
 *     },
 *     "enrolled": { "device": "<64 hex>", "mm": "<64 hex>", "sm:sensor": "<64 hex>" },
 *     "releaseKey": "<64 hex>"                                  (optional)
 *   }
 *
 * `hubs` pins the IH (for `device` and `mm`) and one SH per service (for `sm:<service>`); a reply
 * signed by any other key is refused by the AWDT. `enrolled` lists the public keys the hubs hold for
 * this device, so the device can check at start that its key file is the one that was enrolled:
 * `device` and one `sm:<service>` per pinned service are required, `mm` only if it was enrolled.
 * `releaseKey` pins the release public key the device accepts artifacts signed with (the manifest
 * signature; `dominion device --release-pub` overrides it). `brokerCa` pins the CA the broker's TLS
 * certificate must chain to (docs/PROTOCOL.md §10.4): only with an `mqtts://` broker (or none, when
 * the device is given `--broker`); an `mqtts://` broker without it falls back to the system's CA store.
 * `brokers` lists every broker in order, the primary first, for failover (docs/ARCHITECTURE.md §7.4);
 * a file with it also says `broker` (its first entry) for older readers, and a file with `broker`
 * alone means that one broker. Each is an `mqtt(s)://` URL; with `brokerCa` every one is `mqtts://`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fromHex, hex } from '../crypto/index.ts';
import { instanceProblem, serviceInstance } from '../../proto/index.ts';
import { DEVICE_ID_PATTERN } from './key-file.ts';
// broker-url.ts, not the mqtt door: devices load this file, and the door brings in MQTT.js and Aedes.
import { parseBrokerUrl } from '../mqtt/broker-url.ts';
import { checkCaPem } from '../mqtt/ca-pem.ts';

export const PROVISIONING_KIND = 'dominion.provisioning';
export const PROVISIONING_VERSION = 1;

/** A hub pinned at provisioning: its id and Ed25519 public key. */
export interface HubPin {
  readonly id: string;
  readonly publicKey: Uint8Array;
}

/** The hubs a device pins: the IH (for `device` and `mm`) and one SH per service. */
export interface HubPins {
  readonly ih: HubPin;
  readonly services: Readonly<Record<string, HubPin>>;
}

export interface Provisioning {
  readonly deviceId: string;
  /** The primary broker: `brokers[0]`. */
  readonly broker?: string;
  /** Every broker, in order, the primary first (empty when the file names none). */
  readonly brokers: readonly string[];
  /** The broker's CA certificate(s), PEM: the pin for its TLS certificate. */
  readonly brokerCa?: string;
  /** Absolute path of the device's key file (dominion.device-keys). */
  readonly deviceKeysPath: string;
  /** Absolute path of the device's broker credential file (dominion.broker-credential), if enrolled with one. */
  readonly brokerCredentialPath?: string;
  readonly hubs: HubPins;
  /** Service names, in file order. */
  readonly services: readonly string[];
  /** Enrolled public key per instance (`device`, `mm`, `sm:<service>`). */
  readonly enrolled: Readonly<Record<string, Uint8Array>>;
  /** The release public key pinned for this device's artifacts, if provisioned. */
  readonly releaseKey?: Uint8Array;
}

export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
}

const HUB_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** More brokers than this is a mistake, not a deployment. */
export const MAX_BROKERS = 8;
const MAX_BYTES = 256 * 1024;

/** Reads and checks a provisioning file; throws ProvisioningError naming the file and field. */
export function loadProvisioning(path: string): Provisioning {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ProvisioningError(code === 'ENOENT' ? `${path}: no such provisioning file` : `${path}: cannot read (${code ?? 'error'})`);
  }
  if (text.length > MAX_BYTES) throw new ProvisioningError(`${path}: larger than ${MAX_BYTES} bytes, not a provisioning file`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ProvisioningError(`${path}: not JSON`);
  }
  return parseProvisioning(doc, path);
}

/** Checks a parsed provisioning document (`where` names it in errors; relative paths resolve against its directory). */
export function parseProvisioning(doc: unknown, where: string): Provisioning {
  const fail = (msg: string): never => {
    throw new ProvisioningError(`${where}: ${msg}`);
  };
  const d = obj(doc, 'the document', fail);
  if (d.kind !== PROVISIONING_KIND) fail(`not a provisioning file (kind must be "${PROVISIONING_KIND}")`);
  if (d.version !== PROVISIONING_VERSION) fail(`format version ${String(d.version)} is not supported (expected ${PROVISIONING_VERSION})`);
  if (typeof d.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(d.deviceId)) fail('deviceId must be 1-64 characters of [A-Za-z0-9._-]');
  const brokers = brokerList(d.broker, d.brokers, fail);
  const broker = brokers[0];
  let brokerCa: string | undefined;
  if (d.brokerCa !== undefined) {
    if (typeof d.brokerCa !== 'string') fail('brokerCa must be PEM text (the broker CA certificate)');
    try {
      brokerCa = checkCaPem(d.brokerCa as string, 'brokerCa');
    } catch (err) {
      fail(err instanceof Error ? err.message : 'brokerCa: unusable');
    }
    const plain = brokers.find((b) => !parseBrokerUrl(b).tls);
    if (plain !== undefined)
      fail(`brokerCa pins a TLS broker, but ${brokers.length === 1 ? 'broker' : plain} is a plain mqtt:// URL (use mqtts://)`);
  }
  if (typeof d.deviceKeys !== 'string' || d.deviceKeys.length === 0) fail('deviceKeys must name the device key file');
  const keysPath = d.deviceKeys as string;
  const deviceKeysPath = isAbsolute(keysPath) ? keysPath : resolve(dirname(where), keysPath);
  let brokerCredentialPath: string | undefined;
  if (d.brokerCredential !== undefined) {
    if (typeof d.brokerCredential !== 'string' || d.brokerCredential.length === 0)
      fail('brokerCredential must name the broker credential file');
    const c = d.brokerCredential as string;
    brokerCredentialPath = isAbsolute(c) ? c : resolve(dirname(where), c);
  }
  const hubs = obj(d.hubs, 'hubs', fail);
  const ih = pin(hubs.ih, 'hubs.ih', fail);
  const servicesDoc = obj(hubs.services ?? {}, 'hubs.services', fail);
  const services: Record<string, HubPin> = {};
  for (const [name, value] of Object.entries(servicesDoc)) {
    try {
      serviceInstance(name);
    } catch {
      fail(`hubs.services: ${JSON.stringify(name.slice(0, 40))} is not a service name (1-32 of [a-z0-9-])`);
    }
    services[name] = pin(value, `hubs.services.${name}`, fail);
  }
  const enrolledDoc = obj(d.enrolled, 'enrolled', fail);
  const enrolled: Record<string, Uint8Array> = {};
  for (const [instance, value] of Object.entries(enrolledDoc)) {
    const problem = instanceProblem(instance);
    if (problem !== undefined) fail(`enrolled: ${JSON.stringify(instance.slice(0, 40))} is not an instance (${problem})`);
    enrolled[instance] = key(value, `enrolled.${instance}`, fail);
  }
  // `mm` is optional: a device may be enrolled for `device` (and its services) without K_MM.
  for (const needed of ['device', ...Object.keys(services).map((s) => serviceInstance(s))]) {
    if (enrolled[needed] === undefined) fail(`enrolled.${needed} is missing`);
  }
  for (const instance of Object.keys(enrolled)) {
    if (instance.startsWith('sm:') && services[instance.slice(3)] === undefined)
      fail(`enrolled has ${instance} but hubs.services has no hub for it`);
  }
  const releaseKey = d.releaseKey === undefined ? undefined : key(d.releaseKey, 'releaseKey', fail);
  return {
    deviceId: d.deviceId as string,
    ...(broker !== undefined ? { broker } : {}),
    brokers,
    ...(brokerCa !== undefined ? { brokerCa } : {}),
    deviceKeysPath,
    ...(brokerCredentialPath !== undefined ? { brokerCredentialPath } : {}),
    hubs: { ih, services },
    services: Object.keys(services),
    enrolled,
    ...(releaseKey !== undefined ? { releaseKey } : {}),
  };
}

export interface ProvisioningInput {
  readonly deviceId: string;
  /** One broker; or `brokers`, every broker in order (the primary first). */
  readonly broker?: string;
  readonly brokers?: readonly string[];
  /** PEM text of the broker's CA certificate(s). */
  readonly brokerCa?: string;
  /** As it should appear in the file: relative to the file's directory, or absolute. */
  readonly deviceKeys: string;
  /** The broker credential file, named as `deviceKeys` is. */
  readonly brokerCredential?: string;
  readonly ih: HubPin;
  readonly services: Readonly<Record<string, HubPin>>;
  readonly enrolled: ReadonlyArray<{ readonly instance: string; readonly publicKey: Uint8Array }>;
  readonly releaseKey?: Uint8Array;
}

/** The JSON text of a provisioning file (checked by parsing it back before it is returned). */
export function provisioningJson(input: ProvisioningInput, where = 'provisioning'): string {
  const doc = {
    kind: PROVISIONING_KIND,
    version: PROVISIONING_VERSION,
    deviceId: input.deviceId,
    ...brokerFields(input),
    ...(input.brokerCa !== undefined ? { brokerCa: input.brokerCa } : {}),
    deviceKeys: input.deviceKeys,
    ...(input.brokerCredential !== undefined ? { brokerCredential: input.brokerCredential } : {}),
    hubs: {
      ih: { id: input.ih.id, publicKey: hex(input.ih.publicKey) },
      services: Object.fromEntries(Object.entries(input.services).map(([s, h]) => [s, { id: h.id, publicKey: hex(h.publicKey) }])),
    },
    enrolled: Object.fromEntries(input.enrolled.map((k) => [k.instance, hex(k.publicKey)])),
    ...(input.releaseKey !== undefined ? { releaseKey: hex(input.releaseKey) } : {}),
  };
  parseProvisioning(doc, where);
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function writeProvisioning(path: string, input: ProvisioningInput): void {
  writeFileSync(path, provisioningJson(input, path), { mode: 0o644 });
}

type Fail = (msg: string) => never;

/** `broker` (the primary, for older readers) and, with more than one, `brokers` in order. */
function brokerFields(input: ProvisioningInput): { broker?: string; brokers?: string[] } {
  const list = input.brokers ?? (input.broker !== undefined ? [input.broker] : []);
  if (input.brokers !== undefined && input.broker !== undefined && input.broker !== input.brokers[0])
    throw new ProvisioningError(`broker ${input.broker} is not the first of brokers`);
  if (list.length === 0) return {};
  return list.length === 1 ? { broker: list[0]! } : { broker: list[0]!, brokers: [...list] };
}

/** The brokers a document names, in order: `brokers`, else `broker` alone; each a broker URL, none twice. */
function brokerList(one: unknown, many: unknown, fail: Fail): string[] {
  const url = (value: unknown, field: string): string => {
    if (typeof value !== 'string') fail(`${field} must be an mqtt:// or mqtts:// URL`);
    try {
      parseBrokerUrl(value as string);
    } catch (err) {
      fail(`${field}: ${err instanceof Error ? err.message : 'unusable URL'}`);
    }
    return value as string;
  };
  const primary = one === undefined ? undefined : url(one, 'broker');
  if (many === undefined) return primary === undefined ? [] : [primary];
  if (!Array.isArray(many) || many.length === 0 || many.length > MAX_BROKERS)
    fail(`brokers must be a list of 1-${MAX_BROKERS} broker URLs, the primary first`);
  const list = (many as unknown[]).map((b, i) => url(b, `brokers[${i}]`));
  const twice = list.find((b, i) => list.indexOf(b) !== i);
  if (twice !== undefined) fail(`brokers names ${twice} twice`);
  if (primary !== undefined && primary !== list[0]) fail(`broker (${primary}) must be the first of brokers (${list[0]})`);
  return list;
}

function obj(value: unknown, field: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${field} must be an object`);
  return value as Record<string, unknown>;
}

function pin(value: unknown, field: string, fail: Fail): HubPin {
  const p = obj(value, field, fail);
  if (typeof p.id !== 'string' || !HUB_ID.test(p.id)) fail(`${field}.id must be a hub id (1-64 of [A-Za-z0-9._:-])`);
  return { id: p.id as string, publicKey: key(p.publicKey, `${field}.publicKey`, fail) };
}

function key(value: unknown, field: string, fail: Fail): Uint8Array {
  if (typeof value !== 'string' || !/^[0-9a-fA-F]{64}$/.test(value)) fail(`${field} must be a 32-byte public key in hex (64 digits)`);
  return fromHex(value as string);
}
