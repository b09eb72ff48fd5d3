/** One line of text per device event, for `dominion up`'s display and `dominion device`'s log. */
import { ResetReason, WithholdReason } from '../proto/index.ts';
import type { DeviceEvent } from '../actors/device/index.ts';
import type { LogLevel } from '../actors/log/index.ts';

/**
 * How loud each event is in `dominion device`'s log (docs/ARCHITECTURE.md §7.3): a reset or a fault
 * is an error, anything the hubs refused or withheld a warning, the rest information.
 */
export function eventLevel(e: DeviceEvent): LogLevel {
  switch (e.type) {
    case 'reset':
    case 'fault':
      return 'error';
    case 'boot-withheld':
    case 'boot-refused':
    case 'withheld':
    case 'update-required':
    case 'expired':
    case 'refused':
    case 'fetch-ignored':
      return 'warn';
    case 'vm-boot':
      return e.held !== undefined ? 'warn' : 'info';
    case 'armed':
      return 'debug';
    default:
      return 'info';
  }
}

/** The line for `e`, or undefined for events too frequent to print (tickets, unless `tickets`). */
export function describeEvent(e: DeviceEvent, o: { readonly tickets?: boolean } = {}): string | undefined {
  switch (e.type) {
    case 'boot':
      return `device boot #${e.bootCount} (last reset: ${ResetReason[e.lastResetReason] ?? e.lastResetReason})`;
    case 'reset':
      return `DEVICE RESET: ${ResetReason[e.reason] ?? e.reason} — ${e.detail}`;
    case 'vm-boot':
      if (e.held !== undefined) return `${e.instance} held down: its image must be restored first (${e.held})`;
      return e.boots <= 1 ? undefined : `${e.instance} booted again from its clean image (boot ${e.boots})${why(e.cause)}`;
    case 'recovery':
      return 'recovery mode: mm only until the IH grants this boot';
    case 'boot-granted':
      return 'boot granted by the IH: starting the services';
    case 'boot-withheld':
      return `boot WITHHELD by the IH (${WithholdReason[e.reason] ?? e.reason})${e.detail === '' ? '' : `: ${e.detail}`}: staying in recovery mode`;
    case 'boot-refused':
      return `boot ticket refused (${e.code})`;
    case 'image':
      return `${e.instance}: ${e.purpose} ${e.phase} (version ${e.version})${e.detail === undefined ? '' : `: ${e.detail}`}`;
    case 'fetch-ignored':
      return `${e.instance}: image chunk dropped (${e.code})`;
    case 'slot':
      return `${e.label}: ${e.what} version ${e.version}${e.detail === undefined ? '' : ` (${e.detail})`}`;
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

/** Why a VM booted again, as a phrase to follow "booted again …". */
function why(cause: Extract<DeviceEvent, { type: 'vm-boot' }>['cause']): string {
  if (cause === undefined) return '';
  if (cause.kind === 'exited') return ` after its process ${cause.detail}`;
  if (cause.kind === 'escalated') return ` after it ${cause.detail}`;
  if (cause.kind === 'restored') return ' from its restored image';
  if (cause.kind === 'updated') return ' from its new image, on trial';
  return ` after its AWDT expired (${cause.kind})`;
}
