/**
 * A device's key files (specified in docs/PROTOCOL.md, "Device key files"):
 *
 *   dominion.device-keys    K_I, K_MM, K_SM_k: { deviceId, keys: { <instance>: { publicKey, secretKey } } }  mode 0600
 *   dominion.device-public  the same without secrets: { deviceId, keys: { <instance>: <publicKey> } }
 *
 * Made by `dominion keys new --device`, read by enrolment (the public file) and by the device (the
 * secret one): K_I goes to `sw`, K_MM and K_SM_k to the hypervisor.
 *
 * `device` (K_I) is required. `mm` (K_MM) is optional: a device enrolled without it gets tickets for
 * `device` (and its services) only, and its IH holds no `mm` key, so a request signed for `mm` is
 * refused as from an unknown signer. Whoever runs the `mm` AWDT needs K_MM: `requireMmKey` says so.
 */
import { cryptoBackend, generateSecretKey, hex } from '../crypto/index.ts';
import { serviceInstance, type Instance } from '../../proto/index.ts';
import {
  checkDeviceId,
  checkInstance,
  KEY_FILE_VERSION,
  KeyFileError,
  keyBytes,
  keyRecord,
  readKeyJson,
  writeJson,
  writeSecretJson,
} from './key-file.ts';

export const DEVICE_KEYS_KIND = 'dominion.device-keys';
export const DEVICE_PUBLIC_KIND = 'dominion.device-public';
const VERSION = KEY_FILE_VERSION;

/** A device's secret keys, as its domains run with them: K_I for `sw`, K_MM and K_SM_k for the hypervisor. */
export interface DeviceKeys {
  /** K_I seed: `sw` only. */
  readonly device: Uint8Array;
  /** K_MM seed: the hypervisor only. */
  readonly mm: Uint8Array;
  /** K_SM_k seeds by service name: the hypervisor only. */
  readonly services: Readonly<Record<string, Uint8Array>>;
}

/** What a device key file holds: the device's id and its keys, where K_MM may be absent (a device enrolled for `device` only). */
export interface DeviceKeyFile extends Omit<DeviceKeys, 'mm'> {
  readonly deviceId: string;
  readonly mm?: Uint8Array;
}

export interface NewDeviceKeysOptions {
  /** Make a K_MM too (default true). Without it the device can be enrolled for `device` only. */
  readonly mm?: boolean;
}

export interface DevicePublicKeys {
  readonly deviceId: string;
  readonly keys: ReadonlyArray<{ readonly instance: Instance; readonly publicKey: Uint8Array }>;
}

const node = cryptoBackend('node');

export function newDeviceKeys(deviceId: string, services: readonly string[], options: NewDeviceKeysOptions = {}): DeviceKeyFile {
  checkDeviceId(deviceId, 'device id');
  for (const s of services) serviceInstance(s); // throws for a bad service name
  if (new Set(services).size !== services.length) throw new KeyFileError('a service is named twice');
  return {
    deviceId,
    device: generateSecretKey(),
    ...(options.mm === false ? {} : { mm: generateSecretKey() }),
    services: Object.fromEntries(services.map((s) => [s, generateSecretKey()])),
  };
}

export function devicePublicKeys(keys: DeviceKeyFile): DevicePublicKeys {
  return {
    deviceId: keys.deviceId,
    keys: [
      { instance: 'device', publicKey: node.publicKeyOf(keys.device) },
      ...(keys.mm !== undefined ? [{ instance: 'mm' as const, publicKey: node.publicKeyOf(keys.mm) }] : []),
      ...Object.entries(keys.services).map(([s, seed]) => ({ instance: serviceInstance(s), publicKey: node.publicKeyOf(seed) })),
    ],
  };
}

/**
 * `keys` with K_MM, or a KeyFileError naming `where`: for whoever runs the `mm` AWDT (the device
 * runtime's hypervisor), which cannot sign `mm` requests without it.
 */
export function requireMmKey(keys: DeviceKeyFile, where: string): DeviceKeyFile & DeviceKeys {
  const mm = keys.mm;
  if (mm === undefined) {
    throw new KeyFileError(
      `${where}: device ${keys.deviceId} has no mm key (keys.mm): it was made for the device instance only, and running mm needs K_MM`,
    );
  }
  return { ...keys, mm };
}

export function writeDeviceKeysFile(path: string, keys: DeviceKeyFile): void {
  const pub = devicePublicKeys(keys);
  const seeds: Record<string, Uint8Array> = {
    device: keys.device,
    ...(keys.mm !== undefined ? { mm: keys.mm } : {}),
    ...Object.fromEntries(Object.entries(keys.services).map(([s, k]) => [serviceInstance(s), k])),
  };
  writeSecretJson(path, {
    kind: DEVICE_KEYS_KIND,
    version: VERSION,
    deviceId: keys.deviceId,
    keys: Object.fromEntries(pub.keys.map((k) => [k.instance, { publicKey: hex(k.publicKey), secretKey: hex(seeds[k.instance]!) }])),
  });
}

export function writeDevicePublicFile(path: string, keys: DevicePublicKeys): void {
  writeJson(
    path,
    {
      kind: DEVICE_PUBLIC_KIND,
      version: VERSION,
      deviceId: keys.deviceId,
      keys: Object.fromEntries(keys.keys.map((k) => [k.instance, hex(k.publicKey)])),
    },
    0o644,
  );
}

export function readDeviceKeysFile(path: string): DeviceKeyFile {
  const doc = readKeyJson(path, DEVICE_KEYS_KIND, true);
  const deviceId = checkDeviceId(doc.deviceId, `${path}: deviceId`);
  const keys = keyRecord(doc.keys, path, 'keys');
  const seeds = new Map<string, Uint8Array>();
  for (const [instance, entry] of Object.entries(keys)) {
    checkInstance(instance, path);
    const e = keyRecord(entry, path, `keys.${instance}`);
    const seed = keyBytes(e.secretKey, path, `keys.${instance}.secretKey`, 32);
    if (hex(node.publicKeyOf(seed)) !== hex(keyBytes(e.publicKey, path, `keys.${instance}.publicKey`, 32))) {
      throw new KeyFileError(`${path}: keys.${instance}.publicKey does not belong to its secretKey`);
    }
    seeds.set(instance, seed);
  }
  const device = seeds.get('device');
  const mm = seeds.get('mm');
  if (device === undefined) throw new KeyFileError(`${path}: keys.device is required`);
  const services = Object.fromEntries([...seeds].filter(([i]) => i.startsWith('sm:')).map(([i, k]) => [i.slice(3), k]));
  return { deviceId, device, ...(mm !== undefined ? { mm } : {}), services };
}

/**
 * Reads a device's public file. Its secret key file is refused by name: what reads this is the hub
 * side (enrolment), and the device's secrets must never go there (docs/PROTOCOL.md §10.2).
 */
export function readDevicePublicFile(path: string): DevicePublicKeys {
  const doc = readKeyJson(path, [DEVICE_PUBLIC_KIND, DEVICE_KEYS_KIND], false);
  const deviceId = checkDeviceId(doc.deviceId, `${path}: deviceId`);
  if (doc.kind === DEVICE_KEYS_KIND) {
    const pub = /\.keys\.json$/.test(path) ? path.replace(/\.keys\.json$/, '.pub.json') : `${deviceId}.pub.json`;
    throw new KeyFileError(
      `${path} is the device's secret key file (${DEVICE_KEYS_KIND}); secrets must not be handed to the hub side: pass ${pub} (${DEVICE_PUBLIC_KIND}, written beside it by "dominion keys new --device"), and keep ${path} on the device only`,
    );
  }
  const keys = keyRecord(doc.keys, path, 'keys');
  const out = Object.entries(keys).map(([instance, entry]) => {
    checkInstance(instance, path);
    const text = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).publicKey : entry;
    return { instance: instance as Instance, publicKey: keyBytes(text, path, `keys.${instance}`, 32) };
  });
  if (!out.some((k) => k.instance === 'device'))
    throw new KeyFileError(`${path}: a key for device is required (mm and sm:<service> are optional)`);
  return { deviceId, keys: out };
}
