/**
 * The boot state: for each domain, which of its two image slots is the last good one, what each slot
 * holds, the anti-rollback floor, and a pending trial (docs/ARCHITECTURE.md §5). Pure data and pure
 * transitions, no I/O: each transition returns a new state (or the very same object when nothing
 * changes, so the caller knows it need not write), and the caller writes it in one atomic replace
 * (state-file.ts). Nothing is ever written field by field.
 *
 * The rules come from U-Boot's bootcount/upgrade_available, RAUC, Mender, SWUpdate and mcuboot:
 * - an ordinary restart without an update costs no try and no write;
 * - a trial's try is taken *before* it boots (a power cut during the boot still counts);
 * - a trial is committed only by a health signal (`commit`, at the domain's first valid hub ticket),
 *   never by booting;
 * - the floor (`minVersion`) is raised at commit, never at install or boot, so a trial that fails
 *   can always fall back to the last good image;
 * - nothing below the floor is installed or fallen back to.
 *
 * An update's life: `beginDownload` (phase `downloading`) → `installedTrial` (`installed`: the new
 * image is in the inactive slot and is the trial) → `startBoot` (`trial`: booted, a try taken) →
 * `commit` (`committed`) or, once the tries run out, `rolled-back`; `failUpdate` (`failed`) when the
 * download or its check fails before anything switched. `failTrial` records why a booted trial
 * failed (its try was already taken at boot) and rolls back at once after the last try.
 *
 * Tampering with the last good slot: `fellBack` to the other slot if the state vouches for it at or
 * above the floor (in practice only a `mirrored` copy of the committed version — the floor rises to
 * each committed version, so the previous one is below it), else `restored` from a fresh copy of
 * the same version fetched from the hub.
 */
import { DETAIL_MAX, instanceProblem } from '../../proto/index.ts';
import { SlotError } from './errors.ts';

export type SlotName = 'a' | 'b';
export type UpdatePhase = 'downloading' | 'installed' | 'trial' | 'committed' | 'rolled-back' | 'failed';

export interface TrialState {
  readonly slot: SlotName;
  readonly version: number;
  /** Boots of the trial still allowed; taken before each boot. At 0 the next start rolls back. */
  readonly triesLeft: number;
}

export interface UpdateState {
  readonly phase: UpdatePhase;
  /** The version the update is for (for `committed`: the version now running). */
  readonly version: number;
  /** Why it failed or rolled back; during a trial, the trial's last failure. At most 256 characters. */
  readonly detail?: string;
}

export interface DomainSlots {
  /** The last good slot: what boots when there is no trial, and what a trial rolls back to. */
  readonly active: SlotName;
  /** The release version installed in each slot, as far as the state vouches for it. */
  readonly versions: Readonly<Partial<Record<SlotName, number>>>;
  /** Anti-rollback floor: the lowest version the domain may run; raised at commit. */
  readonly minVersion: number;
  readonly trial?: TrialState;
  readonly update?: UpdateState;
}

export const BOOT_STATE_FORMAT = 'dominion-boot-state/1';

export interface BootState {
  readonly format: typeof BOOT_STATE_FORMAT;
  readonly domains: Readonly<Record<string, DomainSlots>>;
}

export const SLOT_NAMES: readonly SlotName[] = ['a', 'b'];
export const DEFAULT_TRIES = 3;
export const MAX_TRIES = 100;

/** Why `label` is not a domain label (`sw`, `hypervisor`, `mm`, `sm:<service>`), or undefined if it is one. */
export function labelProblem(label: string): string | undefined {
  if (label === 'sw' || label === 'hypervisor') return undefined;
  if (label === 'device') return 'must be a domain label ("sw", "hypervisor", "mm" or "sm:<service>"), not "device"';
  return instanceProblem(label);
}

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a';
}

/** A detail as a SlotReport may carry it: control characters and lone surrogates replaced, at most 256 characters. */
export function cleanDetail(detail: string): string {
  // The characters proto/validate.ts refuses in a SlotReport's detail.
  const clean = detail.replace(/[\x00-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  const points = Array.from(clean);
  return points.length <= DETAIL_MAX ? clean : points.slice(0, DETAIL_MAX).join('');
}

export function checkVersion(version: number, what = 'version'): void {
  if (!Number.isSafeInteger(version) || version < 1)
    throw new SlotError('bad-version', `${what} must be a positive integer, got ${version}`);
}

function checkLabel(label: string): void {
  const problem = labelProblem(label);
  if (problem !== undefined) throw new SlotError('bad-label', `${JSON.stringify(label)}: ${problem}`);
}

/** The domain's slots; throws SlotError `unknown-domain`. */
export function domainOf(state: BootState, label: string): DomainSlots {
  const d = Object.hasOwn(state.domains, label) ? state.domains[label] : undefined;
  if (d === undefined) throw new SlotError('unknown-domain', `the boot state has no domain ${label}`);
  return d;
}

function withDomain(state: BootState, label: string, d: DomainSlots): BootState {
  return { format: BOOT_STATE_FORMAT, domains: { ...state.domains, [label]: d } };
}

/** A domain's record with its fields in a fixed order, optional ones only when set (the JSON stays small and stable). */
function slots(d: DomainSlots): DomainSlots {
  return {
    active: d.active,
    versions: d.versions,
    minVersion: d.minVersion,
    ...(d.trial !== undefined ? { trial: d.trial } : {}),
    ...(d.update !== undefined ? { update: d.update } : {}),
  };
}

function update(phase: UpdatePhase, version: number, detail?: string): UpdateState {
  return detail === undefined ? { phase, version } : { phase, version, detail: cleanDetail(detail) };
}

function without(versions: DomainSlots['versions'], slot: SlotName): DomainSlots['versions'] {
  const out: Partial<Record<SlotName, number>> = {};
  for (const s of SLOT_NAMES) if (s !== slot && versions[s] !== undefined) out[s] = versions[s];
  return out;
}

/** True when the trial has booted at least once since it was installed: only then is the running image the trial's. */
function trialBooted(d: DomainSlots): d is DomainSlots & { trial: TrialState } {
  return d.trial !== undefined && d.update?.phase === 'trial';
}

/** The first state: each domain's image in slot `a`, which is its last good slot, and the floor at its version. */
export function initialState(versions: Readonly<Record<string, number>>): BootState {
  let state: BootState = { format: BOOT_STATE_FORMAT, domains: {} };
  for (const [label, version] of Object.entries(versions)) state = addDomain(state, label, version);
  return state;
}

/** A domain the state does not have yet (a service added to the board), its image in slot `a`. */
export function addDomain(state: BootState, label: string, version: number): BootState {
  checkLabel(label);
  checkVersion(version);
  if (Object.hasOwn(state.domains, label)) throw new SlotError('domain-exists', `the boot state already has ${label}`);
  return withDomain(state, label, { active: 'a', versions: { a: version }, minVersion: version });
}

export interface BootDecision {
  /** The state to write before booting; the very same object as given when nothing changed (write nothing). */
  readonly state: BootState;
  readonly slot: SlotName;
  readonly trial: boolean;
  /** The trial ran out of tries on this start: the domain boots its last good slot again. */
  readonly rolledBack?: { readonly version: number; readonly detail: string };
}

/**
 * Which slot the domain boots now. Without a trial: the active slot and the same state object (an
 * ordinary restart writes nothing). With a trial and tries left: one try taken — the caller must
 * write the state before it boots, so a power cut mid-boot still counts — and the trial slot.
 * With no tries left: the trial is rolled back and the active slot boots.
 */
export function startBoot(state: BootState, label: string): BootDecision {
  const d = domainOf(state, label);
  if (d.trial === undefined) return { state, slot: d.active, trial: false };
  const trial = d.trial;
  if (trial.triesLeft === 0) {
    const last = d.update?.detail;
    const detail = `trial of version ${trial.version} in slot ${trial.slot} used all its tries without a commit${last !== undefined ? `; last failure: ${last}` : ''}`;
    const next = rollBack(state, label, detail);
    return {
      state: next,
      slot: d.active,
      trial: false,
      rolledBack: { version: trial.version, detail: domainOf(next, label).update!.detail! },
    };
  }
  const next = slots({
    ...d,
    trial: { ...trial, triesLeft: trial.triesLeft - 1 },
    update: update('trial', trial.version, d.update?.detail),
  });
  return { state: withDomain(state, label, next), slot: trial.slot, trial: true };
}

/** The slot an update or a restore is written into: never the active one. */
export function inactiveSlot(state: BootState, label: string): SlotName {
  return otherSlot(domainOf(state, label).active);
}

/** The version the domain runs once booted: the trial's once it has booted, else the active slot's. */
export function runningVersion(state: BootState, label: string): number {
  const d = domainOf(state, label);
  return trialBooted(d) ? d.trial.version : d.versions[d.active]!;
}

/**
 * An update (or, with `restore`, a fresh copy of the last good version) starts downloading into the
 * inactive slot. Refused below the floor (`downgrade`) and, unless a restore, at the running version
 * (`already-running`). The inactive slot is about to be overwritten, so the state stops vouching for
 * it, and a pending trial (which lives there) is dropped: the new download supersedes it.
 */
export function beginDownload(state: BootState, label: string, version: number, options: { readonly restore?: boolean } = {}): BootState {
  checkVersion(version);
  const d = domainOf(state, label);
  if (version < d.minVersion) throw new SlotError('downgrade', `${label} may not go below version ${d.minVersion}, asked for ${version}`);
  const lastGood = d.versions[d.active]!;
  if (options.restore === true) {
    if (version !== lastGood)
      throw new SlotError('version-mismatch', `a restore of ${label} must be its last good version ${lastGood}, not ${version}`);
  } else if (version === runningVersion(state, label)) {
    throw new SlotError('already-running', `${label} already runs version ${version}`);
  }
  const target = otherSlot(d.active);
  // The hub repeats UPDATE_REQUIRED until the update lands: asking again for the download in flight writes nothing.
  if (d.update?.phase === 'downloading' && d.update.version === version && d.trial === undefined && d.versions[target] === undefined)
    return state;
  return withDomain(
    state,
    label,
    slots({ active: d.active, versions: without(d.versions, target), minVersion: d.minVersion, update: update('downloading', version) }),
  );
}

/**
 * The new image is verified and written into `slot` (the inactive one): it becomes the trial, with
 * `tries` boots to prove itself. One write records both the install and the switch, so no state
 * exists where the slot holds the image but nothing will try it. The floor does not move.
 */
export function installedTrial(state: BootState, label: string, slot: SlotName, version: number, tries = DEFAULT_TRIES): BootState {
  checkVersion(version);
  if (!Number.isSafeInteger(tries) || tries < 1 || tries > MAX_TRIES)
    throw new SlotError('bad-tries', `tries must be 1..${MAX_TRIES}, got ${tries}`);
  const d = domainOf(state, label);
  if (slot === d.active) throw new SlotError('active-slot', `slot ${slot} holds ${label}'s last good image`);
  if (version < d.minVersion) throw new SlotError('downgrade', `${label} may not go below version ${d.minVersion}, got ${version}`);
  return withDomain(
    state,
    label,
    slots({
      active: d.active,
      versions: { ...d.versions, [slot]: version },
      minVersion: d.minVersion,
      trial: { slot, version, triesLeft: tries },
      update: update('installed', version),
    }),
  );
}

/**
 * The trial proved itself (its first valid hub ticket): its slot becomes the last good one and the
 * floor rises to its version. Nothing happens unless the trial has booted — a commit while the old
 * image still runs must not promote an image nobody ran.
 */
export function commit(state: BootState, label: string): BootState {
  const d = domainOf(state, label);
  if (!trialBooted(d)) return state;
  return withDomain(
    state,
    label,
    slots({
      active: d.trial.slot,
      versions: d.versions,
      minVersion: Math.max(d.minVersion, d.trial.version),
      update: update('committed', d.trial.version),
    }),
  );
}

/**
 * The trial is given up now: the last good slot stays active, the floor stays where it was, and the
 * trial's slot is no longer vouched for (an image that failed its trial is nobody's fallback).
 */
export function rollBack(state: BootState, label: string, detail: string): BootState {
  const d = domainOf(state, label);
  if (d.trial === undefined) return state;
  return withDomain(
    state,
    label,
    slots({
      active: d.active,
      versions: without(d.versions, d.trial.slot),
      minVersion: d.minVersion,
      update: update('rolled-back', d.trial.version, detail),
    }),
  );
}

/**
 * The booted trial crashed, hung or let its AWDT expire. The try for this boot was already taken
 * by `startBoot`, so this takes none: it records why (the rollback's detail will say it), and
 * when that was the last try it rolls back at once, so the next start boots the last good slot
 * without first booting the trial again. Every boot of a domain must go through `startBoot`
 * (SlotBoot.open): that is where tries are counted. Ignored unless the trial has booted.
 */
export function failTrial(state: BootState, label: string, detail: string): BootState {
  const d = domainOf(state, label);
  if (!trialBooted(d)) return state;
  if (d.trial.triesLeft === 0) {
    return rollBack(state, label, `trial of version ${d.trial.version} in slot ${d.trial.slot} failed on its last try: ${detail}`);
  }
  return withDomain(state, label, slots({ ...d, update: update('trial', d.trial.version, detail) }));
}

/** The download or its check failed: nothing switched. Ignored unless a download is in flight. */
export function failUpdate(state: BootState, label: string, detail: string): BootState {
  const d = domainOf(state, label);
  if (d.update?.phase !== 'downloading') return state;
  return withDomain(state, label, slots({ ...d, update: update('failed', d.update.version, detail) }));
}

/**
 * The last good image failed its check and a fresh copy of the same version was written into `slot`
 * (the inactive one): it becomes active at once, without a trial — it is the version that already
 * proved itself. The tampered slot is no longer vouched for.
 */
export function restored(state: BootState, label: string, slot: SlotName, version: number): BootState {
  checkVersion(version);
  const d = domainOf(state, label);
  if (slot === d.active) throw new SlotError('active-slot', `a restore of ${label} goes into the inactive slot, not ${slot}`);
  const lastGood = d.versions[d.active]!;
  if (version !== lastGood) throw new SlotError('version-mismatch', `a restore of ${label} must be version ${lastGood}, not ${version}`);
  return withDomain(
    state,
    label,
    slots({
      active: slot,
      versions: { [slot]: version },
      minVersion: d.minVersion,
      update: update('committed', version, `restored into slot ${slot}`),
    }),
  );
}

/**
 * The slot to boot when the active one fails its check: the other slot, if the state vouches for
 * an image there at or above the floor and it is not a pending trial (which has not proved itself).
 */
export function fallback(state: BootState, label: string): SlotName | undefined {
  const d = domainOf(state, label);
  if (d.trial !== undefined) return undefined;
  const other = otherSlot(d.active);
  const version = d.versions[other];
  return version !== undefined && version >= d.minVersion ? other : undefined;
}

/** Switches to `fallback`'s slot; the failed slot is no longer vouched for. Throws `no-fallback` when there is none. */
export function fellBack(state: BootState, label: string): BootState {
  const to = fallback(state, label);
  if (to === undefined) throw new SlotError('no-fallback', `${label} has no valid slot besides its active one`);
  const d = domainOf(state, label);
  return withDomain(state, label, slots({ ...d, active: to, versions: without(d.versions, d.active) }));
}

/**
 * A copy of the last good image was written into `slot` (the inactive one). After a commit the
 * inactive slot holds the previous version, below the new floor and so no fallback; with the floor
 * raised at every commit, only another copy of the committed version can be one. The copy makes a
 * tampered active slot a fallback away from booting, instead of a download away. Refused while an
 * update is in flight (its download or trial lives in that slot); the next update overwrites it.
 */
export function mirrored(state: BootState, label: string, slot: SlotName): BootState {
  const d = domainOf(state, label);
  if (slot === d.active) throw new SlotError('active-slot', `a mirror of ${label} goes into the inactive slot, not ${slot}`);
  if (d.trial !== undefined || d.update?.phase === 'downloading')
    throw new SlotError('busy', `${label} has an update in flight in slot ${slot}`);
  return withDomain(state, label, slots({ ...d, versions: { ...d.versions, [slot]: d.versions[d.active]! } }));
}

/**
 * A domain's record rebuilt from what verified in its slots, when the boot state was lost to
 * corruption (SlotBoot.rebuild). Which slot was last good is not known, so the lower version
 * becomes active and the floor, and a higher one becomes a trial: it boots first and is committed
 * at its first ticket as usual, and if it was a failed update it rolls back as usual. The floor
 * can come out lower than it was; nothing better is known without the lost file.
 */
export function rebuiltDomain(
  state: BootState,
  label: string,
  found: Readonly<Partial<Record<SlotName, number>>>,
  tries = DEFAULT_TRIES,
): BootState {
  checkLabel(label);
  const present = SLOT_NAMES.filter((s) => found[s] !== undefined);
  for (const s of present) checkVersion(found[s]!);
  if (present.length === 0) throw new SlotError('no-fallback', `${label} has no valid slot to rebuild from`);
  const [lo, hi] = [...present].sort((x, y) => found[x]! - found[y]!);
  const versions = { ...found };
  if (hi === undefined || found[hi] === found[lo!]) {
    return withDomain(state, label, { active: lo!, versions, minVersion: found[lo!]! });
  }
  const rebuilt = withDomain(state, label, { active: lo!, versions, minVersion: found[lo!]! });
  return installedTrial(rebuilt, label, hi, found[hi]!, tries);
}
