/**
 * The ticket receiver: every interval, for each instance (device, mm, each sm), asks the proxy for a
 * signed request, publishes it to the dominating hub and hands the reply back to the proxy. While a
 * reply is missing it asks again every `replyTimeoutMs` (plus jitter) until the next round, each time
 * for a fresh nonce; it starts a round at once when the link comes back. It holds no secret and
 * cannot read what it relays (docs/ARCHITECTURE.md §2.2).
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
  /** Ask again when no reply came within this long (plus up to 50 % jitter), until the next round. */
  readonly replyTimeoutMs: number;
  /** Uniform in [0, 1); injected so tests are exact. */
  readonly jitter: () => number;
  /** The uplink's current link (the `uplink` actor opens and closes it). */
  readonly link: () => HubLink | null;
  readonly toProxy: { request(instance: string): void; reply(instance: string, envelope: Uint8Array): void };
  readonly counters?: ReceiverCounters;
  /**
   * Called once the link is up again and every instance asked for at that moment has its request
   * published (or its retry came first): service data may follow (docs/ARCHITECTURE.md §7.4).
   */
  readonly caughtUp?: () => void;
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
}

export function newReceiverCounters(): ReceiverCounters {
  return { rounds: 0, retries: 0, published: 0, repliesRelayed: 0, unknownInstance: 0, offline: 0 };
}

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
        };
        // Stagger the instances' first rounds a little so their requests do not arrive as one burst,
        // but not by much: the first ticket is what a cold start waits for.
        st.round.arm(Math.floor(o.jitter() * Math.min(o.intervalMs, 100)), o.intervalMs);
        states.set(route.instance, st);
      }
      // Ask only while the link is up (subscribed): a request sent before would find nobody to hear its
      // reply, and each ask draws a nonce that pushes an older one out of the AWDT's few outstanding.
      let linkUp = false;
      // The instances asked for when the link came up whose requests have not gone out yet.
      let catchingUp: Set<string> | null = null;
      const sent = (instance?: string): void => {
        if (catchingUp === null) return;
        if (instance !== undefined) catchingUp.delete(instance);
        if (catchingUp.size > 0) return;
        catchingUp = null;
        o.caughtUp?.();
      };

      const ask = (st: InstanceState): void => {
        if (!linkUp) {
          st.due = true;
          return;
        }
        st.due = false;
        st.awaiting = true;
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
              ask(st!);
              return;
            case 'retry':
              if (!st!.awaiting) return;
              counters.retries++;
              sent(msg.instance); // the proxy did not answer in time: do not hold service data for it
              // A fresh nonce, not the same request again: if the hub's reply was lost, it would refuse
              // the same nonce as a replay. The AWDT keeps the earlier nonces outstanding, so a reply
              // to an earlier try that is merely late still counts. The next round re-arms the timer.
              return ask(st!);
            case 'signed': {
              const link = o.link();
              if (link === null) {
                counters.offline++;
                return;
              }
              link.publishRequest(st!.route.hubId, msg.envelope, 'ticket');
              counters.published++;
              sent(msg.instance);
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
                const asked = new Set<string>();
                catchingUp = asked;
                for (const s of states.values())
                  if (s.due || s.awaiting) {
                    asked.add(s.route.instance);
                    ask(s);
                  }
                sent();
              } else if (!msg.up) {
                linkUp = false;
                catchingUp = null;
              }
              return;
          }
        },
      };
    },
  };
}
