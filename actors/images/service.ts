/**
 * What every service image (`sm-<service>.ts`) has in common: an `sm:<service>` domain runs one
 * service actor (actors/sm's extension API) connected to `mm` by one channel. No network, no keys,
 * nothing that signs: the service only publishes through its channel.
 */
import type { ChannelEndpoint, Supervisor } from '../../runtime/index.ts';
import { serviceChannel, type ChannelContract } from '../../proto/channels.ts';
import { checkServiceName, installService, type ServiceSpec } from '../sm/index.ts';
import type { MailboxBudgets } from '../../boards/types.ts';

export interface ServiceInstallOptions<O> {
  /** The image supervisor the hypervisor hands over on each boot of `sm:<service>` (empty). */
  readonly image: Supervisor;
  /** The service's end of mm↔sm:<service> (built from `channels.mm`). */
  readonly mm: ChannelEndpoint;
  /** The service's data directory: persists across restarts, never loaded as code. */
  readonly dataDir: string;
  readonly mailbox: MailboxBudgets['sm'];
  /** Options of this service (e.g. the sensor's sampling period). */
  readonly options?: O;
}

export interface ServiceEntry<O> {
  readonly DOMAIN: 'sm';
  readonly SERVICE: string;
  readonly channels: { readonly mm: ChannelContract };
  /** Spawns the service actor into `image` and routes the channel to it; returns the actor's path. */
  install(o: ServiceInstallOptions<O>): { readonly path: string };
}

/**
 * The image of the service that `make` builds (its spec's name is the service's name). `capacity`
 * overrides the board's service mailbox (a spec handed in whole, as the simulated device does).
 */
export function serviceEntry<O, M>(service: string, make: (options?: O) => ServiceSpec<M>, capacity?: 'spec'): ServiceEntry<O> {
  checkServiceName(service);
  return {
    DOMAIN: 'sm',
    SERVICE: service,
    channels: { mm: serviceChannel(service) },
    install(o) {
      const spec = make(o.options);
      if (spec.name !== service) throw new Error(`service image ${service} built a service named ${spec.name}`);
      const ref = installService(o.image, capacity === 'spec' ? spec : { ...spec, capacity: o.mailbox.service }, o.mm, o.dataDir);
      return { path: ref.path };
    },
  };
}
