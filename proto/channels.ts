/**
 * The contract between a device's domains: which frames cross which border, and how big a frame may
 * be. Domains meet only through these channels (docs/ARCHITECTURE.md §1, §4); each end is built from
 * this table by its own image, and a runtime `ChannelEndpoint` takes an entry as its spec.
 *
 * A frame's type id is its position in `types`: append new types, never reorder.
 */
import { serviceInstance } from './instance.ts';
import { lite, type LiteCodec } from './lite.ts';

export interface ChannelContract {
  /** The channel's name: names its inlet actors and every error it reports. */
  readonly name: string;
  /** The domain at end `a` and the one at end `b`. */
  readonly between: readonly [string, string];
  /** The message types it carries; a frame's type id is the position here. */
  readonly types: readonly LiteCodec<unknown>[];
  /** Whole frames (6-byte header included) above this are refused before their body is read. */
  readonly maxFrameBytes: number;
}

/** A signed envelope (≤ 64 KiB request) plus the frame header and instance name. */
const TICKET_FRAME_MAX = 66 * 1024;
/** A service payload (≤ 64 KiB) plus its stream name and the frame header. */
const SERVICE_FRAME_MAX = 64 * 1024 + 64;

function contract(c: ChannelContract): ChannelContract {
  return Object.freeze({
    ...c,
    between: Object.freeze([...c.between]) as unknown as readonly [string, string],
    types: Object.freeze([...c.types]),
  });
}

/**
 * sw ↔ hypervisor: the device instance's ticket protocol, gated boot and sw's image transfers.
 * hypervisor → sw: ProxyRequest ("sign a request now") and ProxyEnvelope (a reply from the IH on the
 * lane `device`, `boot` or `image.device`); sw → hypervisor: ProxyEnvelope (a signed request for one
 * of those lanes) and BootGranted (start the services).
 */
export const SW_HYPERVISOR = contract({
  name: 'sw-hypervisor',
  between: ['sw', 'hypervisor'],
  types: [lite.proxyRequest, lite.proxyEnvelope, lite.bootGranted],
  maxFrameBytes: TICKET_FRAME_MAX,
});

/**
 * hypervisor ↔ mm: the ticket protocol of every instance, gated boot and image transfers. mm →
 * hypervisor: ProxyRequest and ProxyEnvelope (a reply on some lane, proto/lanes.ts); hypervisor → mm:
 * ProxyEnvelope (a signed request for some lane).
 */
export const HYPERVISOR_MM = contract({
  name: 'hypervisor-mm',
  between: ['hypervisor', 'mm'],
  types: [lite.proxyRequest, lite.proxyEnvelope],
  maxFrameBytes: TICKET_FRAME_MAX,
});

/**
 * mm ↔ sm:<service>: that service's traffic only. sm → mm: ServiceFrame (publish on a stream);
 * mm → sm: ServiceFrame (stream "in": from the service's hub), ServiceRefused (a message was not
 * sent) and ServiceResume (mm can send again).
 */
export function serviceChannel(service: string): ChannelContract {
  return contract({
    name: `mm-sm.${service}`,
    between: ['mm', serviceInstance(service)],
    types: [lite.serviceFrame, lite.serviceRefused, lite.serviceResume],
    maxFrameBytes: SERVICE_FRAME_MAX,
  });
}
