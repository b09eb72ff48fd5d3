/**
 * The `sm:sensor` domain's image: the example sensor service. One file like this per
 * service, named `sm-<service>.ts`; a board profile's `services` must each have one.
 */
import { sensorService, type SensorOptions } from '../sm/index.ts';
import { serviceEntry } from './service.ts';

export { ENTRY_ABI, runtime } from './common.ts';

const entry = serviceEntry('sensor', (options?: SensorOptions) => sensorService(options));

export const DOMAIN = entry.DOMAIN;
export const SERVICE = entry.SERVICE;
export const channels = entry.channels;
export const install = entry.install;
