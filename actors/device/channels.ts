/**
 * The device's internal channels (single placement): every cross-domain message is one of these
 * frames. `sw ↔ hypervisor` and `hypervisor ↔ mm` carry only the ticket protocol; `mm ↔ sm:<k>`
 * carries only that service's traffic.
 */
import { defineChannel, type ChannelSpec } from '../../runtime/index.ts';
import { lite } from '../../proto/index.ts';

/** A signed envelope (≤ 64 KiB request) plus the frame header and instance name. */
const TICKET_FRAME_MAX = 66 * 1024;

export const swHypervisorChannel: ChannelSpec = defineChannel({
  name: 'sw-hypervisor',
  types: [lite.proxyRequest, lite.proxyEnvelope],
  maxFrameBytes: TICKET_FRAME_MAX,
});

export const hypervisorMmChannel: ChannelSpec = defineChannel({
  name: 'hypervisor-mm',
  types: [lite.proxyRequest, lite.proxyEnvelope],
  maxFrameBytes: TICKET_FRAME_MAX,
});

export function serviceChannel(service: string): ChannelSpec {
  return defineChannel({ name: `mm-sm.${service}`, types: [lite.serviceFrame], maxFrameBytes: 64 * 1024 + 64 });
}
