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
 */
import { mergeActivity, type ActivityWrite } from '../activity-writes.ts';
import type { AuditEntry } from '../audit.ts';
import type { AnsweredNonce, CommitResult, HubEffects } from '../effects.ts';
import { replayKey } from '../replay.ts';
import type { HistoryRecorderOptions } from '../history-reports.ts';
import { inTransaction, type PgPool } from './connect.ts';
import { PgHistoryRecorder } from './pg-history.ts';
import { pgCountRefusals } from './refusals.ts';
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

export interface PgJournalStats {
  readonly commits: number;
  readonly rowsCommitted: number;
  readonly failures: number;
  readonly replayed: number;
  readonly largestBatch: number;
}

export class PgJournal {
  private readonly counts = { commits: 0, rowsCommitted: 0, failures: 0, replayed: 0, largestBatch: 0 };

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
