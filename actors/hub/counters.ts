/**
 * Decision counters, readable at run time: how many requests ended in each outcome, and why. Bad
 * input is counted here rather than thrown or logged, so a flood of junk is visible but harmless.
 */
import type { DecisionReason, HubOutcome } from './reasons.ts';

export interface HubCounterSnapshot {
  readonly total: number;
  readonly outcomes: Readonly<Record<HubOutcome, number>>;
  /** Per outcome, per reason: e.g. `refused.bad-signature`, `withheld.quarantined`, `ticket.granted`. */
  readonly reasons: Readonly<Record<HubOutcome, Readonly<Partial<Record<DecisionReason, number>>>>>;
  /** Decisions whose audit entry could not be written. */
  readonly auditFailures: number;
}

export class DecisionCounters {
  private total = 0;
  private auditFailures = 0;
  private readonly outcomes: Record<HubOutcome, number> = { ticket: 0, withheld: 0, 'update-required': 0, refused: 0 };
  private readonly reasons: Record<HubOutcome, Map<DecisionReason, number>> = {
    ticket: new Map(),
    withheld: new Map(),
    'update-required': new Map(),
    refused: new Map(),
  };

  count(outcome: HubOutcome, reason: DecisionReason): void {
    this.total++;
    this.outcomes[outcome]++;
    const byReason = this.reasons[outcome];
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }

  auditFailed(): void {
    this.auditFailures++;
  }

  snapshot(): HubCounterSnapshot {
    const reasons = (outcome: HubOutcome): Partial<Record<DecisionReason, number>> => Object.fromEntries(this.reasons[outcome]);
    return {
      total: this.total,
      outcomes: { ...this.outcomes },
      reasons: {
        ticket: reasons('ticket'),
        withheld: reasons('withheld'),
        'update-required': reasons('update-required'),
        refused: reasons('refused'),
      },
      auditFailures: this.auditFailures,
    };
  }
}
