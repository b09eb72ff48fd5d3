/**
 * A PostgreSQL hub worker's batch commit (docs/ARCHITECTURE.md §7.4): one transaction per batch,
 * one multi-row statement per table (arrays through unnest), in this order:
 *
 * 1. the answered nonces (ON CONFLICT DO NOTHING … RETURNING): the ones not returned were answered
 *    by another worker, so their decisions become refused `replayed` (no activity, no reply);
 * 2. the audit rows; 3. the instances' activity (merged per instance, as sqlite/journal.ts, in key
 *    order so two workers' batches lock rows in the same order); 4. the boot records; 5. the device
 *    history's rows for the reports that changed (pg-history.ts), trimmed; 6. the refusal counts of
 *    the batch's refused rows (refusals.ts: one statement, none when nothing was refused); 7. the
 *    staged rollouts' failures and halts (rollout-counter.ts: no statement unless a cohort device
 *    reported a rollback or failure of the release not counted yet).
 *
 * Resolves with the replayed decisions' indexes once committed; rejects (nothing applied) otherwise.
 *
 * One round trip for the common batch: when it has no boot records, no refusals, no report new to
 * the history's memory and no instance under a rollout, steps 1–3 go as ONE statement (data-modifying
 * CTEs, atomic without BEGIN/COMMIT: five round trips become one; each costs the worker a socket
 * write and a wake-up, which made up a third of a PostgreSQL worker's CPU at light load,
 * bench/RESULTS.md). It ends in `dominion_require_all_new` (migration 6), which aborts it when another
 * worker answered one of its nonces; the batch then takes the transaction, which sorts replays out.
 */
import { mergeActivity, type ActivityWrite } from '../activity-writes.ts';
import type { AuditEntry } from '../audit.ts';
import type { AnsweredNonce, CommitResult, HubEffects } from '../effects.ts';
import { replayKey } from '../replay.ts';
import type { HistoryRecorderOptions } from '../history-reports.ts';
import { inTransaction, type PgPool } from './connect.ts';
import { PgHistoryRecorder } from './pg-history.ts';
import { pgCountRefusals } from './refusals.ts';
import { tallyRefusals } from '../refusal-tally.ts';
import { PgRolloutCounter } from './rollout-counter.ts';
import type { CountedRollout } from '../rollout-plan.ts';

const INSERT_NONCES = `INSERT INTO answered_nonce (device_id, instance, nonce, at_ms)
  SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[]) ORDER BY 1, 2, 3
  ON CONFLICT DO NOTHING RETURNING device_id, instance, nonce`;
const INSERT_AUDIT = `INSERT INTO audit (at_ms, hub_id, outcome, reason, detail, device_id, instance, deferral_ms, ref)
  SELECT a, $2, o, r, d, dev, i, df, ref FROM unnest($1::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[])
    AS t(a, o, r, d, dev, i, df, ref)`;
const UPSERT_ACTIVITY = `INSERT INTO instance_activity AS x
    (device_id, instance, last_request_at_ms, last_outcome, last_reason, state, last_ticket_at_ms, last_deferral_ms, deadline_ms, expired, slots, recovery)
  SELECT d, i, rq, o, r, s, t, df, t + df, false, sl, rc
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::boolean[])
    AS u(d, i, rq, o, r, s, t, df, sl, rc)
  ON CONFLICT (device_id, instance) DO UPDATE SET
    slots              = coalesce(excluded.slots, x.slots),
    recovery           = coalesce(excluded.recovery, x.recovery),
    last_request_at_ms = coalesce(excluded.last_request_at_ms, x.last_request_at_ms),
    last_outcome       = coalesce(excluded.last_outcome, x.last_outcome),
    last_reason        = coalesce(excluded.last_reason, x.last_reason),
    state              = coalesce(excluded.state, x.state),
    last_ticket_at_ms  = coalesce(excluded.last_ticket_at_ms, x.last_ticket_at_ms),
    last_deferral_ms   = coalesce(excluded.last_deferral_ms, x.last_deferral_ms),
    deadline_ms        = coalesce(excluded.deadline_ms, x.deadline_ms),
    expired            = CASE WHEN excluded.deadline_ms IS NULL THEN x.expired ELSE false END`;
const UPSERT_BOOT = `INSERT INTO device_boot (device_id, at_ms, boot_count, firmware_version, manifest_digest, images, outcome, reason)
  SELECT DISTINCT ON (d) * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bytea[], $6::text[], $7::text[], $8::text[])
    AS u(d, a, b, f, m, im, o, r) ORDER BY d, a DESC
  ON CONFLICT (device_id) DO UPDATE SET at_ms = excluded.at_ms, boot_count = excluded.boot_count, firmware_version = excluded.firmware_version,
    manifest_digest = excluded.manifest_digest, images = excluded.images, outcome = excluded.outcome, reason = excluded.reason`;

/** `sql` with each parameter `$k` renumbered `$(k + by)`: to put one statement's text into another. */
function shiftParams(sql: string, by: number): string {
  return sql.replace(/\$(\d+)/g, (_, k: string) => `$${Number(k) + by}`);
}

/** Steps 1–3 of a batch in one statement; aborts (SQLSTATE DM001) if any nonce was answered before. */
const ONE_STATEMENT = `WITH n AS (${INSERT_NONCES}),
  a AS (${shiftParams(INSERT_AUDIT, 5)} RETURNING 1),
  x AS (${shiftParams(UPSERT_ACTIVITY, 14)} RETURNING 1)
  SELECT dominion_require_all_new((SELECT count(*) FROM n), $5) AS ok,
    (SELECT count(*) FROM n)::int + (SELECT count(*) FROM a)::int + (SELECT count(*) FROM x)::int AS rows`;
const REPLAYED_IN_ONE_STATEMENT = 'DM001';

export interface PgJournalStats {
  readonly commits: number;
  readonly rowsCommitted: number;
  readonly failures: number;
  readonly replayed: number;
  readonly largestBatch: number;
  /** Batches committed in one statement, and those of them that found a replay and took the transaction. */
  readonly oneStatement: number;
  readonly oneStatementReplays: number;
}

export class PgJournal {
  private readonly counts = {
    commits: 0,
    rowsCommitted: 0,
    failures: 0,
    replayed: 0,
    largestBatch: 0,
    oneStatement: 0,
    oneStatementReplays: 0,
  };

  private readonly history: PgHistoryRecorder;
  private readonly rollouts: PgRolloutCounter;

  constructor(
    private readonly pool: PgPool,
    private readonly hubId: string | null,
    history: HistoryRecorderOptions = {},
    /** The instance's current rollout (the worker's registry snapshot); none: no rollout is counted. */
    rollouts: (instance: string) => CountedRollout | undefined = () => undefined,
  ) {
    this.history = new PgHistoryRecorder(hubId, history);
    this.rollouts = new PgRolloutCounter(rollouts, hubId);
  }

  stats(): PgJournalStats {
    return { ...this.counts };
  }

  async commit(batch: readonly HubEffects[]): Promise<CommitResult> {
    if (this.fitsOneStatement(batch)) {
      try {
        return await this.commitInOneStatement(batch);
      } catch (err) {
        if ((err as { code?: unknown }).code !== REPLAYED_IN_ONE_STATEMENT) {
          this.counts.failures++;
          throw err;
        }
        this.counts.oneStatementReplays++; // nothing of it was kept: the transaction below sorts the replays out
      }
    }
    try {
      const result = await inTransaction(this.pool, async (c) => {
        const replayed = new Set<number>();
        const answered: Array<[number, AnsweredNonce]> = [];
        batch.forEach((e, i) => e.answered !== undefined && answered.push([i, e.answered]));
        let rows = 0;
        if (answered.length > 0) {
          const r = await c.query<{ device_id: string; instance: string; nonce: Buffer }>(INSERT_NONCES, [
            answered.map(([, a]) => a.deviceId),
            answered.map(([, a]) => a.instance),
            answered.map(([, a]) => Buffer.from(a.nonce.buffer, a.nonce.byteOffset, a.nonce.byteLength)),
            answered.map(([, a]) => a.atMs),
          ]);
          rows += r.rowCount ?? 0;
          const inserted = new Set(r.rows.map((row) => replayKey(row.device_id, row.instance, row.nonce)));
          for (const [i, a] of answered) if (!inserted.has(replayKey(a.deviceId, a.instance, a.nonce))) replayed.add(i);
        }
        const effects = replayed.size === 0 ? batch : batch.map((e, i) => (replayed.has(i) ? asReplayed(e) : e));
        const audits = effects.flatMap((e) => (e.audit !== undefined ? [e.audit] : []));
        if (audits.length > 0)
          rows += (await c.query(INSERT_AUDIT, [audits.map((a) => a.atMs), this.hubId, ...auditColumns(audits)])).rowCount ?? 0;
        const activity = mergeActivity(effects);
        if (activity.length > 0) rows += (await c.query(UPSERT_ACTIVITY, activityColumns(activity))).rowCount ?? 0;
        const boots = effects.flatMap((e) => (e.boot !== undefined ? [e.boot] : []));
        if (boots.length > 0)
          rows +=
            (
              await c.query(UPSERT_BOOT, [
                boots.map((b) => b.deviceId),
                boots.map((b) => b.atMs),
                boots.map((b) => b.bootCount ?? null),
                boots.map((b) => b.firmwareVersion),
                boots.map((b) => Buffer.from(b.manifestDigest)),
                boots.map((b) => JSON.stringify(b.images)),
                boots.map((b) => b.outcome),
                boots.map((b) => b.reason),
              ])
            ).rowCount ?? 0;
        rows += await this.history.record(c, effects);
        rows += await pgCountRefusals(c, audits);
        // After the batch's own rows, so a rollout's audit rows follow the decision that carried the report.
        rows += await this.rollouts.count(c, effects);
        return { replayed, rows };
      });
      this.history.settled(true);
      this.rollouts.settled(true);
      this.counts.commits++;
      this.counts.rowsCommitted += result.rows;
      this.counts.replayed += result.replayed.size;
      this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
      return { replayed: result.replayed };
    } catch (err) {
      this.history.settled(false);
      this.rollouts.settled(false);
      this.counts.failures++;
      throw err;
    }
  }

  /** Only steps 1–3 to write: no boot record, refusal, report new to the history's memory or rollout to count. */
  private fitsOneStatement(batch: readonly HubEffects[]): boolean {
    const audits: AuditEntry[] = [];
    for (const e of batch) {
      if (e.boot !== undefined) return false;
      if (e.activity !== undefined && this.rollouts.mayCount(e.activity.instance)) return false;
      if (e.audit !== undefined) audits.push(e.audit);
    }
    return tallyRefusals(audits).size === 0 && !this.history.wouldRecord(batch);
  }

  private async commitInOneStatement(batch: readonly HubEffects[]): Promise<CommitResult> {
    const answered = batch.flatMap((e) => (e.answered !== undefined ? [e.answered] : []));
    const audits = batch.flatMap((e) => (e.audit !== undefined ? [e.audit] : []));
    // Named: each connection parses and plans it once, then only binds. Planning these CTEs was most of
    // PostgreSQL's own CPU per one-request commit (measured: 1.4–1.9 ms unnamed, 0.3–0.5 ms named).
    const r = await this.pool.query<{ rows: number }>({ name: 'dominion-commit-batch', text: ONE_STATEMENT }, [
      answered.map((a) => a.deviceId),
      answered.map((a) => a.instance),
      answered.map((a) => Buffer.from(a.nonce.buffer, a.nonce.byteOffset, a.nonce.byteLength)),
      answered.map((a) => a.atMs),
      answered.length,
      audits.map((a) => a.atMs),
      this.hubId,
      ...auditColumns(audits),
      ...activityColumns(mergeActivity(batch)),
    ]);
    this.counts.oneStatement++;
    this.counts.commits++;
    this.counts.rowsCommitted += r.rows[0]?.rows ?? 0;
    this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
    return { replayed: new Set() };
  }
}

/** The decision as it is recorded when another worker answered its request first. */
function asReplayed(e: HubEffects): HubEffects {
  const a = e.audit;
  if (a === undefined) return {};
  const audit: AuditEntry = {
    ...a,
    outcome: 'refused',
    reason: 'replayed',
    detail: 'another hub process already answered this nonce for this device and instance',
  };
  delete (audit as { deferralMs?: number }).deferralMs;
  return { audit };
}

function auditColumns(audits: readonly AuditEntry[]): unknown[] {
  return [
    audits.map((a) => a.outcome),
    audits.map((a) => a.reason),
    audits.map((a) => a.detail ?? null),
    audits.map((a) => a.deviceId ?? null),
    audits.map((a) => a.instance ?? null),
    audits.map((a) => a.deferralMs ?? null),
    audits.map((a) => a.ref ?? null),
  ];
}

function activityColumns(ws: readonly ActivityWrite[]): unknown[] {
  return [
    ws.map((w) => w.deviceId),
    ws.map((w) => w.instance),
    ws.map((w) => w.requestAtMs),
    ws.map((w) => w.outcome),
    ws.map((w) => w.reason),
    ws.map((w) => w.state),
    ws.map((w) => w.ticketAtMs),
    ws.map((w) => w.deferralMs),
    ws.map((w) => w.slots),
    ws.map((w) => w.recovery),
  ];
}
