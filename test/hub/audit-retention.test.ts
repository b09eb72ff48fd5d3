import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { auditSummary, openHubDatabase, pruneAudit, readAudit, type SqliteDatabase } from '../../actors/hub/sqlite/index.ts';
import { auditCommand, parseAuditTime } from '../../cli/audit.ts';
import { UsageError } from '../../cli/options.ts';
import { tempDir } from './fixtures.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2025-11-25T12:00:00Z');
const OUTCOMES = ['ticket', 'withheld', 'update-required', 'refused', 'timeout'] as const;

interface Row {
  atMs: number;
  outcome: string;
  reason: string;
  deviceId: string | null;
}

/** Rows every 37 minutes over the last 10 days, cycling outcomes and devices (one in 7 has no device). */
function fill(db: SqliteDatabase): Row[] {
  const rows: Row[] = [];
  const insert = db.prepare('INSERT INTO audit (at_ms, hub_id, outcome, reason, device_id, instance, ref) VALUES (?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0, at = NOW - 10 * DAY; at <= NOW; i++, at += 37 * 60_000) {
      const outcome = OUTCOMES[i % OUTCOMES.length]!;
      const row: Row = {
        atMs: at,
        outcome,
        reason: outcome === 'ticket' ? 'granted' : 'quarantine',
        deviceId: i % 7 === 0 ? null : `d${i % 3}`,
      };
      insert.run(
        row.atMs,
        'ih-1',
        row.outcome,
        row.reason,
        row.deviceId,
        row.deviceId === null ? null : 'device',
        i.toString(16).padStart(16, '0'),
      );
      rows.push(row);
    }
  })();
  return rows;
}

function freshDb(): { db: SqliteDatabase; path: string; rows: Row[] } {
  const path = join(tempDir(), 'hub.db');
  const db = openHubDatabase(path, { create: true });
  return { db, path, rows: fill(db) };
}

function groupKey(day: string, device: string | null | undefined, outcome: string, reason: string): string {
  return `${day}|${device ?? ''}|${outcome}|${reason}`;
}

function tally(rows: readonly Row[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rows) {
    const k = groupKey(new Date(r.atMs).toISOString().slice(0, 10), r.deviceId, r.outcome, r.reason);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

describe('audit: filters by outcome and time', () => {
  it('returns exactly the rows with the outcomes asked, in [since, until)', () => {
    const { db, rows } = freshDb();
    try {
      const since = NOW - 3 * DAY + 11;
      const until = NOW - DAY;
      const got = readAudit(db, { outcomes: ['withheld', 'refused'], sinceMs: since, untilMs: until });
      const want = rows.filter((r) => (r.outcome === 'withheld' || r.outcome === 'refused') && r.atMs >= since && r.atMs < until);
      assert.ok(want.length > 10);
      assert.deepEqual(
        got.map((e) => [e.atMs, e.outcome, e.deviceId ?? null]),
        want.map((r) => [r.atMs, r.outcome, r.deviceId]),
      );
      // Device and limit combine with them: the newest 3 of d1's tickets since then.
      const d1 = readAudit(db, { deviceId: 'd1', outcomes: ['ticket'], sinceMs: since, limit: 3 });
      const wantD1 = rows.filter((r) => r.deviceId === 'd1' && r.outcome === 'ticket' && r.atMs >= since).slice(-3);
      assert.deepEqual(
        d1.map((e) => e.atMs),
        wantD1.map((r) => r.atMs),
      );
      assert.equal(readAudit(db, { outcomes: [] }).length, 0);
    } finally {
      db.close();
    }
  });
});

describe('audit: retention', () => {
  it('prunes only rows older than the cut, summarising exactly what it deleted', () => {
    const { db, rows } = freshDb();
    try {
      const before = tally(rows);
      const r = pruneAudit(db, { keepDays: 4, nowMs: NOW, replayWindowMs: 600_000, batch: 50 });
      assert.equal(r.cutMs, NOW - 4 * DAY);
      const gone = rows.filter((x) => x.atMs < r.cutMs);
      const kept = rows.filter((x) => x.atMs >= r.cutMs);
      assert.equal(r.deleted, gone.length);
      assert.equal(r.more, false);
      assert.deepEqual(
        readAudit(db).map((e) => e.atMs),
        kept.map((x) => x.atMs),
      );
      // The summary table holds exactly the deleted rows' counts.
      const stored = db.prepare('SELECT day, device_id, outcome, reason, count FROM audit_summary').all() as Array<{
        day: string;
        device_id: string;
        outcome: string;
        reason: string;
        count: number;
      }>;
      assert.deepEqual(new Map(stored.map((s) => [groupKey(s.day, s.device_id, s.outcome, s.reason), s.count])), tally(gone));
      // --summary's view: pruned + kept = everything there ever was.
      const summary = auditSummary(db);
      assert.deepEqual(new Map(summary.map((s) => [groupKey(s.day, s.deviceId, s.outcome, s.reason), s.count])), before);
      assert.equal(
        summary.reduce((n, s) => n + s.pruned, 0),
        gone.length,
      );
      const d2 = auditSummary(db, 'd2');
      assert.ok(d2.length > 0 && d2.every((s) => s.deviceId === 'd2'));
      // A second prune at the same instant finds nothing more.
      assert.equal(pruneAudit(db, { keepDays: 4, nowMs: NOW, replayWindowMs: 600_000 }).deleted, 0);
    } finally {
      db.close();
    }
  });

  it('never prunes inside the replay window, however few days are kept', () => {
    const { db, rows } = freshDb();
    try {
      const windowMs = 5 * DAY;
      const r = pruneAudit(db, { keepDays: 1, nowMs: NOW, replayWindowMs: windowMs });
      assert.ok(r.cutMs <= NOW - windowMs - 60_000);
      assert.equal(
        readAudit(db, { sinceMs: NOW - windowMs - 60_000 }).length,
        rows.filter((x) => x.atMs >= NOW - windowMs - 60_000).length,
      );
      assert.equal(readAudit(db, { untilMs: r.cutMs }).length, 0);
      assert.throws(() => pruneAudit(db, { keepDays: 0, nowMs: NOW, replayWindowMs: 600_000 }), RangeError);
    } finally {
      db.close();
    }
  });

  it('prunes in batches: maxBatches stops early and says more is left', () => {
    const { db, rows } = freshDb();
    try {
      const r = pruneAudit(db, { keepDays: 2, nowMs: NOW, replayWindowMs: 600_000, batch: 7, maxBatches: 2 });
      assert.equal(r.deleted, 14);
      assert.equal(r.more, true);
      // The oldest go first.
      assert.equal(readAudit(db, { limit: 0 }).length, 0);
      assert.equal(readAudit(db)[0]!.atMs, rows[14]!.atMs);
    } finally {
      db.close();
    }
  });

  it('updates stay refused', () => {
    const { db } = freshDb();
    try {
      assert.throws(() => db.prepare("UPDATE audit SET reason = 'x'").run(), /append-only/);
    } finally {
      db.close();
    }
  });
});

function capture(): { lines: string[]; errors: string[]; out(l: string): void; err(l: string): void } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

describe('dominion audit: --outcome, --since/--until, --summary, --prune', () => {
  it('filters, prunes and summarises through the command', async () => {
    const { db, path, rows } = freshDb();
    db.close();
    let io = capture();
    assert.equal(
      await auditCommand(
        ['--db', path, '--json', '--last', '0', '--outcome', 'ticket', '--outcome', 'timeout,refused', '--since', '-2d', '--until', '-1h'],
        io,
        NOW,
      ),
      0,
    );
    const want = rows.filter(
      (r) => ['ticket', 'timeout', 'refused'].includes(r.outcome) && r.atMs >= NOW - 2 * DAY && r.atMs < NOW - 3_600_000,
    );
    assert.deepEqual(
      io.lines.map((l) => (JSON.parse(l) as { atMs: number }).atMs),
      want.map((r) => r.atMs),
    );
    io = capture();
    assert.equal(
      await auditCommand(['--db', path, '--json', '--last', '0', '--since', '2025-11-24T00:00:00Z', '--until', '2025-11-25'], io, NOW),
      0,
    );
    assert.equal(io.lines.length, rows.filter((r) => r.atMs >= Date.parse('2025-11-24') && r.atMs < Date.parse('2025-11-25')).length);

    io = capture();
    assert.equal(await auditCommand(['--db', path, '--prune', '--keep', '3'], io, NOW), 0);
    const gone = rows.filter((r) => r.atMs < NOW - 3 * DAY).length;
    assert.match(io.lines.join('\n'), new RegExp(`pruned ${gone} audit row`));
    io = capture();
    assert.equal(await auditCommand(['--db', path, '--summary', '--json'], io, NOW), 0);
    const summary = io.lines.map((l) => JSON.parse(l) as { count: number; pruned: number });
    assert.equal(
      summary.reduce((n, s) => n + s.count, 0),
      rows.length,
    );
    assert.equal(
      summary.reduce((n, s) => n + s.pruned, 0),
      gone,
    );
  });

  it('refuses a bad time, an unknown outcome, and a retention under a day (usage errors: exit 2)', async () => {
    const { db, path } = freshDb();
    db.close();
    for (const argv of [
      ['--since', 'yesterday'],
      ['--since', '-1w'],
      ['--until', '2025-13-45'],
      ['--since', '2025-11-25T10:00'],
      ['--since', '1h'],
      ['--outcome', 'ticket,granted'],
      ['--prune', '--keep', '0'],
      ['--prune'],
      ['--summary', '--since', '-1h'],
      ['--keep', '3'],
    ]) {
      await assert.rejects(
        auditCommand(['--db', path, ...argv], capture(), NOW),
        (err: unknown) => err instanceof UsageError,
        argv.join(' '),
      );
    }
    assert.equal(parseAuditTime('since', '-30m', NOW), NOW - 1_800_000);
    assert.equal(parseAuditTime('since', '2025-11-25T13:00:00+01:00', NOW), NOW);
  });
});
