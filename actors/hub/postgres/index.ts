/**
 * The door to `actors/hub/postgres/`: a hub's state in PostgreSQL (docs/ARCHITECTURE.md §7.4) for
 * any number of stateless workers of one hub id — schema migrations, the asynchronous store (an
 * in-memory view refreshed by LISTEN/NOTIFY, batch commits, the cross-worker replay log), the
 * deadline sweep and the operator's changes.
 */
export { clientConfig, describeUrl, inTransaction, isPostgresUrl, openPool, type PgConnectOptions, type PgPool } from './connect.ts';
export { migratePg, PG_MIGRATIONS, PG_SCHEMA_VERSION, pgSchemaVersion, requirePgSchema, type PgMigration } from './migrations.ts';
export { decodeChange, encodeChange, notifyChange, type ConfigChange } from './config-channel.ts';
export { PgHubStore, type PgHubStoreOptions } from './store.ts';
export { PgJournal, type PgJournalStats } from './pg-journal.ts';
export { PgHistoryRecorder, pgReadHistory } from './pg-history.ts';
export { ReplayWindow } from './replay-window.ts';
export { RegistrySnapshot } from './registry-snapshot.ts';
export { pruneAnsweredNonces, sweepPgDeadlines } from './sweep.ts';
export {
  claimPgHubIdentity,
  pgChangeDeviceState,
  pgDevicePolicyText,
  pgEnrollKeys,
  pgFleetPolicyText,
  pgResumeInstance,
  pgRequireInstanceUpdate,
  pgClearInstanceUpdate,
  pgSetDevicePolicy,
  pgSetFleetPolicy,
  pgWithholdInstance,
  readPgHubIdentity,
} from './admin.ts';
export { pgBrokerUsers, pgSetDeviceBrokerCredential, pgSetHubBrokerCredential } from './credentials.ts';
export { pgFleetView, pgPolicyGaps, pgReadAudit } from './fleet.ts';
export { COPIED_TABLES, copySqliteToPg, type CopyReport } from './copy-sqlite.ts';
export { pgReleaseTarget } from './release-target.ts';
export { pgListReleases, pgPinnedReleaseKey, pgPublishArtifacts } from './releases.ts';
export { pgAuditSummary, pgPruneAudit } from './retention.ts';
export { pgHaltRollouts, pgResumeRollout, pgRolloutStatus, pgStartRollout } from './rollouts.ts';
export { pgCountRefusals } from './refusals.ts';
export { PgRolloutCounter } from './rollout-counter.ts';
export { pgCheckDatabase, type PgCheckReport } from './check.ts';
