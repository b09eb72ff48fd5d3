/**
 * The door to `actors/hub/`: the infrastructure hub (IH) and service hubs (SH_k) that answer ticket
 * requests (docs/ARCHITECTURE.md §2, §7). `decide` is the pure decision (request + read-only view →
 * decision + effects); `HubCore` binds it to a hub's key and store; a `HubStore` commits effects in
 * batches (in memory, or SQLite in sqlite/); `HubServer` carries it over MQTT and publishes after
 * the commit; `SqliteHub` is one whole hub process. Key files, enrolment and the device's
 * provisioning file live here too.
 */
export { decide, expirySeconds, type HubDecision, type HubIdentityKey, type HubReply } from './decide.ts';
export {
  PendingBatch,
  type ActivityEffect,
  type AnsweredNonce,
  type Decided,
  type HubEffects,
  type HubStore,
  type HubView,
} from './effects.ts';
export { HubCore, MemoryHubStore, type HubCoreOptions, type HubCoreParts } from './hub-core.ts';
export {
  instanceStateOf,
  parseAuditReason,
  parseDecisionReason,
  ReasonError,
  type AuditReason,
  type DecisionReason,
  type HubOutcome,
  type InstanceState,
  type OperatorReason,
  type PolicyCode,
  type RefusalReason,
  type StateReason,
} from './reasons.ts';
export { HubServer, type HubServerOptions, type HubServerStats } from './hub-server.ts';
export { SqliteHub, type SqliteHubOptions, type SqliteHubStats } from './sqlite-hub.ts';
export {
  MemoryRegistry,
  RegistryError,
  type EnrolledDevice,
  type DeviceState,
  type EnrolledKey,
  type HubRegistry,
  type InstanceActivity,
  type RegistryErrorCode,
} from './registry.ts';
export {
  checkInstancePolicy,
  checkUpdateTarget,
  evaluateInstancePolicy,
  MemoryPolicy,
  PolicyError,
  type HubPolicy,
  type InstancePolicy,
  type MemoryPolicyRules,
  type OperatorControls,
  type PolicyVerdict,
  type UpdateTarget,
} from './policy.ts';
export { parsePolicyDocument, parseUpdateTarget, policyDocumentJson, resolveInstancePolicy, updateTargetJson } from './policy-doc.ts';
export { MemoryAuditLog, type AuditEntry, type AuditLog, type AuditOutcome } from './audit.ts';
export { MemoryReplayGuard, replayKey, requestRef, type ReplayGuard } from './replay.ts';
export type { HubCounterSnapshot } from './counters.ts';
export { dominates, IH_ROLE, roleName, serviceHubRole, type HubRole } from './role.ts';
export { encodeHubStatus, parseHubStatus, processStatusTopic, type HubStatus, type SubscriptionMode } from './status.ts';
export { compareVersions, parseVersion } from './version.ts';
export {
  describeHub,
  newHubKey,
  readHubKeyFile,
  readHubPublicFile,
  writeHubKeyFile,
  writeHubPublicFile,
  type HubKey,
  type HubKeyPair,
  type HubPublicKey,
} from './keyfiles.ts';
// The device's key and provisioning files live in actors/provisioning; the hub writes them at enrolment.
export {
  checkDeviceId,
  DEVICE_ID_PATTERN,
  devicePublicKeys,
  DEVICE_KEYS_KIND,
  DEVICE_PUBLIC_KIND,
  KeyFileError,
  loadProvisioning,
  newDeviceKeys,
  parseProvisioning,
  provisioningJson,
  ProvisioningError,
  readDeviceKeysFile,
  readDevicePublicFile,
  writeDeviceKeysFile,
  writeDevicePublicFile,
  writeProvisioning,
  PROVISIONING_KIND,
  PROVISIONING_VERSION,
  type DevicePublicKeys,
  type DeviceKeyFile,
  type DeviceKeys,
  type HubPin,
  type HubPins,
  type Provisioning,
  type ProvisioningInput,
} from '../provisioning/index.ts';
export { enrollDevice, EnrollmentError, type EnrollDeviceOptions, type EnrollResult, type EnrollTarget } from './enrollment.ts';
export * as sqlite from './sqlite/index.ts';
export {
  HubStoreError,
  SqliteHubStore,
  fleetView,
  readAudit,
  type FleetRow,
  type HubIdentity,
  type StoredAuditEntry,
} from './sqlite/index.ts';
