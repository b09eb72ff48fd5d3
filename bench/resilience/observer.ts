/**
 * Reads a device's events from outside, as a user would read its status: AWDT deadlines, tickets,
 * resets and VM restarts. Nothing here changes what the device does (it only listens).
 *
 * Slack: when a ticket is accepted, how long the deadline it replaces still had to run (deadline −
 * now). Its minimum is how close the device came to a reset it did not have.
 */
import { ResetReason } from '../../proto/index.ts';
import type { DeviceEvent } from '../../actors/device/index.ts';

export interface ObservedReset {
  readonly at: number;
  readonly reason: string;
  /** When the device instance's last ticket was accepted (undefined: none since boot). */
  readonly lastTicketAt: number | undefined;
  /** The device AWDT's deadline at the reset. */
  readonly deadline: number | undefined;
}

export class DeviceObserver {
  tickets = 0;
  /** `expired` events of mm and sm:* (each a VM restart). */
  vmRestarts = 0;
  withheld = 0;
  readonly refused = new Map<string, number>();
  readonly slacks: number[] = [];
  readonly resets: ObservedReset[] = [];
  /** Device tickets accepted, with when (the first ticket after a blackhole is its recovery). */
  readonly deviceTicketTimes: number[] = [];
  private readonly deadlines = new Map<string, number>();
  private lastDeviceTicketAt: number | undefined;

  constructor(private readonly onReset: (r: ObservedReset) => void = () => {}) {}

  readonly listen = (e: DeviceEvent): void => {
    switch (e.type) {
      case 'armed':
        this.deadlines.set(e.instance, e.deadline);
        return;
      case 'ticket': {
        const before = this.deadlines.get(e.instance);
        if (before !== undefined) this.slacks.push(before - e.at);
        this.deadlines.set(e.instance, e.deadline);
        this.tickets++;
        if (e.instance === 'device') {
          this.lastDeviceTicketAt = e.at;
          this.deviceTicketTimes.push(e.at);
        }
        return;
      }
      case 'withheld':
        this.withheld++;
        return;
      case 'refused':
        this.refused.set(e.code, (this.refused.get(e.code) ?? 0) + 1);
        return;
      case 'expired':
        // The device's deadline stays for the reset that follows; a VM's goes with the VM.
        if (e.instance !== 'device') {
          this.vmRestarts++;
          this.deadlines.delete(e.instance);
        }
        return;
      case 'reset': {
        const r: ObservedReset = {
          at: e.at,
          reason: ResetReason[e.reason] ?? String(e.reason),
          lastTicketAt: this.lastDeviceTicketAt,
          deadline: this.deadlines.get('device'),
        };
        this.resets.push(r);
        this.lastDeviceTicketAt = undefined;
        this.deadlines.clear();
        this.onReset(r);
        return;
      }
      default:
        return;
    }
  };

  get refusedTotal(): number {
    return [...this.refused.values()].reduce((a, b) => a + b, 0);
  }
}
