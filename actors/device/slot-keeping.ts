/**
 * What both of a device's bootloaders (`sw`'s for its firmware, the hypervisor's for the VMs) decide
 * the same way about their slots: whether an UPDATE_REQUIRED calls for a fetch, how a slot is
 * reported to the hub, and keeping the recovery path in two copies.
 */
import { create, SlotReportSchema, UpdateState, type SlotReport } from '../../proto/index.ts';
import { SlotError, type SlotBoot, type UpdatePhase } from '../slots/index.ts';

export type Wants = { readonly fetch: true } | { readonly fetch: false; readonly why: string };

/**
 * Whether an update of `label` to `version` calls for a fetch: not when it runs already, nor below
 * the minimum version, nor when it is on trial or rolled back (no loop: the hub sees the rollback and
 * the operator decides — mender#485).
 */
export function wantsUpdate(slots: SlotBoot, label: string, version: number): Wants {
  const d = slots.state().domains[label];
  if (d === undefined) return { fetch: false, why: `no slots for ${label}` };
  if (slots.report(label).version === version) return { fetch: false, why: `version ${version} runs already` };
  if (version < d.minVersion) return { fetch: false, why: `version ${version} is below the minimum ${d.minVersion}` };
  const phase = d.update?.version === version ? d.update.phase : undefined;
  if (phase === 'rolled-back' || phase === 'trial' || phase === 'installed')
    return { fetch: false, why: `version ${version} is ${phase === 'rolled-back' ? 'rolled back' : 'on trial'}` };
  return { fetch: true };
}

const PHASES: Readonly<Record<UpdatePhase, UpdateState>> = {
  downloading: UpdateState.DOWNLOADING,
  installed: UpdateState.INSTALLED,
  trial: UpdateState.TRIAL,
  committed: UpdateState.COMMITTED,
  'rolled-back': UpdateState.ROLLED_BACK,
  failed: UpdateState.FAILED,
};

/** `label`'s slots as a SlotReport for the hub; undefined when the bootloader does not know it. */
export function slotReport(slots: SlotBoot, label: string): SlotReport | undefined {
  let s;
  try {
    s = slots.report(label);
  } catch {
    return undefined;
  }
  return create(SlotReportSchema, {
    label: s.label,
    version: BigInt(s.version),
    slot: s.slot,
    update: s.phase === undefined ? UpdateState.UNSPECIFIED : PHASES[s.phase],
    updateVersion: BigInt(s.updateVersion ?? 0),
    detail: s.detail ?? '',
  });
}

/** Copies `label`'s good active image into its other slot (after a commit or a fallback); refusals are ignored. */
export function keepTwoCopies(slots: SlotBoot, label: string): void {
  try {
    slots.mirror(label);
  } catch (e) {
    if (!(e instanceof SlotError)) throw e;
  }
}
