/**
 * The device's start check that its key file is the one its hubs enrolled (docs/PROTOCOL.md §10.4):
 * every public key the provisioning file's `enrolled` lists (`device`, `mm` when enrolled, each
 * `sm:<service>`) must be the public key of the matching secret in the key file. Without it, a
 * stale or wrong key file signs requests the hubs cannot attribute: they answer with silence, and
 * the device resets on timeouts forever without saying why. Errors name the instance and both key
 * ids (public), never a secret.
 */
import { cryptoBackend, hex, keyIdOf } from '../crypto/index.ts';
import type { DeviceKeyFile } from './device-keys.ts';
import type { Provisioning } from './provisioning.ts';

/** The key file does not hold the keys the provisioning file says were enrolled. */
export class EnrolledKeyError extends Error {
  override readonly name = 'EnrolledKeyError';
  constructor(
    message: string,
    /** The instance whose key is wrong or missing (`device`, `mm`, `sm:<service>`); undefined for a wrong device id. */
    readonly instance: string | undefined,
    /** The key id the hubs enrolled for it (hex), when known. */
    readonly enrolledKeyId: string | undefined,
    /** The key id the key file holds for it (hex); undefined when the key file has none. */
    readonly keyFileKeyId: string | undefined,
  ) {
    super(message);
  }
}

const node = cryptoBackend('node');

/** The key id (docs/PROTOCOL.md §3.2: first 16 bytes of SHA-512 of the public key) in hex. */
function keyIdHex(publicKey: Uint8Array): string {
  return hex(keyIdOf(node, publicKey));
}

/** The public key the key file holds for `instance`, derived from its secret; undefined when it has none. */
function keyFilePublicKey(keys: DeviceKeyFile, instance: string): Uint8Array | undefined {
  const seed =
    instance === 'device'
      ? keys.device
      : instance === 'mm'
        ? keys.mm
        : instance.startsWith('sm:')
          ? keys.services[instance.slice(3)]
          : undefined;
  return seed === undefined ? undefined : node.publicKeyOf(seed);
}

/**
 * Throws EnrolledKeyError unless `keys` (read from `keysPath`) is for the provisioned device and
 * holds, for every instance in `prov.enrolled`, the secret of the enrolled public key.
 * `provisionPath` names the provisioning file in the message.
 */
export function checkEnrolledKeys(prov: Provisioning, keys: DeviceKeyFile, keysPath: string, provisionPath: string): void {
  if (keys.deviceId !== prov.deviceId) {
    throw new EnrolledKeyError(
      `${keysPath} holds the keys of device ${keys.deviceId}, but ${provisionPath} is for ${prov.deviceId}: give the device the key file that was enrolled for ${prov.deviceId}`,
      undefined,
      undefined,
      undefined,
    );
  }
  for (const [instance, enrolledKey] of Object.entries(prov.enrolled)) {
    const enrolledId = keyIdHex(enrolledKey);
    const own = keyFilePublicKey(keys, instance);
    if (own === undefined) {
      throw new EnrolledKeyError(
        `${keysPath} has no ${instance} key, but ${provisionPath} says the hubs enrolled one for ${prov.deviceId}/${instance} (key id ${enrolledId}): ` +
          `use the key file that was enrolled, or enroll this one again (dominion enroll --device <id>.pub.json …) and use the provisioning file it writes`,
        instance,
        enrolledId,
        undefined,
      );
    }
    const ownId = keyIdHex(own);
    if (hex(own) !== hex(enrolledKey)) {
      throw new EnrolledKeyError(
        `${keysPath}: the ${instance} key (key id ${ownId}) is not the one the hubs enrolled for ${prov.deviceId}/${instance} (key id ${enrolledId}, in ${provisionPath}); ` +
          `its requests would go unanswered: use the key file that was enrolled, or enroll this one again (dominion enroll --device <id>.pub.json …) and use the provisioning file it writes`,
        instance,
        enrolledId,
        ownId,
      );
    }
  }
}

/**
 * Every device runs `mm` — its only link to the hubs — so the IH must hold K_MM. A device enrolled
 * without it (`dominion keys new --without-mm`) would run an `mm` whose requests the IH cannot
 * attribute: unanswered, its VM restarted at every deadline, the device's link flapping. Refused.
 */
export function requireMmEnrolled(prov: Provisioning, provisionPath: string): void {
  if (prov.enrolled.mm !== undefined) return;
  throw new EnrolledKeyError(
    `${provisionPath}: ${prov.deviceId} was enrolled without an mm key, but every device runs mm (its link to the hubs): ` +
      `the IH would answer none of mm's requests and restart it at every deadline; make the device's keys with an mm key ` +
      `(dominion keys new --device ${prov.deviceId} without --without-mm), enroll them, and use the provisioning file that writes`,
    'mm',
    undefined,
    undefined,
  );
}
