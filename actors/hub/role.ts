/**
 * Which AWDT instances a hub dominates (docs/ARCHITECTURE.md §1, §2): the infrastructure hub (IH) answers
 * for `device` and `mm`; the service hub of supplier k (SH_k) answers for `sm:k` only.
 */
import { isInstance, serviceInstance } from '../../proto/index.ts';

export type HubRole = { readonly kind: 'ih' } | { readonly kind: 'sh'; readonly service: string };

export const IH_ROLE: HubRole = Object.freeze({ kind: 'ih' });

/** An SH role for `service`; throws InvalidInstanceError for a bad service name. */
export function serviceHubRole(service: string): HubRole {
  serviceInstance(service); // validates the name
  return Object.freeze({ kind: 'sh', service });
}

/** True when a hub in `role` is the one that answers requests for `instance`. */
export function dominates(role: HubRole, instance: string): boolean {
  if (!isInstance(instance)) return false;
  return role.kind === 'ih' ? instance === 'device' || instance === 'mm' : instance === serviceInstance(role.service);
}

/** `ih` or `sh:<service>`, for status messages and logs. */
export function roleName(role: HubRole): string {
  return role.kind === 'ih' ? 'ih' : `sh:${role.service}`;
}

/** `<hub id> (ih)` or `<hub id> (sh:<service>)`: a hub as messages name it, and as identities are compared. */
export function hubName(hub: { readonly hubId: string; readonly role: HubRole }): string {
  return `${hub.hubId} (${roleName(hub.role)})`;
}
