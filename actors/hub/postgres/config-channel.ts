/**
 * The NOTIFY channel of a hub's operator changes (docs/ARCHITECTURE.md §7.4). One channel per
 * schema (`dominion_config_<schema>`), so hubs (or tests) sharing one database do not wake each
 * other. The payload names what changed, so a worker re-reads one device, not the whole registry.
 */
import type { PgQueryable } from './connect.ts';

export type ConfigChange =
  | { readonly device: string }
  | { readonly fleet: true }
  | { readonly rollouts: true }
  | { readonly releases: true }
  /** Anything: re-read everything (also what a worker does when its LISTEN connection came back). */
  | { readonly all: true };

/** The channel's name for the connection's current schema (computed on the server, as in `notifyChange`). */
export async function configChannel(db: PgQueryable): Promise<string> {
  const r = await db.query<{ c: string }>("SELECT 'dominion_config_' || current_schema() AS c");
  return r.rows[0]!.c;
}

/** Queues the notification in the current transaction (sent at commit, not at all on rollback). */
export async function notifyChange(db: PgQueryable, change: ConfigChange): Promise<void> {
  await db.query("SELECT pg_notify('dominion_config_' || current_schema(), $1)", [encodeChange(change)]);
}

export function encodeChange(change: ConfigChange): string {
  if ('device' in change) return `device:${change.device}`;
  if ('fleet' in change) return 'fleet';
  if ('rollouts' in change) return 'rollouts';
  if ('releases' in change) return 'releases';
  return 'all';
}

/** A payload we do not understand (a newer dominion's) means: re-read everything. */
export function decodeChange(payload: string | undefined): ConfigChange {
  if (payload?.startsWith('device:') === true && payload.length > 7) return { device: payload.slice(7) };
  if (payload === 'fleet') return { fleet: true };
  if (payload === 'rollouts') return { rollouts: true };
  if (payload === 'releases') return { releases: true };
  return { all: true };
}
