/**
 * `dominion rollout`: a staged rollout of a published release to a share of a hub's devices, with an
 * automatic halt on rollbacks (actors/hub/rollout-plan.ts; the stores' I/O in sqlite/rollouts.ts and
 * postgres/rollouts.ts). Changes are committed with their audit row; a running hub on the same
 * database applies them at each device's next request (on PostgreSQL every worker, by NOTIFY).
 */
import { sqlite, ROLLOUT_PROGRESS, type RolloutProgress } from '../actors/hub/index.ts';
import { parseInstance, type Instance } from '../proto/index.ts';
import { consoleIo, integer, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';
import { withDatabase } from './operator.ts';
import { dbLabel, isPostgresUrl, withPgDatabase } from './pg-db.ts';
import { pgHaltRollouts, pgResumeRollout, pgRolloutStatus, pgStartRollout, type PgPool } from '../actors/hub/postgres/index.ts';

export const ROLLOUT_HELP = `usage: dominion rollout --db <path|url> --release <n> --instance <i> --percent <1-100> [--board <id>] [--max-rollbacks <k>]
       dominion rollout --db <path|url> --status [--instance <i>] [--release <n>] [--all] [--json]
       dominion rollout --db <path|url> --halt [--instance <i>] [--release <n>] [--reason <text>]
       dominion rollout --db <path|url> --resume --instance <i> [--release <n>] [--max-rollbacks <k>]

Rolls a release this hub has published (dominion publish) out to a share of its enrolled, active
devices: those in the cohort get UPDATE_REQUIRED naming the release (as dominion require-update
--release would), until they report running it. A device is in the cohort when a hash of (release,
instance, device id) falls below the percent, so the cohort is the same on every run and every hub
process, and only grows: run the command again with a higher --percent to widen it. No hold is
written per device. An explicit require-update on a device wins over the rollout until that device
meets it; a withhold wins always. Rollouts do not hold boots: a cohort device that boots its old
images keeps its services and is asked for the release at its next ticket request.

Automatic halt: when --max-rollbacks cohort devices (default 1) have reported ROLLED_BACK or FAILED
for the release, the rollout halts: nobody is asked for the release any more (devices get their
tickets); what already runs it stays. A count, not a percentage: the first rollback of an early,
small cohort is the signal, and a percentage would round it away. Each counted device and the halt
are audited. A rollout of a newer release of the same instance supersedes the one in place.

  --status   every rollout in place: state (active, halted, or done: at 100 % with every cohort
             device running the release or rolled back from it), percent, cohort size, the
             cohort's devices by update state (from their latest slot reports), the rollbacks
             counted, and why it halted
  --halt     emergency stop: halts the instance's rollout, or every active one on this hub
  --resume   asks the cohort for the release again (the count must be below --max-rollbacks)

options:
  --db <path|url>        the hub database: a SQLite file or postgres://… (every worker of a
                         PostgreSQL hub applies a change within a second, and counts rollbacks)
  --release <n>          the release version (dominion releases lists them)
  --instance <i>         device (its firmware: sw and hypervisor), mm, or sm:<service>
  --percent <1-100>      the share of devices to roll out to; only ever raised
  --board <id>           the board the release was built for, when the hub serves it for several
  --max-rollbacks <k>    halt once k cohort devices rolled back or failed (default 1; 1 to 1000000)
  --reason <text>        why (--halt; recorded in the audit log and shown by --status)
  --all                  --status: superseded rollouts too
  --json                 --status: one JSON object per line (times in ms since the epoch)
  -h, --help             this text`;

const OPTIONS = {
  db: { type: 'string' },
  release: { type: 'string' },
  instance: { type: 'string' },
  percent: { type: 'string' },
  board: { type: 'string' },
  'max-rollbacks': { type: 'string' },
  reason: { type: 'string' },
  status: { type: 'boolean', default: false },
  halt: { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  all: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Mode = 'start' | 'status' | 'halt' | 'resume';

/** Options each mode takes besides --db (a mode's own flag is implied). */
const ALLOWED: Record<Mode, readonly string[]> = {
  start: ['release', 'instance', 'percent', 'board', 'max-rollbacks'],
  status: ['instance', 'release', 'all', 'json'],
  halt: ['instance', 'release', 'reason'],
  resume: ['instance', 'release', 'max-rollbacks'],
};

export async function rolloutCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('rollout', argv, OPTIONS);
  if (values.help) {
    io.out(ROLLOUT_HELP);
    return 0;
  }
  positionals('rollout', rest, []);
  const modes = (['status', 'halt', 'resume'] as const).filter((m) => values[m]);
  if (modes.length > 1) throw new UsageError(`rollout: --${modes[0]} and --${modes[1]} exclude each other`);
  const mode: Mode = (modes[0] as Mode | undefined) ?? 'start';
  for (const name of Object.keys(values)) {
    if (name === 'db' || name === 'help' || name === mode) continue;
    const given = values[name as keyof typeof values];
    if (given === undefined || given === false) continue;
    if (!ALLOWED[mode].includes(name)) {
      throw new UsageError(
        `rollout: --${name} does not go with ${mode === 'start' ? 'starting or widening a rollout' : `--${mode}`}\nRun "dominion rollout --help" for usage.`,
      );
    }
  }
  const dbPath = required('rollout', 'db', values.db);
  const instance = values.instance === undefined ? undefined : instanceOption(values.instance);
  const release = values.release === undefined ? undefined : integer('rollout', 'release', values.release, 0, 1, Number.MAX_SAFE_INTEGER);
  const maxRollbacks =
    values['max-rollbacks'] === undefined
      ? undefined
      : integer('rollout', 'max-rollbacks', values['max-rollbacks'], 0, 1, sqlite.MAX_ROLLBACKS_LIMIT);

  // The same result from either store (the SQLite file, or PostgreSQL: every worker applies a change by NOTIFY).
  const onStore = <T>(
    onSqlite: (db: sqlite.SqliteDatabase) => T,
    onPg: (pool: PgPool, where: string) => Promise<T>,
    say: (result: T) => void,
  ): Promise<number> | number => {
    const done = (result: T): number => (say(result), 0);
    if (isPostgresUrl(dbPath)) return withPgDatabase(io, 'rollout', dbPath, async (pool) => done(await onPg(pool, dbLabel(dbPath))));
    return withDatabase(io, 'rollout', dbPath, (db) => done(onSqlite(db)));
  };
  switch (mode) {
    case 'status': {
      const query = { ...(instance !== undefined ? { instance } : {}), ...(release !== undefined ? { release } : {}), all: values.all };
      return onStore(
        (db) => sqlite.rolloutStatus(db, query),
        (pool) => pgRolloutStatus(pool, query),
        (rollouts) => {
          if (values.json) for (const r of rollouts) io.out(JSON.stringify(r));
          else if (rollouts.length === 0) io.out('no rollouts in place (dominion rollout --release <n> --instance <i> --percent <p> …)');
          else for (const r of rollouts) for (const line of renderStatus(r)) io.out(line);
        },
      );
    }
    case 'halt': {
      const o = {
        ...(instance !== undefined ? { instance } : {}),
        ...(release !== undefined ? { release } : {}),
        ...(values.reason !== undefined ? { reason: values.reason } : {}),
      };
      return onStore(
        (db) => sqlite.haltRollouts(db, o),
        (pool) => pgHaltRollouts(pool, o),
        ({ halted, alreadyHalted }) => {
          for (const r of halted) io.out(`${r.instance}: rollout of release ${r.release} halted at ${r.percent} % (audited)`);
          for (const r of alreadyHalted)
            io.out(`${r.instance}: rollout of release ${r.release} was halted already (${r.haltReason ?? 'no reason'})`);
        },
      );
    }
    case 'resume': {
      if (instance === undefined) throw new UsageError('rollout: --resume needs --instance (device, mm or sm:<service>)');
      const o = { instance, ...(release !== undefined ? { release } : {}), ...(maxRollbacks !== undefined ? { maxRollbacks } : {}) };
      return onStore(
        (db) => sqlite.resumeRollout(db, o),
        (pool) => pgResumeRollout(pool, o),
        (r) =>
          io.out(
            `${r.instance}: rollout of release ${r.release} resumed at ${r.percent} % (halts at ${r.maxRollbacks} rollback(s) or failure(s), ${r.failures} counted); audited`,
          ),
      );
    }
    case 'start': {
      if (release === undefined) throw new UsageError('rollout: --release is required\nRun "dominion rollout --help" for usage.');
      if (instance === undefined) throw new UsageError('rollout: --instance is required (device, mm or sm:<service>)');
      const percent = integer('rollout', 'percent', required('rollout', 'percent', values.percent), 0, 1, 100);
      const o = {
        instance,
        release,
        percent,
        ...(values.board !== undefined ? { board: values.board } : {}),
        ...(maxRollbacks !== undefined ? { maxRollbacks } : {}),
      };
      return onStore(
        (db) => sqlite.startRollout(db, o),
        (pool, where) => pgStartRollout(pool, where, o),
        (c) => {
          const r = c.rollout;
          const cohort = `cohort ${c.size.cohort} of ${c.size.activeDevices} active device(s)`;
          const limit = `halts at ${r.maxRollbacks} rollback(s) or failure(s)`;
          const what = `${r.instance}: rollout of release ${r.release}`;
          if (c.change === 'started') {
            const superseded = c.superseded !== undefined ? `; supersedes the rollout of release ${c.superseded}` : '';
            io.out(`${what} started at ${r.percent} %: ${cohort}, ${limit}${superseded}; audited`);
          } else if (c.change === 'widened') {
            io.out(`${what} widened from ${c.fromPercent} % to ${r.percent} %: ${cohort}, ${limit}; audited`);
          } else {
            io.out(`${what} is at ${r.percent} % already: ${cohort}, ${limit}; nothing changed`);
          }
        },
      );
    }
  }
}

function instanceOption(text: string): Instance {
  try {
    return parseInstance(text);
  } catch (err) {
    throw new UsageError(`rollout: --instance: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function renderStatus(r: sqlite.RolloutStatus): string[] {
  const board = r.board !== undefined ? ` (board ${r.board})` : '';
  const counts = ROLLOUT_PROGRESS.map((p: RolloutProgress) => `${p} ${r.progress[p]}`).join(', ');
  const lines = [
    `${r.instance} release ${r.release}${board}: ${r.state} at ${r.percent} %, cohort ${r.cohort} of ${r.activeDevices} active device(s)`,
    `  updates: ${counts}`,
    `  rollbacks or failures counted: ${r.failures} (halts at ${r.maxRollbacks})`,
    `  started ${new Date(r.startedAtMs).toISOString()}, changed ${new Date(r.updatedAtMs).toISOString()}`,
  ];
  if (r.haltReason !== undefined) {
    const at = r.haltedAtMs !== undefined ? ` ${new Date(r.haltedAtMs).toISOString()}` : '';
    lines.push(`  halted${at}: ${r.haltReason}`);
  }
  return lines;
}
