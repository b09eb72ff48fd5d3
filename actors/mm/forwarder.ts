/**
 * The forwarder: carries service traffic between each `sm:<service>` and MQTT, the way the source
 * system's MM forwards its SMs' packets. It never reads the payloads.
 */
import type { ActorSpec } from '../../runtime/index.ts';
import type { HubLink } from './hub-link.ts';

export type ForwarderMsg =
  | { readonly type: 'out'; readonly service: string; readonly stream: string; readonly payload: Uint8Array }
  | { readonly type: 'in'; readonly service: string; readonly payload: Uint8Array }
  /** The link can send again (it came up, or its unacknowledged bytes fell back under budget). */
  | { readonly type: 'writable' };

export interface ForwarderCounters {
  out: number;
  in: number;
  dropped: number;
}

export interface ForwarderOptions {
  readonly link: () => HubLink | null;
  /** Sends inbound traffic to a service's domain; false when it has no such service or it is full. */
  readonly toService: (service: string, payload: Uint8Array) => boolean;
  /**
   * Tells a service that a message it published on `stream` was not sent (no link, or the link's
   * budget of unacknowledged bytes is spent): its only backpressure signal past the channel.
   */
  readonly refused?: (service: string, stream: string) => void;
  /** Tells a service that heard `refused` that it may send again; once per run of refusals. */
  readonly resume?: (service: string) => void;
  /**
   * True while service data is held back so ticket requests go first on a link that is down or has
   * just come up (docs/ARCHITECTURE.md §7.4): such a publish is refused like one over budget.
   */
  readonly held?: () => boolean;
  readonly counters?: ForwarderCounters;
}

export function forwarder(o: ForwarderOptions): ActorSpec<ForwarderMsg> {
  const counters = o.counters ?? { out: 0, in: 0, dropped: 0 };
  return {
    name: 'forwarder',
    capacity: 256,
    start: () => {
      // Services told `refused` and not yet told `resume`.
      const waiting = new Set<string>();
      return {
        receive(msg: ForwarderMsg): void {
          if (msg.type === 'writable') {
            for (const service of waiting) o.resume?.(service);
            waiting.clear();
            return;
          }
          if (msg.type === 'out') {
            const link = o.link();
            if (link !== null && o.held?.() !== true && link.publishService(msg.service, msg.stream, msg.payload)) {
              counters.out++;
              // Sent again after refusals: traffic flows, whether or not the link said so.
              if (waiting.delete(msg.service)) o.resume?.(msg.service);
              return;
            }
            // No link, tickets first, or the budget for unacknowledged service bytes is spent: the service hears of it.
            counters.dropped++;
            waiting.add(msg.service);
            o.refused?.(msg.service, msg.stream);
          } else if (o.toService(msg.service, msg.payload)) counters.in++;
          else counters.dropped++;
        },
      };
    },
  };
}
