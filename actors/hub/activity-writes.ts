/**
 * A batch's activity effects folded to one write per instance — the last decision's request and
 * state, the last ticket's deferral — for whichever store commits them (SQLite, PostgreSQL).
 */
import type { HubEffects } from './effects.ts';
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
    let w = byInstance.get(key);
    if (w === undefined) {
      w = {
        deviceId: a.deviceId,
        instance: a.instance,
        requestAtMs: null,
        outcome: null,
        reason: null,
        state: null,
        ticketAtMs: null,
        deferralMs: null,
        slots: null,
        recovery: null,
      };
      byInstance.set(key, w);
    }
    if (a.runtime !== undefined) {
      w.slots = JSON.stringify(a.runtime.slots);
      w.recovery = a.instance === 'device' ? a.runtime.recovery === true : null;
    }
    w.requestAtMs = a.atMs;
    w.outcome = a.outcome;
    w.reason = a.reason;
    w.state = instanceStateOf(a.outcome, a.reason) ?? w.state;
    if (a.deferralMs !== undefined) {
      w.ticketAtMs = a.atMs;
      w.deferralMs = a.deferralMs;
    }
  }
  return [...byInstance.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, w]) => w);
}
