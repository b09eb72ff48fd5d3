/**
 * The hypervisor's events for `sw` (`process` and `split` placement): one JSON object per line on the
 * hypervisor process's stdout. AWDT and VM events carry no key or ticket. A VM's own stdout is only
 * ever logged, so a VM cannot forge one.
 */
import type { ImageEvent, VmEvent } from '../../hypervisor/index.ts';
import type { AwdtEvent } from '../../tickets/index.ts';
import type { FetcherEvent } from '../../transfer/index.ts';
import type { SlotEvent } from '../status.ts';

/** What the hypervisor tells `sw`: its AWDTs and VMs, their image transfers, and what its bootloader did with their slots. */
export type HypervisorEvent = AwdtEvent | VmEvent | ImageEvent | FetcherEvent | SlotEvent;

/** Writes one event line (in the hypervisor process). */
export function writeEvent(event: object): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const EVENT_TYPES = new Set(['armed', 'ticket', 'withheld', 'update-required', 'refused', 'expired', 'vm-boot', 'image', 'fetch-ignored']);

/** An event line from the hypervisor, or undefined for anything else (which is logged). */
export function parseEventLine(line: string): HypervisorEvent | undefined {
  try {
    const e = JSON.parse(line) as { type?: unknown; instance?: unknown; label?: unknown; at?: unknown };
    if (typeof e !== 'object' || e === null || typeof e.at !== 'number') return undefined;
    // A slot event names a VM's label (the hypervisor's bootloader boots nothing else), every other one an instance.
    const vmSlot = e.type === 'slot' && typeof e.label === 'string' && e.label !== 'sw' && e.label !== 'hypervisor';
    if (vmSlot || (EVENT_TYPES.has(e.type as string) && typeof e.instance === 'string')) return e as HypervisorEvent;
  } catch {
    // not an event
  }
  return undefined;
}
