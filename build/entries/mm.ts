/**
 * The `mm` domain's image (bundle entry): the ticket receiver, the forwarder and the uplink (MQTT
 * over TCP). It relays signed frames as opaque bytes with the hand-written codecs of proto/lite.ts:
 * no protobuf runtime, no key, nothing that signs.
 *
 * A runner builds mm's end of hypervisor↔mm from `channels.hypervisor` and of each mm↔sm:<k> from
 * `channels.service(k)`, and gives the hypervisor a VM slot whose `install` calls this `install`
 * with the image supervisor it is handed (on every boot of `mm`).
 */
import { hypervisorMmChannel, serviceChannel } from '../../actors/device/channels.ts';

export { ENTRY_ABI, runtime } from './common.ts';
export { MqttHubLink } from '../../actors/mm/index.ts';

export const DOMAIN = 'mm';

/** The channels `mm` has ends on, as specs built from this bundle's code. */
export const channels = { hypervisor: hypervisorMmChannel, service: serviceChannel } as const;

export { installMm as install, type MmInstallOptions } from '../../actors/mm/domain.ts';
