/**
 * The extension API for service suppliers. A service is one actor in its own domain `sm:<name>`:
 * it receives its own messages and inbound traffic, sends telemetry out through `mm`, keeps files in
 * its data directory (which survives restarts, but is never loaded as code), and nothing else — no
 * network, no keys, no other domain.
 */
import type { ActorContext, ActorRef, Behavior, ChannelEndpoint, Supervisor } from '../../runtime/index.ts';
import { lite } from '../../proto/index.ts';

/**
 * What `mm` delivers to a service: traffic from its hub; word that a message it published on
 * `stream` was accepted by `mm` but not sent (no link to the broker, or too many of its bytes are
 * still unacknowledged) — a refused message is gone, so keep what must not be lost; and, after one
 * or more refusals, word that it may send again (`resume`).
 */
export type ServiceInbound =
  | { readonly type: 'inbound'; readonly payload: Uint8Array }
  | { readonly type: 'refused'; readonly stream: string }
  | { readonly type: 'resume' };

export interface ServiceContext<M> {
  /** The service's name; its domain is `sm:<service>`. */
  readonly service: string;
  /** Persistent, per service; survives restarts and resets. */
  readonly dataDir: string;
  /** The underlying actor context: `now()`, timers, effects, `self`. */
  readonly actor: ActorContext<M | ServiceInbound>;
  /**
   * Publishes `payload` on `dominion/v1/service/<service>/<device>/<stream>` via `mm`. Returns false
   * (and the channel counts why) when `mm` cannot take it now; a `refused` message follows when `mm`
   * took it but could not send it.
   */
  publish(stream: string, payload: Uint8Array): boolean;
}

export interface ServiceSpec<M> {
  /** 1–32 characters of [a-z0-9-]. */
  readonly name: string;
  readonly version: string;
  /** Mailbox capacity of the service actor. */
  readonly capacity: number;
  start(ctx: ServiceContext<M>): Behavior<M | ServiceInbound>;
}

const NAME = /^[a-z0-9-]{1,32}$/;

export function checkServiceName(name: string): string {
  if (!NAME.test(name)) throw new Error(`service name "${name}" must be 1-32 characters of [a-z0-9-]`);
  return name;
}

/**
 * Installs a service into its VM's (empty) image supervisor and connects it to its channel endpoint
 * (the `sm` side of the channel to `mm`). Called on every VM boot.
 */
export function installService<M>(
  image: Supervisor,
  spec: ServiceSpec<M>,
  endpoint: ChannelEndpoint,
  dataDir: string,
): ActorRef<M | ServiceInbound> {
  const ref = image.spawn<M | ServiceInbound>({
    name: spec.name,
    capacity: spec.capacity,
    start: (actor) =>
      spec.start({
        service: spec.name,
        dataDir,
        actor,
        publish: (stream, payload) => endpoint.send(lite.serviceFrame, { stream, payload }),
      }),
  });
  endpoint.route(lite.serviceFrame, ref, (frame): ServiceInbound => ({ type: 'inbound', payload: frame.payload }));
  endpoint.route(lite.serviceRefused, ref, (frame): ServiceInbound => ({ type: 'refused', stream: frame.stream }));
  endpoint.route(lite.serviceResume, ref, (): ServiceInbound => ({ type: 'resume' }));
  return ref;
}
