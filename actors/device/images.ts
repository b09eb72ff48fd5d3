/**
 * The images a device boots: one module per domain with the exports of actors/images/. A host gets
 * them from verified bundles (artifacts.ts) or, for the simulated device, straight from the sources
 * (`sourceImages`) — the assembly cannot tell the difference.
 */
import { cryptoBackend } from '../crypto/index.ts';
import { serviceInstance } from '../../proto/index.ts';
import type { ServiceSpec } from '../sm/index.ts';
import * as hypervisorSource from '../images/hypervisor.ts';
import * as mmSource from '../images/mm.ts';
import * as swSource from '../images/sw.ts';
import { runtime, ENTRY_ABI } from '../images/common.ts';
import { serviceEntry, type ServiceEntry } from '../images/service.ts';

export type SwImage = typeof import('../images/sw.ts');
export type HypervisorImage = typeof import('../images/hypervisor.ts');
export type MmImage = typeof import('../images/mm.ts');
/** What a service image is told besides its channel: the board's ticket interval as its period. */
export type ServiceOptions = { readonly periodMs?: number };
export type ServiceImage = ServiceEntry<ServiceOptions> & { readonly ENTRY_ABI: number; readonly runtime: ImageRuntime };
/** The runtime classes each image carries (its own copy, in a bundle). */
export type ImageRuntime = (typeof import('../images/common.ts'))['runtime'];

export interface DeviceImages {
  readonly sw: SwImage;
  readonly hypervisor: HypervisorImage;
  readonly mm: MmImage;
  /** By service name, in the board's order. */
  readonly services: ReadonlyMap<string, ServiceImage>;
  /** SHA-512 of each image by domain label (`sw`, `hypervisor`, `mm`, `sm:<service>`). */
  readonly digests: ReadonlyMap<string, Uint8Array>;
  /** The firmware version and the digest of the manifest naming these images. */
  readonly version: string;
  readonly manifestDigest: Uint8Array;
}

/** The images of the hypervisor and its VMs: all but `sw`'s (what the second process of `split` placement loads). */
export type VmImages = Omit<DeviceImages, 'sw'>;

const utf8 = new TextEncoder();

/**
 * The images of the simulated device: the sources themselves, with the given service specs. There is
 * no manifest, so each digest is the SHA-512 of a label naming the image and its version.
 */
export function sourceImages(version: string, services: ReadonlyArray<ServiceSpec<never>>): DeviceImages {
  const node = cryptoBackend('node');
  const digest = (label: string): Uint8Array => node.sha512(utf8.encode(label));
  return {
    sw: swSource,
    hypervisor: hypervisorSource,
    mm: mmSource,
    services: new Map(services.map((spec) => [spec.name, { ...serviceEntry(spec.name, () => spec, 'spec'), ENTRY_ABI, runtime }] as const)),
    digests: new Map([
      ['sw', digest(`sw@${version}`)],
      ['hypervisor', digest(`hypervisor@${version}`)],
      ['mm', digest(`mm@${version}`)],
      ...services.map((s) => [serviceInstance(s.name), digest(`${s.name}@${s.version}`)] as const),
    ]),
    version,
    manifestDigest: digest(`firmware@${version}`),
  };
}
