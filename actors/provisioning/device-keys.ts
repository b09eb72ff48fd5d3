/**
 * A device's key files:
 *
 *   dominion.device-keys    K_I, K_MM, K_SM_k: { deviceId, keys: { <instance>: { publicKey, secretKey } } }  mode 0600
 *   dominion.device-public  the same without secrets: { deviceId, keys: { <instance>: <publicKey> } }
 *
 * Made by `dominion keys new --device`, read by enrolment (the public file) and by the device (the
 * secret one): K_I goes to `sw`, K_MM and K_SM_k to the hypervisor.
 */
import { cryptoBackend, generateSecretKey, hex } from '../crypto/index.ts';
import { serviceInstance, type Instance } from '../../proto/index.ts';
import { checkDeviceId, checkInstance, KEY_FILE_VERSION, KeyFileError, keyBytes, keyRecord, readKeyJson, writeJson, writeSecretJson } from './key-file.ts';

export const DEVICE_KEYS_KIND = 'dominion.device-keys';
export const DEVICE_PUBLIC_KIND = 'dominion.device-public';
const VERSION = KEY_FILE_VERSION;

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

export function readDeviceKeysFile(path: string): DeviceSecretKeys {
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
  if (device === undefined || mm === undefined) throw new KeyFileError(`${path}: keys.device and keys.mm are required`);
  const services = Object.fromEntries([...seeds].filter(([i]) => i.startsWith('sm:')).map(([i, k]) => [i.slice(3), k]));
  return { deviceId, device, mm, services };
}

/** Reads a device's public file — or its secret key file, using only the public keys. */
export function readDevicePublicFile(path: string): DevicePublicKeys {
  const doc = readKeyJson(path, [DEVICE_PUBLIC_KIND, DEVICE_KEYS_KIND], false);
  const deviceId = checkDeviceId(doc.deviceId, `${path}: deviceId`);
  const keys = keyRecord(doc.keys, path, 'keys');
  const out = Object.entries(keys).map(([instance, entry]) => {
    checkInstance(instance, path);
    const text = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>).publicKey : entry;
    return { instance: instance as Instance, publicKey: keyBytes(text, path, `keys.${instance}`, 32) };
  });
  if (!out.some((k) => k.instance === 'device') || !out.some((k) => k.instance === 'mm')) throw new KeyFileError(`${path}: keys for device and mm are required`);
  return { deviceId, keys: out };
}
