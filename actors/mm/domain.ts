/**
 * The `mm` domain's wiring, exported by its image (actors/images/mm.ts) and installed by the device
 * assembly (actors/device/assemble.ts) on every boot of `mm`: the ticket receiver, the forwarder and the uplink. It relays
 * signed frames as opaque bytes with the hand-written codecs of proto/lite.ts: no protobuf runtime,
 * no key, nothing that signs.
 */
import { withCapacity, type ChannelEndpoint, type Supervisor } from '../../runtime/index.ts';
import { lite, SERVICE_INBOUND_STREAM } from '../../proto/lite.ts';
import type { BoardTiming, MailboxBudgets } from '../../boards/types.ts';
import { forwarder, type ForwarderMsg } from './forwarder.ts';
import type { HubLink } from './hub-link.ts';
import { MqttHubLink, type MqttLinkOptions } from './mqtt-link.ts';
import { defaultFailoverMs } from './failover.ts';
import { ticketReceiver, type ReceiverCounters, type ReceiverMsg, type ReceiverRoute } from './ticket-receiver.ts';
import { uplinkActor, type LinkHolder } from './uplink.ts';
import { laneRelay, type RelayCounters, type RelayMsg } from './relay.ts';

export interface MmInstallOptions {
  /** The image supervisor the hypervisor hands over on each boot of `mm` (empty). */
  readonly image: Supervisor;
  /** mm's end of hypervisor↔mm (built from `channels.hypervisor`). */
  readonly hypervisor: ChannelEndpoint;
  /** mm's end of each mm↔sm:<service> channel (built from `channels.service(name)`). */
  readonly services: ReadonlyArray<{ readonly name: string; readonly endpoint: ChannelEndpoint }>;
  /** Which hub dominates each instance: `device` and `mm` → IH, `sm:<k>` → SH_k. */
  readonly routes: readonly ReceiverRoute[];
  readonly timing: Pick<BoardTiming, 'intervalMs' | 'replyTimeoutMs'>;
  readonly mailbox: MailboxBudgets['mm'];
  /** The uplink: an MQTT broker (the default link) or a link factory (simulations, tests). */
  readonly link: MqttLinkOptions | (() => HubLink);
  readonly jitter?: () => number;
  readonly counters?: ReceiverCounters;
  readonly relayCounters?: RelayCounters;
  /** False only for baselines that measure a device without dominance: no ticket receiver. */
  readonly dominance?: boolean;
}

/** Spawns `ticket-receiver`, `forwarder` and `uplink` into `image` and routes mm's channel ends to them. */
export function installMm(o: MmInstallOptions): void {
  const { proxyRequest: request, proxyEnvelope: envelope } = lite;
  const link = o.link;
  // Failover well inside the deferral unless told otherwise (docs/ARCHITECTURE.md §7.4).
  const openLink =
    typeof link === 'function'
      ? link
      : () =>
          new MqttHubLink({
            ...link,
            failoverMs: link.failoverMs ?? defaultFailoverMs(o.timing.intervalMs),
            // Requests expire after one interval on MQTT 5; the keep-alive follows it (mqtt-link.ts).
            intervalMs: link.intervalMs ?? o.timing.intervalMs,
          });
  const holder: LinkHolder = { link: null, held: o.dominance !== false };
  // The forwarder, once spawned: the receiver tells it when service data may follow the tickets.
  let resumeServices: () => void = () => {};
  const receiver =
    o.dominance === false
      ? undefined
      : o.image.spawn<ReceiverMsg>(
          withCapacity(
            ticketReceiver({
              routes: o.routes,
              intervalMs: o.timing.intervalMs,
              replyTimeoutMs: o.timing.replyTimeoutMs,
              jitter: o.jitter ?? Math.random,
              link: () => holder.link,
              toProxy: {
                request: (instance) => o.hypervisor.send(request, { instance }),
                reply: (instance, env) => o.hypervisor.send(envelope, { instance, envelope: env }),
              },
              counters: o.counters,
              caughtUp: () => {
                holder.held = false;
                resumeServices();
              },
            }),
            o.mailbox.receiver,
          ),
        );
  const byService = new Map(o.services.map((s) => [s.name, s.endpoint] as const));
  const fwd = o.image.spawn<ForwarderMsg>(
    withCapacity(
      forwarder({
        link: () => holder.link,
        toService: (service, payload) =>
          byService.get(service)?.send(lite.serviceFrame, { stream: SERVICE_INBOUND_STREAM, payload }) ?? false,
        refused: (service, stream) => void byService.get(service)?.send(lite.serviceRefused, { stream }),
        resume: (service) => void byService.get(service)?.send(lite.serviceResume, {}),
        held: () => holder.held,
      }),
      o.mailbox.forwarder,
    ),
  );
  resumeServices = () => void fwd.offer({ type: 'writable' });
  const relay = o.image.spawn<RelayMsg>(
    laneRelay({
      routes: o.routes,
      link: () => holder.link,
      toHypervisor: (lane, env) => o.hypervisor.send(envelope, { instance: lane, envelope: env }),
      toReceiver: receiver && ((instance, env) => void receiver.offer({ type: 'signed', instance, envelope: env })),
      counters: o.relayCounters,
    }),
  );
  o.image.spawn(uplinkActor(openLink, holder, { receiver, forwarder: fwd, relay }));
  o.hypervisor.route(envelope, relay, (m): RelayMsg => ({ type: 'out', lane: m.instance, envelope: m.envelope }));
  for (const [name, endpoint] of byService) {
    endpoint.route(lite.serviceFrame, fwd, (f): ForwarderMsg => ({ type: 'out', service: name, stream: f.stream, payload: f.payload }));
  }
}
