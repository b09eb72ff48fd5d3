/**
 * What the hub keeps of a device's reports about its images (docs/ARCHITECTURE.md §5, §7), for
 * `dominion devices`: per instance, the slots and update state of its latest ticket request
 * (`DeviceState.slots` and `recovery` for `device`, `DomainReport.slot` for `mm` and `sm:k`); per
 * device, the images and boot count of its latest boot request.
 *
 * Reports are device-chosen numbers: uint64 versions and counters become plain numbers only when they
 * are exact (≤ 2^53 - 1) and are dropped otherwise, so a hostile value can neither fail a commit
 * (SQLite integers are signed 64-bit) nor print as something it is not. Strings are bounded by
 * validation before they get here.
 */
import { hex } from '../crypto/index.ts';
import { ResetReason, UpdateState, type BootImage, type RuntimeInfo, type SlotReport } from '../../proto/index.ts';

/** Update states by name, as stored and printed. */
export type UpdateStateName = 'downloading' | 'installed' | 'trial' | 'committed' | 'rolled-back' | 'failed';

const STATE_NAMES: Readonly<Record<UpdateState, UpdateStateName | undefined>> = {
  [UpdateState.UNSPECIFIED]: undefined,
  [UpdateState.DOWNLOADING]: 'downloading',
  [UpdateState.INSTALLED]: 'installed',
  [UpdateState.TRIAL]: 'trial',
  [UpdateState.COMMITTED]: 'committed',
  [UpdateState.ROLLED_BACK]: 'rolled-back',
  [UpdateState.FAILED]: 'failed',
};

/** Reset reasons by name (ResetReason in lower-kebab), as stored and printed. */
export type ResetReasonName = 'unspecified' | 'power-on' | 'ticket-timeout' | 'ticket-withheld' | 'check-failed' | 'update' | 'operator';

const RESET_NAMES: Readonly<Record<ResetReason, ResetReasonName>> = {
  [ResetReason.UNSPECIFIED]: 'unspecified',
  [ResetReason.POWER_ON]: 'power-on',
  [ResetReason.TICKET_TIMEOUT]: 'ticket-timeout',
  [ResetReason.TICKET_WITHHELD]: 'ticket-withheld',
  [ResetReason.CHECK_FAILED]: 'check-failed',
  [ResetReason.UPDATE]: 'update',
  [ResetReason.OPERATOR]: 'operator',
};

/** A ResetReason's name; undefined for a number the enum does not define (validation refuses those). */
export function resetReasonName(reason: ResetReason): ResetReasonName | undefined {
  return Object.hasOwn(RESET_NAMES, reason) ? RESET_NAMES[reason] : undefined;
}

/**
 * What a ticket request says of the boot it runs in, for the device history (sqlite/history.ts):
 * `device` — DeviceState's boot count, reset reason and firmware; `mm`, `sm:<service>` — the domain's
 * boots since the device booted. Image versions come from the slots.
 */
export interface ReportedBoot {
  readonly bootCount?: number;
  readonly resetReason?: ResetReasonName;
  readonly firmwareVersion?: string;
}

/** One domain's slot as last reported. */
export interface SlotRecord {
  readonly label: string;
  readonly version?: number;
  readonly slot?: 'a' | 'b';
  readonly update?: UpdateStateName;
  readonly updateVersion?: number;
  readonly detail?: string;
}

/** An instance's image state from its latest (valid) ticket request. */
export interface InstanceRuntime {
  readonly slots: readonly SlotRecord[];
  /** `device` only: the device runs in recovery mode (no boot ticket yet). */
  readonly recovery?: boolean;
  readonly boot?: ReportedBoot;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One image a device reported at boot. */
export interface BootImageRecord {
  readonly label: string;
  readonly version?: number;
  /** Lower-case hex SHA-512 of the bundle. */
  readonly digest: string;
}

/** A uint64 as a number when exact, else undefined. */
export function exactNumber(value: bigint): number | undefined {
  return value >= 0n && value <= MAX_EXACT ? Number(value) : undefined;
}
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

export function slotRecord(s: SlotReport): SlotRecord {
  const version = s.version > 0n ? exactNumber(s.version) : undefined;
  const updateVersion = s.updateVersion > 0n ? exactNumber(s.updateVersion) : undefined;
  const update = STATE_NAMES[s.update];
  return {
    label: s.label,
    ...(version !== undefined ? { version } : {}),
    ...(s.slot === 'a' || s.slot === 'b' ? { slot: s.slot } : {}),
    ...(update !== undefined ? { update } : {}),
    ...(updateVersion !== undefined ? { updateVersion } : {}),
    ...(s.detail !== '' ? { detail: s.detail } : {}),
  };
}

/** The image state a (validated) request's runtime information reports. */
export function instanceRuntimeOf(runtime: RuntimeInfo): InstanceRuntime {
  const report = runtime.report;
  if (report.case === 'device') {
    const d = report.value;
    const bootCount = exactNumber(d.bootCount);
    const resetReason = resetReasonName(d.lastResetReason);
    // Assigned, not spread: this runs for every ticket request (conditional spreads cost 2 % of a hub).
    const boot: Mutable<ReportedBoot> = {};
    if (bootCount !== undefined) boot.bootCount = bootCount;
    if (resetReason !== undefined) boot.resetReason = resetReason;
    if (d.firmwareVersion !== '') boot.firmwareVersion = d.firmwareVersion;
    const runtime: Mutable<InstanceRuntime> = { slots: d.slots.map(slotRecord), boot };
    if (d.recovery) runtime.recovery = true;
    return runtime;
  }
  if (report.case === 'domain') {
    const boot: ReportedBoot = { bootCount: report.value.boots };
    return { slots: report.value.slot !== undefined ? [slotRecord(report.value.slot)] : [], boot };
  }
  return { slots: [] };
}

/** Image versions as the history stores them: `sw 5, hypervisor 5` (`?` for a version not reported). */
export function imagesText(images: readonly { readonly label: string; readonly version?: number }[]): string {
  return images.map((i) => `${i.label} ${i.version ?? '?'}`).join(', ');
}

export function bootImageRecord(image: BootImage): BootImageRecord {
  const version = exactNumber(image.version);
  return { label: image.label, ...(version !== undefined ? { version } : {}), digest: hex(image.digest) };
}
