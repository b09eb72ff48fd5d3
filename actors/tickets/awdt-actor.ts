/**
 * An AWDT as an actor: the ticket core plus the deadline. Used by the device AWDT in `sw` and by each
 * VM AWDT in `hypervisor`; they differ only in where requests go, what runtime information they attach
 * and what expiry does (reset the device, or restart one VM domain).
 *
 * Nothing but a valid ticket for the outstanding nonce moves the deadline: there is no message that
 * stops, pauses or extends it otherwise.
 */
import type { ActorContext, ActorSpec, Behavior } from '../../runtime/index.ts';
import type { RuntimeInfo, UpdateRequired, WithholdReason } from '../../proto/index.ts';
import { AwdtCore, type ReplyOutcome } from './awdt.ts';
import type { TicketErrorCode } from './errors.ts';

export type AwdtMsg =
  { readonly type: 'request' } | { readonly type: 'reply'; readonly envelope: Uint8Array } | { readonly type: 'expired' };

/** Why the deadline passed: the last thing the hub said, or silence. */
export type ExpiryCause =
  | { readonly kind: 'timeout' }
  | { readonly kind: 'withheld'; readonly reason: WithholdReason; readonly detail: string }
  | { readonly kind: 'update-required'; readonly what: string };

export type AwdtEvent =
  | { readonly type: 'armed'; readonly instance: string; readonly deadline: number; readonly at: number }
  | { readonly type: 'ticket'; readonly instance: string; readonly deferralMs: number; readonly deadline: number; readonly at: number }
  | { readonly type: 'withheld'; readonly instance: string; readonly reason: WithholdReason; readonly detail: string; readonly at: number }
  | { readonly type: 'update-required'; readonly instance: string; readonly what: string; readonly at: number }
  | { readonly type: 'refused'; readonly instance: string; readonly code: TicketErrorCode; readonly detail: string; readonly at: number }
  | { readonly type: 'expired'; readonly instance: string; readonly cause: ExpiryCause; readonly at: number };

export interface AwdtActorOptions {
  readonly name: string;
  readonly instance: string;
  readonly core: () => AwdtCore;
  /** Armed at start, before anything it guards is started. */
  readonly initialTimeoutMs: number;
  readonly capacity?: number;
  /**
   * What the request reports, written by the domain below. Undefined: there is nothing running to
   * vouch for (a VM whose process is down), so no request is signed and no ticket can come.
   */
  readonly runtimeInfo: () => RuntimeInfo | undefined;
  readonly sendRequest: (envelope: Uint8Array) => void;
  readonly expire: (cause: ExpiryCause) => void;
  readonly events?: (event: AwdtEvent) => void;
  /**
   * What the domain below acts on (events only inform): a valid ticket (an update on trial commits at
   * its first), and an UPDATE_REQUIRED (the image to fetch). Called inside the AWDT: must not throw.
   */
  readonly verdicts?: { readonly ticket?: () => void; readonly updateRequired?: (update: UpdateRequired) => void };
}

export function awdtActor(options: AwdtActorOptions): ActorSpec<AwdtMsg> {
  // The deadline outlives restarts of this actor: a fault (even one an attacker provokes) must never
  // re-arm the AWDT with a fresh initial timeout. Only a new boot (a new spec) starts a new deadline.
  let deadline: number | undefined;
  let expired = false;
  return {
    name: options.name,
    capacity: options.capacity ?? 16,
    start: (ctx: ActorContext<AwdtMsg>): Behavior<AwdtMsg> => {
      const core = options.core();
      const instance = options.instance;
      const emit = options.events ?? (() => {});
      const timer = ctx.timer({ type: 'expired' });
      let lastWord: ExpiryCause = { kind: 'timeout' };
      if (deadline === undefined) {
        deadline = ctx.now() + options.initialTimeoutMs;
        emit({ type: 'armed', instance, deadline, at: ctx.now() });
      }
      if (!expired) timer.arm(Math.max(0, deadline - ctx.now()));

      const judge = (outcome: ReplyOutcome, now: number): void => {
        switch (outcome.kind) {
          case 'ticket': {
            const next = outcome.nonceDrawnAtMs + outcome.deferralMs;
            if (now >= deadline! || next <= now) {
              // Due already (maybe not yet delivered under load), or answered too late to help.
              emit({ type: 'refused', instance, code: 'too-late', detail: 'the ticket arrived after its deadline', at: now });
              return;
            }
            deadline = next;
            timer.arm(next - now);
            lastWord = { kind: 'timeout' };
            emit({ type: 'ticket', instance, deferralMs: outcome.deferralMs, deadline, at: now });
            options.verdicts?.ticket?.();
            return;
          }
          case 'withheld':
            lastWord = { kind: 'withheld', reason: outcome.reason, detail: outcome.detail };
            emit({ type: 'withheld', instance, reason: outcome.reason, detail: outcome.detail, at: now });
            return;
          case 'update-required': {
            const what = `${outcome.update.domain}@${outcome.update.version}`;
            lastWord = { kind: 'update-required', what };
            emit({ type: 'update-required', instance, what, at: now });
            options.verdicts?.updateRequired?.(outcome.update);
            return;
          }
          case 'refused':
            emit({ type: 'refused', instance, code: outcome.error.code, detail: outcome.error.message, at: now });
        }
      };

      return {
        receive(msg: AwdtMsg): void {
          if (expired) return; // expiry is final for this incarnation; the reset/restart is under way
          switch (msg.type) {
            case 'request': {
              const info = options.runtimeInfo();
              if (info !== undefined) options.sendRequest(core.request(info, ctx.now()));
              return;
            }
            case 'reply':
              judge(core.reply(msg.envelope, ctx.now()), ctx.now());
              return;
            case 'expired':
              expired = true;
              emit({ type: 'expired', instance, cause: lastWord, at: ctx.now() });
              options.expire(lastWord);
              return;
          }
        },
      };
    },
  };
}
