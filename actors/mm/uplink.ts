/**
 * The uplink: owns `mm`'s one connection to the hubs for the lifetime of an incarnation, and routes
 * what arrives — ticket replies to the receiver, service traffic to the forwarder.
 */
import type { ActorRef, ActorSpec } from '../../runtime/index.ts';
import type { ForwarderMsg } from './forwarder.ts';
import type { HubLink } from './hub-link.ts';
import type { ReceiverMsg } from './ticket-receiver.ts';
import type { RelayMsg } from './relay.ts';
import { laneOf } from '../../proto/lanes.ts';

/** Shared by the mm actors of one boot; set while the uplink runs. */
export interface LinkHolder {
  link: HubLink | null;
  /**
   * Service data held back: the link is down, or up again but the ticket requests asked for at once
   * have not all gone out (docs/ARCHITECTURE.md §7.4). Only with a ticket receiver, which clears it.
   */
  held: boolean;
}

export function uplinkActor(
  openLink: () => HubLink,
  holder: LinkHolder,
  /** Without a receiver (dominance off, for baselines) ticket traffic is ignored. */
  to: { receiver?: ActorRef<ReceiverMsg>; forwarder: ActorRef<ForwarderMsg>; relay: ActorRef<RelayMsg> },
): ActorSpec<never> {
  return {
    name: 'uplink',
    capacity: 1,
    start: () => {
      const link = openLink();
      holder.link = link;
      holder.held = to.receiver !== undefined;
      link.start({
        // Ticket lanes to the receiver (it keeps the rounds), boot and image lanes to the relay.
        reply: (lane, envelope) =>
          void (laneOf(lane)?.kind === 'ticket'
            ? to.receiver?.offer({ type: 'reply', instance: lane, envelope })
            : to.relay.offer({ type: 'in', lane, envelope })),
        service: (service, payload) => void to.forwarder.offer({ type: 'in', service, payload }),
        connection: (up) => {
          // Down: hold service data. Up: the receiver sends its requests first and then says so.
          if (!up && to.receiver !== undefined) holder.held = true;
          to.receiver?.offer({ type: 'link', up });
          if (up && to.receiver === undefined) to.forwarder.offer({ type: 'writable' });
        },
        writable: () => void to.forwarder.offer({ type: 'writable' }),
      });
      return {
        receive: () => {},
        stopped: () => {
          if (holder.link === link) holder.link = null;
          link.close();
        },
      };
    },
  };
}
