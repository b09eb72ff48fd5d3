/**
 * The dashboard's JSON shapes (docs/DASHBOARD.md) and how one device's state is told from its
 * instances': REVOKED / QUARANTINED from the device's own state, else the worst instance in the
 * order TIMEOUT, FAIL, WITHHELD, UPDATE, OK; NEVER only when no instance ever asked.
 */
import type { FleetImage, FleetRow, StoredAuditEntry } from '../actors/hub/sqlite/index.ts';

export const DEVICE_STATES = ['OK', 'WITHHELD', 'UPDATE', 'TIMEOUT', 'FAIL', 'QUARANTINED', 'REVOKED', 'NEVER'] as const;
export type DeviceStateName = (typeof DEVICE_STATES)[number];
export type InstanceStateName = 'OK' | 'WITHHELD' | 'UPDATE' | 'TIMEOUT' | 'FAIL' | 'NEVER';

/** Higher is worse; NEVER lowest so one instance that asked outranks one that never did. */
const INSTANCE_RANK: Readonly<Record<InstanceStateName, number>> = { NEVER: 0, OK: 1, UPDATE: 2, WITHHELD: 3, FAIL: 4, TIMEOUT: 5 };

export function instanceRank(s: InstanceStateName): number {
  return INSTANCE_RANK[s];
}

/** A fleet row's instance state (fleet.ts names) in the dashboard's words. */
export function instanceStateOf(state: string): InstanceStateName {
  switch (state) {
    case 'ok':
      return 'OK';
    case 'withheld':
      return 'WITHHELD';
    case 'update-required':
      return 'UPDATE';
    case 'timeout':
      return 'TIMEOUT';
    case 'fail':
      return 'FAIL';
    case 'never':
      return 'NEVER';
    default:
      // A row written before instance states existed ('unknown'): it asked, so not NEVER.
      return 'OK';
  }
}

/** One line of the device table. */
export interface DeviceListRow {
  readonly deviceId: string;
  readonly state: DeviceStateName;
  readonly reason: string | null;
  readonly instances: number;
  readonly lastRequestAtMs: number | null;
  readonly nextDeadlineMs: number | null;
  readonly bootCount: number | null;
  readonly firmware: string | null;
}

export interface InstanceJson {
  readonly instance: string;
  readonly hub: string;
  readonly state: InstanceStateName;
  readonly reason: string | null;
  readonly lastRequestAtMs: number | null;
  readonly lastTicketAtMs: number | null;
  readonly lastDeferralMs: number | null;
  readonly deadlineMs: number | null;
  readonly images: ReadonlyArray<{
    readonly label: string;
    readonly version: number | null;
    readonly slot: string | null;
    readonly update: string | null;
    readonly updateVersion: number | null;
  }>;
  readonly recovery: boolean;
}

export interface ResetJson {
  readonly atMs: number;
  readonly bootCount: number | null;
  readonly reason: string;
  readonly firmware: string | null;
}

export interface AuditJson {
  readonly id: number;
  readonly atMs: number;
  readonly hub: string;
  readonly instance: string | null;
  readonly outcome: string;
  readonly reason: string;
  readonly detail: string | null;
  readonly deferralMs: number | null;
}

export interface DeviceDetail {
  readonly deviceId: string;
  readonly state: DeviceStateName;
  readonly deviceState: 'active' | 'quarantined' | 'revoked';
  readonly stateReason: string | null;
  readonly instances: readonly InstanceJson[];
  readonly boot: { readonly atMs: number; readonly count: number | null; readonly outcome: string; readonly reason: string } | null;
  readonly resets: readonly ResetJson[];
  readonly audit: readonly AuditJson[];
}

/**
 * What one device's rows say, folded row by row (across hubs too): the device table's line and the
 * instant its state changes without any write (an unswept deadline passing), `flipAtMs`.
 */
export class DeviceFold {
  deviceState: 'active' | 'quarantined' | 'revoked' = 'active';
  stateReason: string | null = null;
  worst: InstanceStateName = 'NEVER';
  worstReason: string | null = null;
  instances = 0;
  lastRequestAtMs: number | null = null;
  nextDeadlineMs: number | null = null;
  bootCount: number | null = null;
  firmware: string | null = null;
  flipAtMs: number | null = null;
  /** Whether a `device` row was folded in (bootCount and firmware come from it). */
  sawDevice = false;

  constructor(readonly deviceId: string) {}

  /** Folds in another fold of the same device (its rows from another hub): as if its rows were added here. */
  absorb(o: DeviceFold): void {
    if (stateWeight(o.deviceState) > stateWeight(this.deviceState)) {
      this.deviceState = o.deviceState;
      this.stateReason = o.stateReason;
    }
    if (o.instances > 0 && (this.instances === 0 || instanceRank(o.worst) > instanceRank(this.worst))) {
      this.worst = o.worst;
      this.worstReason = o.worstReason;
    }
    this.instances += o.instances;
    this.lastRequestAtMs = later(this.lastRequestAtMs, o.lastRequestAtMs, Math.max);
    this.nextDeadlineMs = later(this.nextDeadlineMs, o.nextDeadlineMs, Math.min);
    this.flipAtMs = later(this.flipAtMs, o.flipAtMs, Math.min);
    if (o.sawDevice) {
      this.sawDevice = true;
      this.bootCount = o.bootCount;
      this.firmware = o.firmware;
    }
  }

  add(r: FleetRow, nowMs: number): void {
    if (stateWeight(r.deviceState) > stateWeight(this.deviceState)) {
      this.deviceState = r.deviceState;
      this.stateReason = r.reason ?? null;
    }
    this.instances++;
    const s = instanceStateOf(r.state);
    if (this.instances === 1 || instanceRank(s) > instanceRank(this.worst)) {
      this.worst = s;
      this.worstReason = r.deviceState === 'active' ? (r.reason ?? null) : null;
    }
    if (r.lastRequestAtMs !== undefined && (this.lastRequestAtMs === null || r.lastRequestAtMs > this.lastRequestAtMs))
      this.lastRequestAtMs = r.lastRequestAtMs;
    if (r.deadlineMs !== undefined) {
      if (this.nextDeadlineMs === null || r.deadlineMs < this.nextDeadlineMs) this.nextDeadlineMs = r.deadlineMs;
      // A deadline still ahead flips the instance to TIMEOUT/FAIL when it passes, with no write to notice.
      if (r.deadlineMs >= nowMs && (this.flipAtMs === null || r.deadlineMs < this.flipAtMs)) this.flipAtMs = r.deadlineMs;
    }
    if (r.instance === 'device') {
      this.sawDevice = true;
      this.bootCount = r.reported?.bootCount ?? r.boot?.count ?? null;
      this.firmware = r.reported?.firmwareVersion ?? null;
    }
  }

  state(): DeviceStateName {
    if (this.deviceState === 'revoked') return 'REVOKED';
    if (this.deviceState === 'quarantined') return 'QUARANTINED';
    return this.worst;
  }

  row(): DeviceListRow {
    return {
      deviceId: this.deviceId,
      state: this.state(),
      reason: this.deviceState !== 'active' ? (this.stateReason ?? this.deviceState) : this.worstReason,
      instances: this.instances,
      lastRequestAtMs: this.lastRequestAtMs,
      nextDeadlineMs: this.nextDeadlineMs,
      bootCount: this.bootCount,
      firmware: this.firmware,
    };
  }
}

/** `pick` of two optional numbers; null only when both are. */
function later(a: number | null, b: number | null, pick: (x: number, y: number) => number): number | null {
  return a === null ? b : b === null ? a : pick(a, b);
}

function stateWeight(s: 'active' | 'quarantined' | 'revoked'): number {
  return s === 'revoked' ? 2 : s === 'quarantined' ? 1 : 0;
}

export function instanceJson(r: FleetRow, hub: string): InstanceJson {
  return {
    instance: r.instance,
    hub,
    state: instanceStateOf(r.state),
    reason: r.reason ?? null,
    lastRequestAtMs: r.lastRequestAtMs ?? null,
    lastTicketAtMs: r.lastTicketAtMs ?? null,
    lastDeferralMs: r.lastDeferralMs ?? null,
    deadlineMs: r.deadlineMs ?? null,
    images: (r.images ?? []).map((i: FleetImage) => ({
      label: i.label,
      version: i.version ?? null,
      slot: i.slot ?? null,
      update: i.update ?? null,
      updateVersion: i.updateVersion ?? null,
    })),
    recovery: r.recovery === true,
  };
}

/** One audit row as the device view shows it, newest first, labelled with its hub. */
export function auditJson(e: StoredAuditEntry, hub: string): AuditJson {
  return {
    id: e.seq,
    atMs: e.atMs,
    hub,
    instance: e.instance ?? null,
    outcome: e.outcome,
    reason: e.storedReason ?? e.reason,
    detail: e.detail ?? null,
    deferralMs: e.deferralMs ?? null,
  };
}
