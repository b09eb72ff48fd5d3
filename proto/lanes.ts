/**
 * The lanes of a device's reply topic (`dominion/v1/device/<id>/reply/<lane>`, docs/PROTOCOL.md). An
 * AWDT instance's lane is its name and carries only TicketReplies; gated boot and image transfer have
 * lanes of their own, so a boot ticket or an image chunk never reaches an AWDT (whose outstanding
 * nonce any reply attempt would clear).
 */
import { instanceProblem, type Instance } from './instance.ts';

export type Lane =
  | { readonly kind: 'ticket'; readonly instance: Instance }
  | { readonly kind: 'boot' }
  | { readonly kind: 'image'; readonly instance: Instance };

const IMAGE_PREFIX = 'image.';

export const lanes = {
  /** BootTickets, for `sw`. */
  boot: 'boot',
  /** ImageChunks answering requests signed by `instance` ("device" for sw and hypervisor images). */
  image: (instance: string): string => `${IMAGE_PREFIX}${instance}`,
} as const;

/** The lane a reply-topic segment names, or undefined when it names none. */
export function laneOf(segment: string): Lane | undefined {
  if (segment === lanes.boot) return { kind: 'boot' };
  if (segment.startsWith(IMAGE_PREFIX)) {
    const instance = segment.slice(IMAGE_PREFIX.length);
    return instanceProblem(instance) === undefined ? { kind: 'image', instance: instance as Instance } : undefined;
  }
  return instanceProblem(segment) === undefined ? { kind: 'ticket', instance: segment as Instance } : undefined;
}
