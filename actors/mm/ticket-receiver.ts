/**
 * The ticket receiver: every interval, for each instance (device, mm, each sm), asks the proxy for a
 * signed request, publishes it to the dominating hub and hands the reply back to the proxy. It retries
 * with jitter while a reply is missing and starts a round at once when the link comes back. It holds
 * no secret and cannot read what it relays.
 */
import type { ActorContext, ActorSpec, Behavior, Timer } from '../../runtime/index.ts';
import type { HubLink } from './hub-link.ts';

export type ReceiverMsg =
  | { readonly type: 'round'; readonly instance: string }
  | { readonly type: 'retry'; readonly instance: string }
  | { readonly type: 'signed'; readonly instance: string; readonly envelope: Uint8Array }
  | { readonly type: 'reply'; readonly instance: string; readonly envelope: Uint8Array }
  | { readonly type: 'link'; readonly up: boolean };

export interface ReceiverRoute {
  readonly instance: string;
  readonly hubId: string;
}

export interface TicketReceiverOptions {
  readonly routes: readonly ReceiverRoute[];
  readonly intervalMs: number;
  /** Retry when no reply came within this long (plus up to 50 % jitter). */
  readonly replyTimeoutMs: number;
  /** Uniform in [0, 1); injected so tests are exact. */
  readonly jitter: () => number;
  /** The uplink's current link (the `uplink` actor opens and closes it). */
  readonly link: () => HubLink | null;
  readonly toProxy: { request(instance: string): void; reply(instance: string, envelope: Uint8Array): void };
  readonly counters?: ReceiverCounters;
}

export interface ReceiverCounters {
  rounds: number;
  retries: number;
  published: number;
  repliesRelayed: number;
  unknownInstance: number;
  /** Signed requests that found no link up (the next round or reconnect tries again). */
  offline: number;
}

interface InstanceState {
  readonly route: ReceiverRoute;
  readonly round: Timer;
  readonly retry: Timer;
  awaiting: boolean;
  /** A round came due while the link was down: ask as soon as it is up. */
  due: boolean;
  retries: number;
  /** The signed request of this round, resent as is on a retry (same nonce). */
  sent: Uint8Array | null;
}

export function newReceiverCounters(): ReceiverCounters {
  return { rounds: 0, retries: 0, published: 0, repliesRelayed: 0, unknownInstance: 0, offline: 0 };
}

/** Retries per round at most; the next round starts afresh anyway. */
const MAX_RETRIES = 3;

export function ticketReceiver(o: TicketReceiverOptions): ActorSpec<ReceiverMsg> {
  const counters = o.counters ?? newReceiverCounters();
  return {
    name: 'ticket-receiver',
    capacity: 64 + 8 * o.routes.length,
    start: (ctx: ActorContext<ReceiverMsg>): Behavior<ReceiverMsg> => {
      const states = new Map<string, InstanceState>();
      for (const route of o.routes) {
        const st: InstanceState = {
          route,
          round: ctx.timer({ type: 'round', instance: route.instance }),
          retry: ctx.timer({ type: 'retry', instance: route.instance }),
          awaiting: false,
          due: false,
          retries: 0,
          sent: null,
        };
        // Stagger the instances' first rounds a little so their requests do not arrive as one burst,
        // but not by much: the first ticket is what a cold start waits for.
        st.round.arm(Math.floor(o.jitter() * Math.min(o.intervalMs, 100)), o.intervalMs);
        states.set(route.instance, st);
      }
      // Ask only while the link is up (subscribed): a reply to a request sent earlier could be lost, and
      // a new request replaces the AWDT's nonce, so the answer to the first would no longer count.
      let linkUp = false;

      const ask = (st: InstanceState): void => {
        if (!linkUp) {
          st.due = true;
          return;
        }
        st.due = false;
        st.awaiting = true;
        st.sent = null;
        st.retry.arm(Math.floor(o.replyTimeoutMs * (1 + 0.5 * o.jitter())));
        o.toProxy.request(st.route.instance);
      };

      return {
        receive(msg: ReceiverMsg): void {
          const st = msg.type === 'link' ? undefined : states.get(msg.instance);
          if (msg.type !== 'link' && st === undefined) {
            counters.unknownInstance++;
            return;
          }
          switch (msg.type) {
            case 'round':
              counters.rounds++;
              st!.retries = 0;
              ask(st!);
              return;
            case 'retry': {
              if (!st!.awaiting || st!.retries >= MAX_RETRIES) return;
              st!.retries++;
              counters.retries++;
              // Resend the same signed request rather than ask for a new nonce: a reply to the first
              // copy that is merely late stays valid, whereas a new nonce would make it a stale reply
              // that clears the AWDT's nonce and spoils the retry's answer too.
              const link = o.link();
              if (st!.sent === null || link === null) return ask(st!);
              st!.retry.arm(Math.floor(o.replyTimeoutMs * (1 + 0.5 * o.jitter())));
              link.publishRequest(st!.route.hubId, st!.sent);
              counters.published++;
              return;
            }
            case 'signed': {
              const link = o.link();
              if (link === null) {
                counters.offline++;
                return;
              }
              st!.sent = msg.envelope;
              link.publishRequest(st!.route.hubId, msg.envelope);
              counters.published++;
              return;
            }
            case 'reply':
              st!.awaiting = false;
              st!.retry.disarm();
              o.toProxy.reply(msg.instance, msg.envelope);
              counters.repliesRelayed++;
              return;
            case 'link':
              // Up again: ask at once for every round that came due, and again for anything whose reply
              // the outage may have swallowed, rather than waiting out the interval.
              if (msg.up && !linkUp) {
                linkUp = true;
                for (const s of states.values()) if (s.due || s.awaiting) ask(s);
              } else if (!msg.up) linkUp = false;
              return;
          }
        },
      };
    },
  };
}
