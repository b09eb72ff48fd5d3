/**
 * The proxy: the only door between `mm` and the AWDTs. It carries signed envelopes and nothing else,
 * routing by lane (proto/lanes.ts): the ticket lanes `device` to `sw`, `mm` and `sm:<k>` to their VM
 * AWDTs; `boot` and `image.device` to `sw`; `image.mm` and `image.sm:<k>` to the hypervisor's own
 * image fetcher. It never reads the envelopes; whoever receives one checks what is signed.
 */
import type { ActorRef, ActorSpec } from '../../runtime/index.ts';
import { laneOf } from '../../proto/lanes.ts';
import type { AwdtMsg } from '../tickets/index.ts';

export type ProxyMsg =
  | { readonly type: 'mm-request'; readonly instance: string }
  | { readonly type: 'mm-reply'; readonly instance: string; readonly envelope: Uint8Array }
  | { readonly type: 'outbound'; readonly instance: string; readonly envelope: Uint8Array };

export interface ProxyOptions {
  /** Where `device`, `boot` and `image.device` traffic goes (the channel to `sw`). */
  readonly toSw: { request(): void; reply(lane: string, envelope: Uint8Array): void };
  /** Where replies on the VMs' image lanes go (the hypervisor's image fetcher); none: dropped. */
  readonly toFetcher?: (lane: string, envelope: Uint8Array) => void;
  /** Where signed requests go (the channel to `mm`). */
  readonly toMm: (instance: string, envelope: Uint8Array) => void;
  /** The VM AWDT for an instance, if there is one (looked up per message: VMs reboot). */
  readonly vmAwdt: (instance: string) => ActorRef<AwdtMsg> | undefined;
}

export interface ProxyCounters {
  forwarded: number;
  unknownInstance: number;
}

export function proxyActor(o: ProxyOptions, counters: ProxyCounters = { forwarded: 0, unknownInstance: 0 }): ActorSpec<ProxyMsg> {
  const unknown = (): void => {
    counters.unknownInstance++;
  };
  return {
    name: 'proxy',
    capacity: 64,
    start: () => ({
      receive(msg: ProxyMsg): void {
        switch (msg.type) {
          case 'mm-request':
          case 'mm-reply': {
            const lane = laneOf(msg.instance);
            if (lane === undefined) return unknown();
            if (lane.kind !== 'ticket' || lane.instance === 'device') {
              if (msg.type === 'mm-request') {
                if (lane.kind !== 'ticket') return unknown(); // mm asks for ticket rounds only
                o.toSw.request();
              } else if (lane.kind === 'image' && lane.instance !== 'device') {
                if (o.toFetcher === undefined) return unknown();
                o.toFetcher(msg.instance, msg.envelope);
              } else o.toSw.reply(msg.instance, msg.envelope);
              counters.forwarded++;
              return;
            }
            const awdt = o.vmAwdt(msg.instance);
            if (awdt === undefined) return unknown();
            // offer, not tell: a flood from mm must not fault the hypervisor's AWDTs.
            const delivered = awdt.offer(msg.type === 'mm-request' ? { type: 'request' } : { type: 'reply', envelope: msg.envelope });
            if (delivered) counters.forwarded++;
            return;
          }
          case 'outbound':
            o.toMm(msg.instance, msg.envelope);
            counters.forwarded++;
            return;
        }
      },
    }),
  };
}
