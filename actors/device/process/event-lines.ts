/**
 * The hypervisor's events for `sw` (`process` and `split` placement): one JSON object per line on the
 * hypervisor process's stdout. AWDT and VM events carry no key or ticket. A VM's own stdout is only
 * ever logged, so a VM cannot forge one.
 */
import type { VmEvent } from '../../hypervisor/index.ts';
import type { AwdtEvent } from '../../tickets/index.ts';

/** Writes one event line (in the hypervisor process). */
export function writeEvent(event: object): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const EVENT_TYPES = new Set(['armed', 'ticket', 'withheld', 'update-required', 'refused', 'expired', 'vm-boot']);

/** An event line from the hypervisor, or undefined for anything else (which is logged). */
export function parseEventLine(line: string): AwdtEvent | VmEvent | undefined {
  try {
    const e = JSON.parse(line) as { type?: unknown; instance?: unknown; at?: unknown };
    if (
      typeof e === 'object' &&
      e !== null &&
      EVENT_TYPES.has(e.type as string) &&
      typeof e.instance === 'string' &&
      typeof e.at === 'number'
    )
      return e as AwdtEvent | VmEvent;
  } catch {
    // not an event
  }
  return undefined;
}
