/** A readable picture of a device, folded from its events: what the live display and tests read. */
import { ResetReason, WithholdReason } from '../../proto/index.ts';
import type { AwdtEvent } from '../tickets/index.ts';
import type { ImageEvent, VmEvent } from '../hypervisor/index.ts';
import type { FetcherEvent } from '../transfer/index.ts';
import type { GateEvent } from '../sw/index.ts';

/** What the device's bootloaders did with a domain's slots (actors/slots): for logs and the status. */
export type SlotEvent = {
  readonly type: 'slot';
  readonly label: string;
  readonly what: 'committed' | 'rolled-back' | 'fell-back' | 'trial';
  readonly version: number;
  readonly detail?: string;
  readonly at: number;
};

export type DeviceEvent =
  | AwdtEvent
  | VmEvent
  | GateEvent
  | ImageEvent
  | FetcherEvent
  | SlotEvent
  | { readonly type: 'boot'; readonly bootCount: number; readonly lastResetReason: ResetReason; readonly at: number }
  | { readonly type: 'reset'; readonly reason: ResetReason; readonly detail: string; readonly at: number }
  | { readonly type: 'fault'; readonly path: string; readonly detail: string; readonly at: number };

export interface InstanceStatus {
  readonly instance: string;
  readonly hubId: string;
  deadline: number | undefined;
  lastTicketAt: number | undefined;
  lastDeferralMs: number | undefined;
  lastOutcome: string;
  tickets: number;
  refused: number;
  /** Device resets (for `device`) or VM restarts (for `mm`, `sm:*`) caused by expiry. */
  expiries: number;
}

export interface DeviceStatus {
  readonly deviceId: string;
  bootCount: number;
  lastResetReason: string;
  /** Gated boot: `recovery` until the IH grants this boot (services start then), `normal` after. */
  mode: 'recovery' | 'normal';
  /** Why the IH last refused this boot, while it does. */
  bootWithheld: string | undefined;
  readonly instances: InstanceStatus[];
}

export function newStatus(deviceId: string, routes: ReadonlyArray<{ instance: string; hubId: string }>): DeviceStatus {
  return {
    deviceId,
    bootCount: 0,
    lastResetReason: 'POWER_ON',
    mode: 'normal',
    bootWithheld: undefined,
    instances: routes.map((r) => ({
      instance: r.instance,
      hubId: r.hubId,
      deadline: undefined,
      lastTicketAt: undefined,
      lastDeferralMs: undefined,
      lastOutcome: '—',
      tickets: 0,
      refused: 0,
      expiries: 0,
    })),
  };
}

export function foldStatus(status: DeviceStatus, e: DeviceEvent): void {
  if (e.type === 'boot') {
    status.bootCount = e.bootCount;
    status.lastResetReason = ResetReason[e.lastResetReason] ?? String(e.lastResetReason);
    return;
  }
  switch (e.type) {
    case 'recovery':
      status.mode = 'recovery';
      return;
    case 'boot-granted':
      status.mode = 'normal';
      status.bootWithheld = undefined;
      return;
    case 'boot-withheld':
      status.bootWithheld = `${WithholdReason[e.reason] ?? e.reason}${e.detail === '' ? '' : `: ${e.detail}`}`;
      return;
    case 'boot-refused':
    case 'image':
    case 'fetch-ignored':
    case 'slot':
    case 'reset':
    case 'fault':
      return;
  }
  const st = status.instances.find((s) => s.instance === e.instance);
  if (st === undefined) return;
  switch (e.type) {
    case 'armed':
      st.deadline = e.deadline;
      return;
    case 'ticket':
      st.deadline = e.deadline;
      st.lastTicketAt = e.at;
      st.lastDeferralMs = e.deferralMs;
      st.lastOutcome = 'ticket';
      st.tickets++;
      return;
    case 'withheld':
      st.lastOutcome = `withheld: ${WithholdReason[e.reason] ?? e.reason}`;
      return;
    case 'update-required':
      st.lastOutcome = `update required: ${e.what}`;
      return;
    case 'refused':
      st.refused++;
      st.lastOutcome = `refused: ${e.code}`;
      return;
    case 'expired':
      st.expiries++;
      st.deadline = undefined;
      st.lastOutcome = 'expired';
      return;
    case 'vm-boot':
      return;
  }
}
