/**
 * The door to `actors/hub/sqlite/`: a hub's state in one SQLite file (better-sqlite3 12.x, WAL) —
 * registry, policy, operator holds, instance activity and deadlines, answered nonces, and the
 * append-only audit log — with forward-only migrations, batched commits, the deadline sweep and
 * the operator's changes.
 */
export { openHubDatabase, type OpenHubDatabaseOptions, type SqliteDatabase } from './database.ts';
export { HubStoreError, type HubStoreErrorCode } from './errors.ts';
export {
  checkDatabaseFile,
  checkIntegrity,
  corruptDatabaseError,
  MAX_REPORTED_PROBLEMS,
  type IntegrityCheckKind,
  type IntegrityReport,
} from './integrity.ts';
export { migrate, MIGRATIONS, SCHEMA_VERSION, schemaVersion, type Migration } from './migrations.ts';
export { SqliteHubStore, SqlitePolicy, type SqliteHubStoreOptions } from './store.ts';
export { WriteJournal, type ActivityObserver, type JournalStats } from './journal.ts';
export { sweepDeadlines, type SweepResult } from './sweep.ts';
export { ReplayLog, type ReplayLogOptions } from './replay-log.ts';
export { auditSummary, pruneAudit, pruneCut, PRUNE_BATCH, type AuditSummaryRow, type PruneOptions, type PruneResult } from './retention.ts';
export { ConfigCache } from './config-cache.ts';
export {
  listReleases,
  pinnedReleaseKey,
  publishArtifacts,
  readRelease,
  ReleaseError,
  SqliteReleases,
  type PublishedImage,
  type PublishOptions,
  type PublishResult,
  type ReleaseErrorCode,
} from './releases.ts';
export { releaseTarget } from './release-target.ts';
export {
  haltRollouts,
  MAX_ROLLBACKS_LIMIT,
  resumeRollout,
  RolloutCounter,
  rolloutStatus,
  startRollout,
  type CohortSize,
  type HaltRollouts,
  type ResumeRollout,
  type Rollout,
  type RolloutChange,
  type RolloutQuery,
  type RolloutStatus,
  type StartRollout,
} from './rollouts.ts';
export { HISTORY_KEEP, HistoryRecorder, readHistory, type HistoryEntry, type HistoryQuery, type HistorySource } from './history.ts';
export { RefusalCounter, type DeviceRefusals } from './refusals.ts';
export { fleetView, readAudit, type AuditQuery, type FleetImage, type FleetRow, type StoredAuditEntry } from './fleet.ts';
export {
  changeDeviceState,
  claimHubIdentity,
  clearInstanceUpdate,
  configVersion,
  devicePolicyText,
  enrollKeys,
  fleetPolicyText,
  onConfigChange,
  policyGaps,
  readHubIdentity,
  requireInstanceUpdate,
  resumeInstance,
  setDevicePolicy,
  setFleetPolicy,
  withholdInstance,
  type EnrollKey,
  type EnrollOptions,
  type HubIdentity,
  type PolicyGap,
  type StateChange,
} from './admin.ts';
export {
  brokerCredentialHash,
  brokerAccountsOf,
  brokerUsers,
  setBrokerCredential,
  setDeviceBrokerCredential,
  setHubBrokerCredential,
  type BrokerAccounts,
  type CredentialRow,
} from './credentials.ts';
