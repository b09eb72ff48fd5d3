/**
 * Decision counters, readable at run time: how many requests ended in each outcome, and why. Bad
 * input is counted here rather than thrown or logged, so a flood of junk is visible but harmless.
 */
import type { HubOutcome } from './hub-core.ts';

export interface HubCounterSnapshot {
  readonly total: number;
  readonly outcomes: Readonly<Record<HubOutcome, number>>;
  /** Per outcome, per reason: e.g. `refused.bad-signature`, `withheld.quarantined`, `ticket.granted`. */
  readonly reasons: Readonly<Record<HubOutcome, Readonly<Record<string, number>>>>;
  /** Decisions whose audit entry could not be written. */
  readonly auditFailures: number;
}

export class DecisionCounters {
  #total = 0;
  #auditFailures = 0;
  readonly #outcomes: Record<HubOutcome, number> = { ticket: 0, withheld: 0, 'update-required': 0, refused: 0 };
  readonly #reasons: Record<HubOutcome, Map<string, number>> = {
    ticket: new Map(),
    withheld: new Map(),
    'update-required': new Map(),
    refused: new Map(),
  };

  count(outcome: HubOutcome, reason: string): void {
    this.#total++;
    this.#outcomes[outcome]++;
    const byReason = this.#reasons[outcome];
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }

  auditFailed(): void {
    this.#auditFailures++;
  }

  snapshot(): HubCounterSnapshot {
    const reasons = (outcome: HubOutcome): Record<string, number> => Object.fromEntries(this.#reasons[outcome]);
    return {
      total: this.#total,
      outcomes: { ...this.#outcomes },
      reasons: {
        ticket: reasons('ticket'),
        withheld: reasons('withheld'),
        'update-required': reasons('update-required'),
        refused: reasons('refused'),
      },
      auditFailures: this.#auditFailures,
    };
  }
}
