/**
 * The door to `boards/`: typed, validated board profiles (docs/ARCHITECTURE.md §6).
 *
 *   loadBoard('rpi4')        → the checked, frozen profile
 *   loadBoard('rpi5')        → BoardError: unknown board "rpi5" (known: nitrogen8m, rpi-zero-2w, rpi3, rpi4, sim)
 *   validateBoard(json)      → the profile, or BoardError naming the field (`rpi4.domains.mm.heapMb must be …`)
 */
import { BoardError } from './errors.ts';
import { PROFILES } from './profiles.ts';
import type { BoardProfile } from './types.ts';
import { validateBoard } from './validate.ts';

export { BoardError, type BoardErrorCode } from './errors.ts';
export { validateBoard } from './validate.ts';
export { DEFAULT_MAILBOXES } from './profiles.ts';
export {
  ARCHES,
  DOMAIN_KINDS,
  PLACEMENTS,
  type Arch,
  type BoardProfile,
  type BoardTiming,
  type BundleBudget,
  type DomainBudget,
  type DomainBudgets,
  type DomainKind,
  type MailboxBudgets,
  type Placement,
  type WatchdogConfig,
} from './types.ts';

/** Ids of the shipped boards, sorted. */
export function boardIds(): string[] {
  return Object.keys(PROFILES).sort();
}

/** The shipped profile `id`, validated; BoardError('unknown-board') listing the known ids otherwise. */
export function loadBoard(id: string): BoardProfile {
  const make = Object.hasOwn(PROFILES, id) ? PROFILES[id] : undefined;
  if (make === undefined) {
    throw new BoardError('unknown-board', `unknown board ${JSON.stringify(String(id).slice(0, 64))} (known: ${boardIds().join(', ')})`);
  }
  return validateBoard(make(), id);
}
