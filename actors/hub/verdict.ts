/**
 * What an instance's last decision says about it, for the registry and `dominion devices`
 * (ARCHITECTURE.md §7: silence and failed checks are recorded apart).
 *
 * - `ok`               holding a ticket
 * - `fail`             the hub withheld because a check on its runtime information failed
 * - `withheld`         withheld for another reason: quarantined, revoked, operator, no policy, …
 * - `update-required`  must run another image first
 * - `timeout`          its deadline passed with no request since its last ticket: silence
 */
import type { HubOutcome } from './hub-core.ts';

export type InstanceState = 'ok' | 'fail' | 'withheld' | 'update-required' | 'timeout';

/** Withhold reasons that are not a failed check of the runtime information. */
const NOT_A_CHECK = new Set(['quarantined', 'revoked', 'operator-withheld', 'unknown-device', 'wrong-hub', 'no-policy']);

export function instanceStateOf(outcome: HubOutcome, reason: string): InstanceState | undefined {
  switch (outcome) {
    case 'ticket':
      return 'ok';
    case 'update-required':
      return 'update-required';
    case 'withheld':
      return NOT_A_CHECK.has(reason) ? 'withheld' : 'fail';
    case 'refused':
      return undefined; // no answer was given: the instance's state is whatever it was
  }
}
