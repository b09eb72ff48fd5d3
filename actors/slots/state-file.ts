/**
 * The boot state on disk: one JSON file, replaced whole in one atomic step (fs.ts), so a power cut
 * between or during writes leaves the old state or the new one, never a mix. Reading checks every
 * field and the invariants the transitions keep (boot-state.ts), and bounds the size before
 * reading: whatever is on the disk, the bootloader either gets a state it can act on or a typed
 * `BootStateError`.
 *
 * A `corrupt` file cannot come from a power cut (the writes are atomic); it means a storage fault or
 * tampering. The caller should not guess and should not start from scratch (that would drop the
 * anti-rollback floor silently): SlotBoot.rebuild moves the file aside and rebuilds the state from
 * what verifies in the slots, and the device reports it.
 */
import { dirname } from 'node:path';
import { BOOT_STATE_FORMAT, cleanDetail, labelProblem, MAX_TRIES, SLOT_NAMES, type BootState, type UpdatePhase } from './boot-state.ts';
import { BootStateError } from './errors.ts';
import { nodeFs, readBounded, replaceAtomically, syncDir, type SlotFs } from './fs.ts';

/** A boot state for every domain of a board fits in a few KiB; anything bigger is not one. */
export const MAX_STATE_BYTES = 64 * 1024;
const MAX_DOMAINS = 64;
const PHASES: readonly UpdatePhase[] = ['downloading', 'installed', 'trial', 'committed', 'rolled-back', 'failed'];

export class BootStateFile {
  constructor(
    readonly path: string,
    private readonly fs: SlotFs = nodeFs,
  ) {}

  /** The state, or undefined when there is no file (first start). Throws BootStateError `corrupt` or `unreadable`. */
  read(): BootState | undefined {
    const read = readBounded(this.fs, this.path, MAX_STATE_BYTES);
    switch (read.kind) {
      case 'missing':
        return undefined;
      case 'too-large':
        throw new BootStateError('corrupt', this.path, `is ${read.size} bytes; a boot state is at most ${MAX_STATE_BYTES}`);
      case 'not-a-file':
        throw new BootStateError('corrupt', this.path, 'is not a regular file');
      case 'unreadable':
        throw new BootStateError('unreadable', this.path, `cannot be read (${read.code})`);
      case 'ok':
        return parseBootState(read.bytes, this.path);
    }
  }

  /** Replaces the state in one atomic step. Refuses (before touching the disk) a state `read` would refuse. */
  write(state: BootState): void {
    const problem = bootStateProblem(state);
    if (problem !== undefined) throw new BootStateError('corrupt', this.path, `refusing to write an invalid boot state: ${problem}`);
    const bytes = new TextEncoder().encode(`${JSON.stringify(state, null, 2)}\n`);
    if (bytes.length > MAX_STATE_BYTES)
      throw new BootStateError('corrupt', this.path, `refusing to write ${bytes.length} bytes; a boot state is at most ${MAX_STATE_BYTES}`);
    this.fs.mkdirSync(dirname(this.path));
    replaceAtomically(this.fs, this.path, bytes);
  }

  /** Moves a corrupt file to `<path>.corrupt` (kept for whoever investigates) so a fresh state can be written; returns the new path. */
  moveAside(): string {
    const aside = `${this.path}.corrupt`;
    this.fs.renameSync(this.path, aside);
    syncDir(this.fs, dirname(this.path));
    return aside;
  }
}

/** Parses and checks a boot state's bytes; throws BootStateError `corrupt` naming the first problem. */
export function parseBootState(bytes: Uint8Array, path: string): BootState {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new BootStateError('corrupt', path, `is not UTF-8 JSON (${(e as Error).message})`);
  }
  const problem = bootStateProblem(value);
  if (problem !== undefined) throw new BootStateError('corrupt', path, problem);
  return value as BootState;
}

type Fields = Record<string, unknown>;

function isRecord(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function extraKey(v: Fields, allowed: readonly string[]): string | undefined {
  return Object.keys(v).find((k) => !allowed.includes(k));
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function isSlot(v: unknown): v is 'a' | 'b' {
  return v === 'a' || v === 'b';
}

/** The first thing wrong with `v` as a boot state, or undefined. Checks the shape and the invariants the transitions keep. */
export function bootStateProblem(v: unknown): string | undefined {
  if (!isRecord(v)) return 'is not a JSON object';
  const extra = extraKey(v, ['format', 'domains']);
  if (extra !== undefined) return `has an unknown field ${JSON.stringify(extra)}`;
  if (v.format !== BOOT_STATE_FORMAT) return `format must be "${BOOT_STATE_FORMAT}"`;
  if (!isRecord(v.domains)) return 'domains must be an object';
  const labels = Object.keys(v.domains);
  if (labels.length > MAX_DOMAINS) return `has ${labels.length} domains; at most ${MAX_DOMAINS}`;
  for (const label of labels) {
    const labelIssue = labelProblem(label);
    if (labelIssue !== undefined) return `domain ${JSON.stringify(label)}: ${labelIssue}`;
    const problem = domainProblem(v.domains[label]);
    if (problem !== undefined) return `domains.${label}: ${problem}`;
  }
  return undefined;
}

function domainProblem(d: unknown): string | undefined {
  if (!isRecord(d)) return 'is not an object';
  const extra = extraKey(d, ['active', 'versions', 'minVersion', 'trial', 'update']);
  if (extra !== undefined) return `has an unknown field ${JSON.stringify(extra)}`;
  if (!isSlot(d.active)) return 'active must be "a" or "b"';
  if (!isRecord(d.versions)) return 'versions must be an object';
  const versions = d.versions;
  const badSlot = extraKey(versions, SLOT_NAMES);
  if (badSlot !== undefined) return `versions has an unknown slot ${JSON.stringify(badSlot)}`;
  for (const s of SLOT_NAMES) if (versions[s] !== undefined && !isVersion(versions[s])) return `versions.${s} must be a positive integer`;
  if (!isVersion(d.minVersion)) return 'minVersion must be a positive integer';
  const activeVersion = versions[d.active];
  // The last good image is always vouched for, and never below the floor (the floor rises only to a committed version).
  if (!isVersion(activeVersion)) return `the active slot ${d.active} has no version`;
  if (activeVersion < d.minVersion) return `the active slot's version ${activeVersion} is below minVersion ${d.minVersion}`;

  const u = d.update;
  if (u !== undefined) {
    if (!isRecord(u)) return 'update is not an object';
    const extraU = extraKey(u, ['phase', 'version', 'detail']);
    if (extraU !== undefined) return `update has an unknown field ${JSON.stringify(extraU)}`;
    if (!PHASES.includes(u.phase as UpdatePhase)) return `update.phase must be one of ${PHASES.join(', ')}`;
    if (!isVersion(u.version)) return 'update.version must be a positive integer';
    if (u.detail !== undefined && (typeof u.detail !== 'string' || cleanDetail(u.detail) !== u.detail))
      return 'update.detail must be at most 256 characters without control characters';
  }

  const t = d.trial;
  const trialPhase = u !== undefined && (u.phase === 'installed' || u.phase === 'trial');
  if (t === undefined) return trialPhase ? `update.phase ${String(u.phase)} needs a trial` : undefined;
  if (!isRecord(t)) return 'trial is not an object';
  const extraT = extraKey(t, ['slot', 'version', 'triesLeft']);
  if (extraT !== undefined) return `trial has an unknown field ${JSON.stringify(extraT)}`;
  if (!isSlot(t.slot) || t.slot === d.active) return 'trial.slot must be the slot that is not active';
  if (!isVersion(t.version) || t.version !== versions[t.slot]) return 'trial.version must be the version of the trial slot';
  if (t.version < d.minVersion) return 'trial.version is below minVersion';
  if (typeof t.triesLeft !== 'number' || !Number.isSafeInteger(t.triesLeft) || t.triesLeft < 0 || t.triesLeft > MAX_TRIES)
    return `trial.triesLeft must be 0..${MAX_TRIES}`;
  if (!trialPhase || u.version !== t.version) return 'a trial needs update.phase installed or trial, for the trial version';
  return undefined;
}
