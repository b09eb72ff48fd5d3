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
import { UpdateState, type BootImage, type RuntimeInfo, type SlotReport } from '../../proto/index.ts';

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
}

/** One image a device reported at boot. */
export interface BootImageRecord {
  readonly label: string;
  readonly version?: number;
  /** Lower-case hex SHA-512 of the bundle. */
  readonly digest: string;
}

/** A uint64 as a number when exact, else undefined. */
export function exactNumber(value: bigint): number | undefined {
  return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

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
    return { slots: report.value.slots.map(slotRecord), ...(report.value.recovery ? { recovery: true } : {}) };
  }
  if (report.case === 'domain' && report.value.slot !== undefined) return { slots: [slotRecord(report.value.slot)] };
  return { slots: [] };
}

export function bootImageRecord(image: BootImage): BootImageRecord {
  const version = exactNumber(image.version);
  return { label: image.label, ...(version !== undefined ? { version } : {}), digest: hex(image.digest) };
}
