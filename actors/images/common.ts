/**
 * What every domain image exports besides its `install`: the entry ABI version and the runtime
 * classes a host needs to give the domain a system and channel ends built from the image's *own*
 * code. Each bundle carries its own copy of runtime/ (it is the whole image of its domain), so a
 * host never hands a domain objects made by code outside that domain's verified image, except the
 * supervisor it is installed into and the other ends of its channels — an endpoint of another
 * image in one process, a stream link (runtime/stream-link.ts) across processes — which only ever
 * exchange bytes through the endpoint's public methods.
 */
import { ActorSystem, ChannelEndpoint, RealClock } from '../../runtime/index.ts';

/** Bumped whenever an image's exports or install options change incompatibly. */
export const ENTRY_ABI = 3;

/** The runtime of this image, for the host. */
export const runtime = { ActorSystem, ChannelEndpoint, RealClock } as const;
