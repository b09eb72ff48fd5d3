/**
 * The `mm` domain's image: the ticket receiver, the forwarder and the uplink (MQTT over TCP). It
 * relays signed frames as opaque bytes with the hand-written codecs of proto/lite.ts: no protobuf
 * runtime, no key, nothing that signs.
 */
import { HYPERVISOR_MM, serviceChannel } from '../../proto/channels.ts';

export { ENTRY_ABI, runtime } from './common.ts';
/** The real uplink, for hosts that open it themselves (and a check that MQTT.js loads from verified bytes). */
export { MqttHubLink } from '../mm/index.ts';

export const DOMAIN = 'mm';

/** The channels `mm` has ends on. */
export const channels = { hypervisor: HYPERVISOR_MM, service: serviceChannel } as const;

export { installMm as install, type MmInstallOptions } from '../mm/domain.ts';
