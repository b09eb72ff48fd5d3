/**
 * What a domain process does when its domain exceeds its restart intensity: it ends, and its parent
 * applies the assembly's rule (`onGiveUp` in ../assemble.ts) to the exit — the hypervisor boots a VM
 * process again from its image; `sw` resets the device when the hypervisor's process ends.
 */
import { GAVE_UP } from '../assemble.ts';

const GAVE_UP_EXIT_CODE = 70;

/** Ends this process because `domain` gave up. */
export function exitGaveUp(domain: string): never {
  process.stderr.write(`dominion domain-host: ${domain} ${GAVE_UP}\n`);
  process.exit(GAVE_UP_EXIT_CODE);
}

export function endOnEscalation(system: { onEscalation(handler: (domain: { readonly path: string }) => void): void }): void {
  system.onEscalation((domain) => exitGaveUp(domain.path));
}
