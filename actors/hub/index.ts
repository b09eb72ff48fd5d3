/**
 * The door to `actors/hub/`: the infrastructure hub (IH) and service hubs (SH_k) that answer ticket
 * requests (ARCHITECTURE.md §2, §7). `HubCore` decides (pure, no I/O); `HubServer` carries it over
 * MQTT. Registry, policy and audit are interfaces with in-memory implementations, to be joined by
 * SQLite-backed ones.
 */
export { HubCore, type HubCoreOptions, type HubDecision, type HubOutcome, type HubReply, type RefusalReason } from './hub-core.ts';
export { HubConfigError, HubServer, type HubServerOptions, type HubServerStats } from './hub-server.ts';
export { MemoryRegistry, RegistryError, type DeviceRecord, type DeviceState, type EnrolledKey, type HubRegistry, type InstanceActivity, type RegistryErrorCode } from './registry.ts';
export {
  MemoryPolicy,
  PolicyError,
  type HubPolicy,
  type InstancePolicy,
  type MemoryPolicyRules,
  type PolicyCode,
  type PolicyVerdict,
  type UpdateTarget,
} from './policy.ts';
export { MemoryAuditLog, type AuditEntry, type AuditLog } from './audit.ts';
export type { HubCounterSnapshot } from './counters.ts';
export { dominatedInstances, dominates, IH_ROLE, roleName, serviceHubRole, type HubRole } from './role.ts';
export { encodeHubStatus, parseHubStatus, type HubStatus, type SubscriptionMode } from './status.ts';
export { compareVersions, parseVersion } from './version.ts';
