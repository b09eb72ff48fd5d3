/**
 * `dominion audit`: prints a hub's audit log, filtered by device, outcome and time; `--summary`
 * prints per-day counts (pruned history included); `--prune` deletes rows older than the kept days
 * once (a running hub prunes by itself with `dominion hub --audit-keep`). docs/ARCHITECTURE.md §7.2.
 */
import { sqlite, type AuditOutcome, type StoredAuditEntry } from '../actors/hub/index.ts';
import { consoleIo, integer, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';
import { pgAuditSummary, pgPruneAudit, pgReadAudit } from '../actors/hub/postgres/index.ts';
import type { AuditQuery, AuditSummaryRow, PruneResult } from '../actors/hub/sqlite/index.ts';
import { withDatabase } from './operator.ts';
import { isPostgresUrl, withPgDatabase } from './pg-db.ts';

/** Every outcome an audit row can have (actors/hub/audit.ts AuditOutcome). */
const OUTCOMES = [
  'ticket',
  'withheld',
  'update-required',
  'refused',
  'boot-granted',
  'boot-withheld',
  'image',
  'timeout',
  'fail',
  'operator',
  'rollout',
] as const satisfies readonly AuditOutcome[];

function OUTCOMES_TEXT(): string {
  return OUTCOMES.join(', ');
}

const AUDIT_HELP = `usage: dominion audit --db <path> [--device <id>] [--outcome <o>] [--since <t>] [--until <t>] [--last <n>] [--json]
       dominion audit --db <path> --summary [--device <id>] [--json]
       dominion audit --db <path> --prune --keep <days> [--replay-window <s>]

Prints the hub's audit log, oldest first: every decision (ticket, withheld,
update-required, refused), every passed deadline (timeout, fail) and every operator command.
Rows older than the kept days are pruned (dominion hub --audit-keep, or --prune here); each
pruned row is first counted in a per-day summary, which --summary shows with the rows kept.

options:
  --db <path|url>       the hub database: a SQLite file or postgres://…
  --device <id>         only entries about this device
  --outcome <o>         only these outcomes (repeat, or a comma list): ${OUTCOMES_TEXT()}
  --since <t>           only entries at or after t: ISO 8601 (2025-11-25, 2025-11-25T10:00:00Z)
                        or relative to now (-30m, -1h, -2d, -45s)
  --until <t>           only entries before t (same forms)
  --last <n>            only the newest n entries (default 50; 0 = all)
  --json                one JSON object per line
  --summary             counts per UTC day, device, outcome and reason (pruned and kept rows)
  --prune               delete rows older than --keep days now (in small batches), counting them
  --keep <days>         with --prune: days of audit rows to keep (at least 1)
  --replay-window <s>   with --prune: the hubs' replay window; rows inside it are never pruned (default 600)
  -h, --help            this text`;

const RELATIVE_UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time given on the command line: ISO 8601 — a UTC date, or a date and time with Z or an offset
 * (a time without a zone would depend on the machine's) — or `-<n><s|m|h|d>` back from now.
 */
export function parseAuditTime(option: string, text: string, nowMs: number): number {
  const relative = /^-(\d{1,9})([smhd])$/.exec(text);
  if (relative !== null) return nowMs - Number(relative[1]) * RELATIVE_UNIT_MS[relative[2]!]!;
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text);
  const ms = iso ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new UsageError(
      `audit: --${option} ${JSON.stringify(text)}: expected ISO 8601 (2025-11-25, 2025-11-25T10:00:00Z) or -<n>s|m|h|d (e.g. -1h)\nRun "dominion audit --help" for usage.`,
    );
  return ms;
}

function parseOutcomes(values: readonly string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const list = values.flatMap((v) => v.split(',')).map((v) => v.trim());
  for (const o of list) {
    if (!(OUTCOMES as readonly string[]).includes(o))
      throw new UsageError(
        `audit: --outcome ${JSON.stringify(o)}: expected one of ${OUTCOMES_TEXT()}\nRun "dominion audit --help" for usage.`,
      );
  }
  return list;
}

/** `--since -1h` as `--since=-1h`: parseArgs takes a value starting with a dash for an option. */
function joinRelativeTimes(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if ((a === '--since' || a === '--until') && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

export async function auditCommand(argv: string[], io: CliIo = consoleIo, nowMs: number = Date.now()): Promise<number> {
  const { values, positionals: rest } = parseCommand('audit', joinRelativeTimes(argv), {
    db: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
    device: { type: 'string' },
    outcome: { type: 'string', multiple: true },
    since: { type: 'string' },
    until: { type: 'string' },
    last: { type: 'string' },
    json: { type: 'boolean', default: false },
    summary: { type: 'boolean', default: false },
    prune: { type: 'boolean', default: false },
    keep: { type: 'string' },
    'replay-window': { type: 'string' },
  });
  if (values.help) {
    io.out(AUDIT_HELP);
    return 0;
  }
  positionals('audit', rest, []);
  const dbPath = required('audit', 'db', values.db);
  const filtered = values.outcome !== undefined || values.since !== undefined || values.until !== undefined || values.last !== undefined;
  if (values.prune) {
    if (values.summary || filtered || values.device !== undefined)
      throw new UsageError('audit: --prune takes only --keep and --replay-window\nRun "dominion audit --help" for usage.');
    const keepDays = integer('audit', 'keep', required('audit', 'keep', values.keep), 0, 1, 100_000);
    const windowS = integer('audit', 'replay-window', values['replay-window'], 600, 1, 30 * 86_400);
    const pruned = (r: PruneResult): number => {
      io.out(
        `pruned ${r.deleted} audit row(s) before ${new Date(r.cutMs).toISOString()} (counted in the summary: dominion audit --summary)`,
      );
      return 0;
    };
    const options = { keepDays, nowMs, replayWindowMs: windowS * 1000 };
    if (isPostgresUrl(dbPath)) return withPgDatabase(io, 'audit', dbPath, async (pool) => pruned(await pgPruneAudit(pool, options)));
    return withDatabase(io, 'audit', dbPath, (db) => pruned(sqlite.pruneAudit(db, options)));
  }
  if (values.keep !== undefined || values['replay-window'] !== undefined)
    throw new UsageError('audit: --keep and --replay-window go with --prune\nRun "dominion audit --help" for usage.');
  if (values.summary) {
    if (filtered) throw new UsageError('audit: --summary takes only --device and --json\nRun "dominion audit --help" for usage.');
    const summary = (rows: readonly AuditSummaryRow[]): number => {
      for (const r of rows)
        io.out(
          values.json
            ? JSON.stringify(r)
            : `${r.day} ${r.deviceId ?? '-'} ${r.outcome} ${r.reason} ${r.count}${r.pruned > 0 ? ` (${r.pruned} pruned)` : ''}`,
        );
      return 0;
    };
    if (isPostgresUrl(dbPath))
      return withPgDatabase(io, 'audit', dbPath, async (pool) => summary(await pgAuditSummary(pool, values.device)));
    return withDatabase(io, 'audit', dbPath, (db) => summary(sqlite.auditSummary(db, values.device)));
  }
  const outcomes = parseOutcomes(values.outcome);
  const sinceMs = values.since !== undefined ? parseAuditTime('since', values.since, nowMs) : undefined;
  const untilMs = values.until !== undefined ? parseAuditTime('until', values.until, nowMs) : undefined;
  const last = integer('audit', 'last', values.last, 50, 0, Number.MAX_SAFE_INTEGER);
  const query: AuditQuery = {
    ...(values.device !== undefined ? { deviceId: values.device } : {}),
    ...(last > 0 ? { limit: last } : {}),
    ...(outcomes !== undefined ? { outcomes } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
    ...(untilMs !== undefined ? { untilMs } : {}),
  };
  const print = (entries: readonly StoredAuditEntry[]): number => {
    for (const e of entries) io.out(values.json ? JSON.stringify(e) : renderAudit(e));
    return 0;
  };
  if (isPostgresUrl(dbPath)) return withPgDatabase(io, 'audit', dbPath, async (pool) => print(await pgReadAudit(pool, query)));
  return withDatabase(io, 'audit', dbPath, (db) => print(sqlite.readAudit(db, query)));
}

function renderAudit(e: StoredAuditEntry): string {
  const who =
    e.deviceId === undefined
      ? e.instance !== undefined
        ? ` ${e.instance}` // a fleet-wide row about one instance (dominion rollout)
        : ''
      : ` ${e.deviceId}${e.instance !== undefined ? `/${e.instance}` : ''}`;
  const extra = [e.deferralMs !== undefined ? `D ${e.deferralMs} ms` : '', e.ref !== undefined ? `ref ${e.ref}` : '', e.detail ?? '']
    .filter((x) => x !== '')
    .join('; ');
  const what = e.outcome === 'operator' ? `operator ${e.reason}` : `${e.hubId ?? '-'} ${e.outcome} ${e.reason}`;
  return `#${e.seq} ${new Date(e.atMs).toISOString()} ${what}${who}${extra !== '' ? ` — ${extra}` : ''}`;
}
