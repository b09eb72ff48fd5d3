/**
 * The device AWDT: the secure world's watchdog over the whole device, dominated by the IH. Armed with
 * the initial timeout before any other domain starts; on expiry it resets the device through the
 * watchdog backend, recording why.
 */
import type { ActorSpec } from '../../runtime/index.ts';
import { createLite, ResetReason, RuntimeInfoLite, WithholdReason, type SlotReport } from '../../proto/index.ts';
import type { Signer, Verifier } from '../crypto/index.ts';
import { AwdtCore, awdtActor, type AwdtActorOptions, type AwdtEvent, type AwdtMsg, type ExpiryCause } from '../tickets/index.ts';
import type { BootRecord } from './device-state.ts';
import type { WatchdogBackend } from './watchdog.ts';

export interface DeviceAwdtOptions {
  readonly deviceId: string;
  /** K_I: signs device-level requests. Held by `sw` alone. */
  readonly deviceKey: Signer;
  /** The IH public key pinned at provisioning. */
  readonly infrastructureHub: Verifier;
  readonly initialTimeoutMs: number;
  readonly maxDeferralMs: number;
  readonly firmwareVersion: string;
  readonly manifestDigest: Uint8Array;
  readonly hypervisorImageDigest: Uint8Array;
  /** True while the boot is not yet granted (gated boot): reported so the IH can hold a device there. */
  readonly recovery?: () => boolean;
  /** The sw and hypervisor slots, when the device boots from slots. */
  readonly slots?: () => readonly SlotReport[];
  /** This boot's record (boot count already incremented). */
  readonly record: BootRecord;
  readonly watchdog: WatchdogBackend;
  readonly sendRequest: (envelope: Uint8Array) => void;
  readonly events?: (event: AwdtEvent) => void;
  /** What `sw` acts on: a valid ticket (commits a firmware trial), an UPDATE_REQUIRED (fetches the release). */
  readonly verdicts?: AwdtActorOptions['verdicts'];
  readonly nonce?: () => Uint8Array;
}

/** The reset reason a device reports after an expiry: silence is an outage, not an accusation. */
export function resetReasonOf(cause: ExpiryCause): ResetReason {
  switch (cause.kind) {
    case 'timeout':
      return ResetReason.TICKET_TIMEOUT;
    case 'update-required':
      return ResetReason.UPDATE;
    case 'withheld':
      switch (cause.reason) {
        case WithholdReason.POLICY_FAILED:
          return ResetReason.CHECK_FAILED;
        case WithholdReason.OPERATOR:
        case WithholdReason.QUARANTINED:
        case WithholdReason.REVOKED:
          return ResetReason.OPERATOR;
        default:
          return ResetReason.TICKET_WITHHELD;
      }
  }
}

function describeCause(cause: ExpiryCause): string {
  switch (cause.kind) {
    case 'timeout':
      return 'no valid ticket before the deadline';
    case 'update-required':
      return `update required: ${cause.what}`;
    case 'withheld':
      return `ticket withheld (${WithholdReason[cause.reason] ?? cause.reason}): ${cause.detail}`;
  }
}

export function deviceAwdt(o: DeviceAwdtOptions): ActorSpec<AwdtMsg> {
  const runtime = () =>
    createLite(RuntimeInfoLite, {
      report: {
        case: 'device',
        value: {
          bootCount: BigInt(o.record.bootCount),
          lastResetReason: o.record.lastResetReason,
          firmwareVersion: o.firmwareVersion,
          manifestDigest: o.manifestDigest,
          hypervisorImageDigest: o.hypervisorImageDigest,
          slots: [...(o.slots?.() ?? [])],
          recovery: o.recovery?.() ?? false,
        },
      },
    });
  return awdtActor({
    name: 'awdt',
    instance: 'device',
    initialTimeoutMs: o.initialTimeoutMs,
    core: () =>
      new AwdtCore({
        deviceId: o.deviceId,
        instance: 'device',
        signer: o.deviceKey,
        hub: o.infrastructureHub,
        maxDeferralMs: o.maxDeferralMs,
        nonce: o.nonce,
      }),
    runtimeInfo: runtime,
    sendRequest: o.sendRequest,
    expire: (cause) => o.watchdog.reset(resetReasonOf(cause), describeCause(cause)),
    events: o.events,
    verdicts: o.verdicts,
  });
}
