/**
 * Who connects to the broker (docs/ARCHITECTURE.md §7.1): a device, whose broker username is its
 * device id, or a hub, whose username is `hub@<hubId>`. Device ids are [A-Za-z0-9._-], so no device
 * can take a hub's name. (Not `hub:<id>`: Mosquitto's password_file splits a line at the first ':',
 * and mosquitto_passwd refuses a ':' in a username; for the same reason a hub id with ':' gets no
 * broker credential.)
 */
import type { HubRole } from '../hub/role.ts';

export type Principal =
  { readonly kind: 'device'; readonly deviceId: string } | { readonly kind: 'hub'; readonly hubId: string; readonly role: HubRole };

const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Hub ids as topics allow them, less ':' (see above). */
const HUB_ID = /^[A-Za-z0-9._-]{1,64}$/;
const HUB_PREFIX = 'hub@';

export class PrincipalError extends Error {
  override readonly name = 'PrincipalError';
}

export function deviceUsername(deviceId: string): string {
  if (!DEVICE_ID.test(deviceId)) throw new PrincipalError('a device id is 1-64 characters of [A-Za-z0-9._-]');
  return deviceId;
}

export function hubUsername(hubId: string): string {
  if (!HUB_ID.test(hubId))
    throw new PrincipalError(`hub id "${hubId.slice(0, 64)}": a hub with a broker credential needs an id of 1-64 [A-Za-z0-9._-] (no ':')`);
  return `${HUB_PREFIX}${hubId}`;
}

export function usernameOf(p: Principal): string {
  return p.kind === 'device' ? deviceUsername(p.deviceId) : hubUsername(p.hubId);
}

/** True for names a hub's credential would have (`hub@…`). */
export function isHubUsername(username: string): boolean {
  return username.startsWith(HUB_PREFIX);
}
