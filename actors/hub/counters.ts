/**
 * Decision counters, readable at run time: how many requests ended in each outcome, and why. Bad
 * input is counted here rather than thrown or logged, so a flood of junk is visible but harmless.
 *
 * Ticket decisions keep the counters they always had (`total`, `outcomes`, `reasons`); boot and image
 * decisions are counted apart (`boot`, `images`), by outcome and reason, so the one cannot hide in
 * the other. Refusals by reason are what an operator watches: `images.reasons['chunk-refused']`
 * holds NOT_PUBLISHED, RATE_LIMITED, … as `not-published`, `rate-limited`, ….
 */
import type { BootOutcome, BootReason, DecisionReason, HubOutcome, ImageOutcome, ImageReason } from './reasons.ts';

/** Counts of one exchange's decisions, by outcome and, per outcome, by reason. */
export interface ExchangeCounts<O extends string, R extends string> {
  readonly total: number;
  readonly outcomes: Readonly<Record<O, number>>;
  readonly reasons: Readonly<Record<O, Readonly<Partial<Record<R, number>>>>>;
}

export interface HubCounterSnapshot {
  /** Ticket decisions. */
  readonly total: number;
  readonly outcomes: Readonly<Record<HubOutcome, number>>;
  /** Per outcome, per reason: e.g. `refused.bad-signature`, `withheld.quarantined`, `ticket.granted`. */
  readonly reasons: Readonly<Record<HubOutcome, Readonly<Partial<Record<DecisionReason, number>>>>>;
  /** Decisions whose audit entry could not be written. */
  readonly auditFailures: number;
  readonly boot: ExchangeCounts<BootOutcome, BootReason>;
  /** Image decisions, and the image bytes served in chunks. */
  readonly images: ExchangeCounts<ImageOutcome, ImageReason> & { readonly bytes: number };
}

class Tally<O extends string, R extends string> {
  private total = 0;
  private readonly outcomes: Record<O, number>;
  private readonly reasons: Record<O, Map<R, number>>;

  constructor(private readonly names: readonly O[]) {
    this.outcomes = Object.fromEntries(names.map((n) => [n, 0])) as Record<O, number>;
    this.reasons = Object.fromEntries(names.map((n) => [n, new Map<R, number>()])) as Record<O, Map<R, number>>;
  }

  count(outcome: O, reason: R): void {
    this.total++;
    this.outcomes[outcome]++;
    const byReason = this.reasons[outcome];
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }

  snapshot(): ExchangeCounts<O, R> {
    return {
      total: this.total,
      outcomes: { ...this.outcomes },
      reasons: Object.fromEntries(this.names.map((n) => [n, Object.fromEntries(this.reasons[n])])) as Record<O, Partial<Record<R, number>>>,
    };
  }
}

export class DecisionCounters {
  private auditFailures = 0;
  private imageBytes = 0;
  private readonly tickets = new Tally<HubOutcome, DecisionReason>(['ticket', 'withheld', 'update-required', 'refused']);
  private readonly boots = new Tally<BootOutcome, BootReason>(['boot-granted', 'boot-withheld', 'refused']);
  private readonly images = new Tally<ImageOutcome, ImageReason>(['chunk', 'chunk-refused', 'refused']);

  count(outcome: HubOutcome, reason: DecisionReason): void {
    this.tickets.count(outcome, reason);
  }

  countBoot(outcome: BootOutcome, reason: BootReason): void {
    this.boots.count(outcome, reason);
  }

  countImage(outcome: ImageOutcome, reason: ImageReason, bytes = 0): void {
    this.images.count(outcome, reason);
    this.imageBytes += bytes;
  }

  auditFailed(): void {
    this.auditFailures++;
  }

  snapshot(): HubCounterSnapshot {
    const t = this.tickets.snapshot();
    return {
      total: t.total,
      outcomes: t.outcomes,
      reasons: t.reasons,
      auditFailures: this.auditFailures,
      boot: this.boots.snapshot(),
      images: { ...this.images.snapshot(), bytes: this.imageBytes },
    };
  }
}
