/**
 * The lane relay: carries what is not a ticket round — gated boot and image transfers (proto/lanes.ts) —
 * between the hypervisor and the hubs, as opaque signed envelopes. Like the ticket receiver it holds
 * no key and reads nothing it relays; unlike it, it keeps no rounds: the domain that asks (sw for its
 * boot ticket, sw or the hypervisor for an image) times out and asks again.
 *
 * Outbound, every envelope from the hypervisor passes here: a ticket lane goes on to the ticket
 * receiver (which keeps the round's state), any other lane is published to the hub that dominates
 * it — `boot` and `image.device`/`image.mm` to the IH, `image.sm:k` to SH_k. Inbound, replies on
 * boot and image lanes come here from the link, never through the receiver, so they can never clear
 * an AWDT's outstanding nonce.
 */
import type { ActorSpec } from '../../runtime/index.ts';
import { laneOf } from '../../proto/lanes.ts';
import type { HubLink } from './hub-link.ts';
import type { ReceiverRoute } from './ticket-receiver.ts';

export type RelayMsg =
  /** From the hypervisor: a signed request for `lane`. */
  | { readonly type: 'out'; readonly lane: string; readonly envelope: Uint8Array }
  /** From the link: a reply that arrived on `lane`. */
  | { readonly type: 'in'; readonly lane: string; readonly envelope: Uint8Array };

export interface RelayCounters {
  published: number;
  delivered: number;
  /** Requests that found no link up; the asking domain retries. */
  offline: number;
  /** Lanes that name no instance this device has. */
  unknownLane: number;
}

export interface RelayOptions {
  readonly routes: readonly ReceiverRoute[];
  readonly link: () => HubLink | null;
  readonly toHypervisor: (lane: string, envelope: Uint8Array) => void;
  /** Ticket lanes: on to the ticket receiver (absent when dominance is off). */
  readonly toReceiver?: (instance: string, envelope: Uint8Array) => void;
  readonly counters?: RelayCounters;
}

export function newRelayCounters(): RelayCounters {
  return { published: 0, delivered: 0, offline: 0, unknownLane: 0 };
}

/** Boot and image transfers are bursts of a few messages: a small mailbox, overflow dropped (the asker retries). */
const RELAY_CAPACITY = 16;

export function laneRelay(o: RelayOptions): ActorSpec<RelayMsg> {
  const counters = o.counters ?? newRelayCounters();
  const hubOf = new Map(o.routes.map((r) => [r.instance as string, r.hubId] as const));
  return {
    name: 'relay',
    capacity: RELAY_CAPACITY,
    start: () => ({
      receive(msg: RelayMsg): void {
        const lane = laneOf(msg.lane);
        const instance = lane === undefined ? undefined : lane.kind === 'boot' ? 'device' : lane.instance;
        if (lane === undefined || instance === undefined || !hubOf.has(instance)) {
          counters.unknownLane++;
          return;
        }
        if (msg.type === 'in') {
          counters.delivered++;
          o.toHypervisor(msg.lane, msg.envelope);
          return;
        }
        if (lane.kind === 'ticket') {
          o.toReceiver?.(instance, msg.envelope);
          return;
        }
        const link = o.link();
        if (link === null) {
          counters.offline++;
          return;
        }
        link.publishRequest(hubOf.get(instance)!, msg.envelope, 'lane');
        counters.published++;
      },
    }),
  };
}
