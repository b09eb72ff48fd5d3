/** Typed refusals of the slot room: a boot-state transition that must not happen, and a boot state file that cannot be trusted. */
import type { ArtifactError } from '../release/index.ts';

export type SlotErrorCode =
  /** Not a domain label (`sw`, `hypervisor`, `mm`, `sm:<service>`). */
  | 'bad-label'
  /** The boot state has no such domain. */
  | 'unknown-domain'
  /** `addDomain` for a domain the state already has. */
  | 'domain-exists'
  /** A release version that is not a positive safe integer, or tries out of range. */
  | 'bad-version'
  | 'bad-tries'
  /** Below the domain's anti-rollback floor (the lowest version it may run, raised at commit). */
  | 'downgrade'
  /** The update is the version already running: nothing to do (a restore says so explicitly). */
  | 'already-running'
  /** Writing into the slot the last good image runs from: never, that is what a fallback needs. */
  | 'active-slot'
  /** `installUpdate` for a version no `beginUpdate` asked for. */
  | 'not-begun'
  /** The image verified but is another version than the one asked for (or recorded). */
  | 'version-mismatch'
  /** The image did not verify against the pinned release key, board and label; `cause` says why. */
  | 'bad-image'
  /** There is no boot state yet: `ensureInstalled` makes the first one. */
  | 'no-state'
  /** No slot but the active one holds a valid image at or above the floor. */
  | 'no-fallback'
  /** An update is in flight (downloading, or a trial): the inactive slot is taken. */
  | 'busy';

export class SlotError extends Error {
  override readonly name = 'SlotError';
  constructor(
    readonly code: SlotErrorCode,
    detail: string,
    /** For `bad-image`: the verification failure. */
    override readonly cause?: ArtifactError,
  ) {
    super(`${code}: ${detail}`);
  }
}

export type BootStateErrorCode =
  /** The file is there but is not a boot state: unparseable, wrong shape, inconsistent or too large. */
  | 'corrupt'
  /** The file could not be read (permissions, I/O error): not evidence of corruption, maybe transient. */
  | 'unreadable';

/** The boot state file cannot be used. Atomic writes mean a power cut never causes `corrupt`; storage faults and tampering do. */
export class BootStateError extends Error {
  override readonly name = 'BootStateError';
  constructor(
    readonly code: BootStateErrorCode,
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}
