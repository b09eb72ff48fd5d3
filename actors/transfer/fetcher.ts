/**
 * The image fetcher as an actor: one transfer at a time for one instance's key, each request resent
 * on silence (same nonce, so a late chunk still counts) a bounded number of times before the transfer
 * fails. A new `fetch` replaces a transfer under way. The caller verifies and installs what it gets.
 */
import type { ActorContext, ActorSpec, Behavior } from '../../runtime/index.ts';
import { WithholdReason } from '../../proto/index.ts';
import type { FetchedImage, FetchTarget, ImageFetchCore } from './fetch-core.ts';

export type FetchOutcome =
  | { readonly ok: true; readonly target: FetchTarget; readonly image: FetchedImage }
  | { readonly ok: false; readonly target: FetchTarget; readonly detail: string };

export type FetcherMsg =
  | { readonly type: 'fetch'; readonly target: FetchTarget }
  | { readonly type: 'chunk'; readonly envelope: Uint8Array }
  | { readonly type: 'silence' };

export interface FetcherEvent {
  readonly type: 'fetch-ignored';
  readonly instance: string;
  readonly code: string;
  readonly detail: string;
  readonly at: number;
}

export interface FetcherOptions {
  readonly name: string;
  readonly instance: string;
  readonly core: () => ImageFetchCore;
  readonly send: (envelope: Uint8Array) => void;
  /** How long to wait for each chunk before asking again. */
  readonly replyTimeoutMs: number;
  /** Resends of one request before the transfer fails. */
  readonly maxRetries?: number;
  readonly done: (outcome: FetchOutcome) => void;
  readonly events?: (event: FetcherEvent) => void;
}

const DEFAULT_RETRIES = 5;

export function imageFetcher(o: FetcherOptions): ActorSpec<FetcherMsg> {
  return {
    name: o.name,
    capacity: 8,
    start: (ctx: ActorContext<FetcherMsg>): Behavior<FetcherMsg> => {
      const core = o.core();
      const silence = ctx.timer({ type: 'silence' });
      let retries = 0;
      const send = (envelope: Uint8Array): void => {
        silence.arm(o.replyTimeoutMs);
        o.send(envelope);
      };
      const finish = (outcome: FetchOutcome): void => {
        silence.disarm();
        retries = 0;
        o.done(outcome);
      };
      return {
        receive(msg: FetcherMsg): void {
          switch (msg.type) {
            case 'fetch':
              retries = 0;
              return send(core.start(msg.target));
            case 'silence': {
              const target = core.busy;
              const again = core.retry();
              if (target === undefined || again === undefined) return;
              if (retries >= (o.maxRetries ?? DEFAULT_RETRIES)) {
                core.cancel();
                return finish({ ok: false, target, detail: `no answer from the hub after ${retries + 1} tries` });
              }
              retries++;
              return send(again);
            }
            case 'chunk': {
              const target = core.busy;
              const step = core.reply(msg.envelope);
              switch (step.kind) {
                case 'request':
                  retries = 0;
                  return send(step.envelope);
                case 'done':
                  return finish({ ok: true, target: target!, image: step.image });
                case 'refused':
                  return finish({
                    ok: false,
                    target: target!,
                    detail: `the hub refused: ${WithholdReason[step.reason] ?? step.reason}${step.detail === '' ? '' : ` (${step.detail})`}`,
                  });
                case 'failed':
                  return finish({ ok: false, target: target!, detail: step.detail });
                case 'ignored':
                  o.events?.({ type: 'fetch-ignored', instance: o.instance, code: step.code, detail: step.detail, at: ctx.now() });
              }
            }
          }
        },
      };
    },
  };
}
