/**
 * What every domain bundle exports besides its `install`: the entry ABI version and the runtime
 * classes a runner needs to give the domain a system and channel ends built from the bundle's *own*
 * code. Each bundle carries its own copy of runtime/ (it is the whole image of its domain), so a
 * runner never hands a domain objects made by code outside that domain's verified image, except the
 * supervisor it is installed into and the other ends of its channels — an endpoint of another
 * bundle in `single` placement, a stream link (runtime/stream-link.ts) in `process` — which only
 * ever exchange bytes through the endpoint's public methods.
 */
import { ActorSystem, ChannelEndpoint, RealClock } from '../../runtime/index.ts';

/** Bumped whenever an entry's exports or install options change incompatibly. */
export const ENTRY_ABI = 2;

/** The runtime of this bundle, for the runner. */
export const runtime = { ActorSystem, ChannelEndpoint, RealClock } as const;

export { codecOf, withCapacity } from '../../runtime/index.ts';
