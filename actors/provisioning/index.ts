/**
 * The door to `actors/provisioning/`: what a device is given at enrolment and reads at every start —
 * its key file (K_I, K_MM, K_SM_k) and its provisioning file (device id, pinned hubs, release key,
 * broker) — and the key-file toolkit the hub's own key files use. No SQLite, no MQTT client: a
 * device loads this room and nothing of the hub's.
 */
export {
  checkDeviceId,
  checkInstance,
  DEVICE_ID_PATTERN,
  KEY_FILE_VERSION,
  KeyFileError,
  keyBytes,
  keyRecord,
  readKeyJson,
  writeJson,
  writeSecretJson,
} from './key-file.ts';
export {
  DEVICE_KEYS_KIND,
  DEVICE_PUBLIC_KIND,
  devicePublicKeys,
  newDeviceKeys,
  readDeviceKeysFile,
  readDevicePublicFile,
  requireMmKey,
  writeDeviceKeysFile,
  writeDevicePublicFile,
  type DevicePublicKeys,
  type DeviceKeyFile,
  type DeviceKeys,
  type NewDeviceKeysOptions,
} from './device-keys.ts';
export { checkEnrolledKeys, EnrolledKeyError, requireMmEnrolled } from './enrolled-keys.ts';
export { BROKER_CREDENTIAL_KIND, readBrokerCredentialFile, writeBrokerCredentialFile, type BrokerCredential } from './broker-credential.ts';
export {
  loadProvisioning,
  parseProvisioning,
  provisioningJson,
  ProvisioningError,
  writeProvisioning,
  PROVISIONING_KIND,
  PROVISIONING_VERSION,
  type HubPin,
  type HubPins,
  type Provisioning,
  type ProvisioningInput,
} from './provisioning.ts';
