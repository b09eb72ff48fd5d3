/**
 * The door to `actors/hub/`: the infrastructure hub (IH) and service hubs (SH_k) that answer ticket
 * requests (docs/ARCHITECTURE.md §2, §7). `decide` is the pure decision (request + read-only view →
 * decision + effects); `HubCore` binds it to a hub's key and store; a `HubStore` commits effects in
 * batches (in memory, or SQLite in sqlite/); `HubServer` carries it over MQTT and publishes after
 * the commit; `SqliteHub` is one whole hub process. Key files, enrolment and the device's
 * provisioning file live here too.
 */
export { decide, expirySeconds, type HubIdentityKey } from './decide.ts';
export { decideBoot } from './decide-boot.ts';
export { decideImage } from './decide-image.ts';
export type { BootDecision, HubDecision, HubReply, ImageDecision, TicketDecision } from './decision.ts';
export { exchangeOf } from './exchange.ts';
export { authenticate, type Authenticated } from './authenticate.ts';
export {
  ImageGate,
  IMAGE_ANSWERS_PER_NONCE,
  IMAGE_BURST_CHUNKS,
  IMAGE_CHUNKS_PER_SECOND,
  IMAGE_MEMORY_MS,
  type ImageGateEffect,
  type ImageGateLimits,
  type ImageGateView,
} from './image-gate.ts';
export { bootControlsOf, DEFAULT_INITIAL_TIMEOUT_MS, NO_BOOT_CONTROLS, type BootControls } from './boot-policy.ts';
export {
  labelsOfInstance,
  MemoryReleases,
  releaseLabels,
  type PublishedRelease,
  type ReleaseCatalog,
  type ReleaseSummary,
} from './releases.ts';
export {
  cohortPoint,
  DEFAULT_MAX_ROLLBACKS,
  inCohort,
  inCohortAt,
  ROLLOUT_PROGRESS,
  rolloutFailure,
  rolloutProgress,
  type RolloutProgress,
  type RolloutState,
  type StoredRolloutState,
} from './rollout.ts';
export { instanceRuntimeOf, type BootImageRecord, type InstanceRuntime, type SlotRecord, type UpdateStateName } from './runtime-record.ts';
export {
  PendingBatch,
  writesNothing,
  type BootRecord,
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
  type BootOutcome,
  type BootReason,
  type DecisionReason,
  type Exchange,
  type ImageOutcome,
  type ImageReason,
  type HubOutcome,
  type InstanceState,
  type OperatorReason,
  type PolicyCode,
  type RefusalReason,
  type RolloutAuditReason,
  type StateReason,
} from './reasons.ts';
export { HubServer, type HubServerOptions, type HubServerStats } from './hub-server.ts';
export { decisionLevel, logHubServer } from './hub-log.ts';
export { SqliteHub, type SqliteHubOptions, type SqliteHubStats } from './sqlite-hub.ts';
export { PgHub, type PgHubOptions, type PgHubStats } from './pg-hub.ts';
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
  MIN_DEFERRAL_MS,
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
export type { ExchangeCounts, HubCounterSnapshot } from './counters.ts';
export { dominates, IH_ROLE, hubName, roleName, serviceHubRole, type HubRole } from './role.ts';
export { encodeHubStatus, parseHubStatus, processStatusTopic, type BrokerState, type HubStatus, type SubscriptionMode } from './status.ts';
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
export {
  enrollDevice,
  enrollDeviceOnHubs,
  EnrollmentError,
  type EnrollDeviceOptions,
  type EnrollResult,
  type EnrollTarget,
} from './enrollment.ts';
export {
  BrokerSyncError,
  collectBrokerAccounts,
  mergeBrokerAccounts,
  syncBrokerFiles,
  writeBrokerFiles,
  type BrokerSyncOptions,
  type BrokerSyncResult,
  type CollectedAccounts,
} from './broker-sync.ts';
export * as sqlite from './sqlite/index.ts';
export {
  HubStoreError,
  SqliteHubStore,
  fleetView,
  readAudit,
  type FleetImage,
  type FleetRow,
  type HubIdentity,
  type StoredAuditEntry,
} from './sqlite/index.ts';
