/**
 * A batch's activity effects folded to one write per instance — the last decision's request and
 * state, the last ticket's deferral — for whichever store commits them (SQLite, PostgreSQL).
 */
import type { ActivityEffect, HubEffects } from './effects.ts';
import { instanceStateOf } from './reasons.ts';

export interface ActivityWrite {
  deviceId: string;
  instance: string;
  requestAtMs: number | null;
  outcome: string | null;
  reason: string | null;
  state: string | null;
  ticketAtMs: number | null;
  deferralMs: number | null;
  /** JSON of the latest valid request's slots (runtime-record.ts); null keeps what is stored. */
  slots: string | null;
  /** `device` only: it reported recovery mode; null keeps what is stored. */
  recovery: boolean | null;
}

/** One write per instance, in key order (so two writers lock rows alike). */
export function mergeActivity(batch: readonly HubEffects[]): ActivityWrite[] {
  const byInstance = new Map<string, ActivityWrite>();
  for (const { activity: a } of batch) {
    if (a === undefined) continue;
    const key = `${a.deviceId}\u0000${a.instance}`;
    const w = writeOf(a);
    const before = byInstance.get(key);
    byInstance.set(key, before === undefined ? w : laterWrite(before, w));
  }
  return [...byInstance.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, w]) => w);
}

/** One decision's activity as a write: null where it says nothing (the stored value stays). */
function writeOf(a: ActivityEffect): ActivityWrite {
  const ticket = a.deferralMs !== undefined;
  return {
    deviceId: a.deviceId,
    instance: a.instance,
    requestAtMs: a.atMs,
    outcome: a.outcome,
    reason: a.reason,
    state: instanceStateOf(a.outcome, a.reason) ?? null,
    ticketAtMs: ticket ? a.atMs : null,
    deferralMs: ticket ? a.deferralMs! : null,
    slots: a.runtime !== undefined ? JSON.stringify(a.runtime.slots) : null,
    recovery: a.runtime !== undefined && a.instance === 'device' ? a.runtime.recovery === true : null,
  };
}

/**
 * `later` over `earlier`, field by field: nulls keep what was there; the deferral goes with its
 * ticket. The one merge rule for a batch's writes, held writes (sqlite/activity-buffer.ts) and the
 * start-up fold.
 */
export function laterWrite(earlier: ActivityWrite, later: ActivityWrite): ActivityWrite {
  return {
    deviceId: later.deviceId,
    instance: later.instance,
    requestAtMs: later.requestAtMs ?? earlier.requestAtMs,
    outcome: later.outcome ?? earlier.outcome,
    reason: later.reason ?? earlier.reason,
    state: later.state ?? earlier.state,
    ticketAtMs: later.ticketAtMs ?? earlier.ticketAtMs,
    deferralMs: later.ticketAtMs !== null ? later.deferralMs : earlier.deferralMs,
    slots: later.slots ?? earlier.slots,
    recovery: later.recovery ?? earlier.recovery,
  };
}
