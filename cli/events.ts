/** One line of text per device event, for `dominion up`'s display and `dominion device`'s log. */
import { ResetReason, WithholdReason } from '../proto/index.ts';
import type { DeviceEvent } from '../actors/device/index.ts';

/** The line for `e`, or undefined for events too frequent to print (tickets, unless `tickets`). */
export function describeEvent(e: DeviceEvent, o: { readonly tickets?: boolean } = {}): string | undefined {
  switch (e.type) {
    case 'boot':
      return `device boot #${e.bootCount} (last reset: ${ResetReason[e.lastResetReason] ?? e.lastResetReason})`;
    case 'reset':
      return `DEVICE RESET: ${ResetReason[e.reason] ?? e.reason} — ${e.detail}`;
    case 'vm-boot':
      if (e.boots <= 1) return undefined;
      return `${e.instance} booted again from its clean image (boot ${e.boots})${e.cause === undefined ? '' : e.cause.kind === 'exited' ? ` after its process ${e.cause.detail}` : e.cause.kind === 'escalated' ? ` after it ${e.cause.detail}` : ` after its AWDT expired (${e.cause.kind})`}`;
    case 'withheld':
      return `${e.instance}: ticket WITHHELD (${WithholdReason[e.reason] ?? e.reason}): ${e.detail}`;
    case 'update-required':
      return `${e.instance}: UPDATE REQUIRED ${e.what}`;
    case 'expired':
      return `${e.instance}: AWDT expired (${e.cause.kind})`;
    case 'refused':
      return `${e.instance}: reply refused (${e.code})`;
    case 'fault':
      return `fault in ${e.path}: ${e.detail}`;
    case 'ticket':
      return o.tickets === true ? `${e.instance}: ticket, deadline in ${((e.deadline - e.at) / 1000).toFixed(1)} s` : undefined;
    case 'armed':
      return undefined;
  }
}
