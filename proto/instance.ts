/**
 * AWDT instance names, as carried in TicketRequest.instance, TicketReply.instance and
 * DeferralTicket.instance (docs/ARCHITECTURE.md §2):
 *
 * - `device`        — the `sw` AWDT, dominated by the IH (strong dominance);
 * - `mm`            — the hypervisor's AWDT for the management VM, dominated by the IH;
 * - `sm:<service>`  — the hypervisor's AWDT for one service VM, dominated by that supplier's SH.
 *
 * A service name is 1–32 characters of [a-z0-9-]. Nothing else is an instance.
 */

export type ServiceInstance = `sm:${string}`;
export type Instance = 'device' | 'mm' | ServiceInstance;

export const SERVICE_PREFIX = 'sm:';
export const SERVICE_NAME_MAX = 32;
const SERVICE_NAME = /^[a-z0-9-]{1,32}$/;

/** A string that is not a well-formed instance name. */
export class InvalidInstanceError extends Error {
  override readonly name = 'InvalidInstanceError';
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`invalid instance ${quote(input)}: ${reason}`);
  }
}

/** Why `s` is not an instance name, or undefined when it is one. */
export function instanceProblem(s: string): string | undefined {
  if (typeof s !== 'string') return `expected a string, got ${typeof s}`;
  if (s === 'device' || s === 'mm') return undefined;
  if (!s.startsWith(SERVICE_PREFIX)) return `expected "device", "mm" or "sm:<service>"`;
  const service = s.slice(SERVICE_PREFIX.length);
  if (!SERVICE_NAME.test(service)) {
    return `service name must be 1–${SERVICE_NAME_MAX} characters of [a-z0-9-]`;
  }
  return undefined;
}

export function isInstance(s: string): s is Instance {
  return instanceProblem(s) === undefined;
}

/** Returns `s` typed as an Instance, or throws InvalidInstanceError. */
export function parseInstance(s: string): Instance {
  const problem = instanceProblem(s);
  if (problem !== undefined) throw new InvalidInstanceError(s, problem);
  return s as Instance;
}

/** Builds `sm:<service>`, throwing InvalidInstanceError for a bad service name. */
export function serviceInstance(service: string): ServiceInstance {
  return parseInstance(SERVICE_PREFIX + service) as ServiceInstance;
}

/** True for `sm:<service>` instances (the ones dominated by a service hub). */
export function isServiceInstance(instance: Instance): instance is ServiceInstance {
  return instance.startsWith(SERVICE_PREFIX);
}

/** The service name of an `sm:<service>` instance; undefined for `device` and `mm`. */
export function serviceOf(instance: ServiceInstance): string;
export function serviceOf(instance: Instance): string | undefined;
export function serviceOf(instance: Instance): string | undefined {
  return isServiceInstance(instance) ? instance.slice(SERVICE_PREFIX.length) : undefined;
}

function quote(s: unknown): string {
  const text = typeof s === 'string' ? s : String(s);
  return JSON.stringify(text.length > 48 ? `${text.slice(0, 48)}…` : text);
}
