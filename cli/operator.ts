/**
 * Operator commands on a hub database: `dominion devices`, `dominion audit`, and the state changes
 * `quarantine`, `release`, `revoke`, `require-update`. Changes are committed with their audit row
 * in one transaction; a running hub on the same database applies them at the device's next request.
 */
import { textTable } from './text-table.ts';
import { hex } from '../actors/crypto/index.ts';
import { fleetView, sqlite, type FleetImage, type FleetRow } from '../actors/hub/index.ts';
import { parseInstance, type Instance } from '../proto/index.ts';
import {
  pgChangeDeviceState,
  pgClearInstanceUpdate,
  pgFleetView,
  pgReleaseTarget,
  pgRequireInstanceUpdate,
} from '../actors/hub/postgres/index.ts';
import type { UpdateTarget } from '../actors/hub/index.ts';
import { SYNC_HELP, SYNC_OPTIONS, syncAfter } from './broker-sync.ts';
import { dbLabel, isPostgresUrl, refusePostgres, withPgDatabase } from './pg-db.ts';
import { consoleIo, failure, integer, parseCommand, positionals, required, requiredList, UsageError, type CliIo } from './options.ts';

const DB_OPTION = { db: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } as const;

const DEVICES_HELP = `usage: dominion devices --db <path|url> [--db <path|url> …] [--device <id>] [--json]

Prints the fleet as this hub sees it — or, given the IH's and its SHs' databases, as they see it
together, merged per device — one line per enrolled instance: device, instance, the
release it runs (version), the slot it runs from (a or b), where its latest update stands, last
request, last ticket, deadline (last ticket + its deferral), state and reason, and for the device
instance its latest boot (count and the IH's answer).

boots, reset and firmware are the latest the instance reported (dominion history lists them all):
device — boots since provisioning, why it last reset (power-on, ticket-timeout, ticket-withheld,
check-failed, update, operator, unspecified) and the firmware it runs; mm and sm:<service> — the
domain's boots since the device booted. refused: requests this hub refused that named the device,
with the latest one's reason (bad-signature, replayed, …; dominion audit --outcome refused), on
the device's first line from each database.

version, slot and update come from the instance's latest ticket request (its slot reports; device:
sw and hypervisor); when it sent none, the versions its latest boot request reported are shown,
marked "(boot)". update: downloading, installed, trial, committed, rolled-back or failed, with the
version it is for; "recovery" when the device runs without a boot ticket (no services).

states: OK (holds a ticket)  FAIL (a check on its runtime information failed)  WITHHELD (quarantine,
operator, no policy, …)  UPDATE (must run another image)  TIMEOUT (silent past its deadline)
NEVER (enrolled, never asked)  QUARANTINED / REVOKED (the device's state)

options:
  --db <path|url>   the hub database: a SQLite file or postgres://… (repeat it for several hubs)
  --device <id>     only this device
  --json            one JSON object per line (times in ms since the epoch)
  -h, --help        this text`;

const STATE_HELP = (
  verb: string,
  what: string,
): string => `usage: dominion ${verb} <device-id> --db <path|url> [--db <path|url> …] [--reason <text>]

${what}
Takes effect at the device's next request, also while the hub runs; audited.

options:
  --db <path|url>   a hub database (a SQLite file or postgres://…); repeat it to change the
                    device on each hub that serves it (the IH and its SHs), in that order. On
                    PostgreSQL every worker of the hub applies it within a second (NOTIFY)
  --reason <text>   why (recorded in the audit log and shown by "dominion devices")
  -h, --help        this text`;

const QUARANTINE_HELP = STATE_HELP(
  'quarantine',
  'Withholds every ticket from the device (WITHHELD QUARANTINED) until it is released: its\nAWDTs expire, and it is reset and boots its known-good image.',
);
const RELEASE_HELP = STATE_HELP(
  'release',
  'Lifts a quarantine: the device gets tickets again if its policy passes. A revoked device\ncannot be released; enrol it again with new keys (dominion enroll --reinstate).',
);
const REVOKE_HELP = `${STATE_HELP(
  'revoke',
  "Revokes the device for good: WITHHELD REVOKED at every request, until it is enrolled again\nwith new keys (dominion enroll --reinstate). On the IH's database it also deletes the device's\nbroker credential: after the next broker sync its CONNECT is refused. Revoked on the IH alone,\nthe device is reset and its boot refused, so its services never run again and the SHs' grants\nare moot; give every hub's database (--db ih.db --db sh-<service>.db) so each one refuses it\ntoo and shows it REVOKED.",
)}
${SYNC_HELP}`;

const REQUIRE_UPDATE_HELP = `usage: dominion require-update <device-id> --db <path|url> --instance <i> --release <version> [--board <id>]
       dominion require-update <device-id> --db <path|url> --clear [--instance <i>]

Demands that one instance of the device runs a release this hub has published (dominion publish)
before it gets tickets again: its requests are answered UPDATE_REQUIRED naming the release (version,
SHA-512 of the release's manifest, size, and this hub's request topic to fetch it from) until it
reports running that release or a later one (its slot reports; device: both sw and hypervisor). A
boot that reports an older image is withheld too (POLICY_FAILED), so the device stays in recovery
mode until it has updated. Takes effect at the device's next request, also while the hub runs; audited.

options:
  --db <path|url>      the hub database: a SQLite file or postgres://… (its releases copied there by
                       dominion db migrate; every worker applies the demand within a second)
  --instance <i>       device (its firmware: sw and hypervisor), mm, or sm:<service>; this hub must
                       dominate it
  --release <version>  the release version to run (a positive integer; dominion releases lists them)
  --board <id>         the board the release was built for; needed only when the hub serves that
                       release for several boards
  --clear              drop the demand (for --instance, or every instance)
  -h, --help           this text`;

export async function devicesCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('devices', argv, {
    ...DB_OPTION,
    db: { type: 'string', multiple: true },
    device: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (values.help) {
    io.out(DEVICES_HELP);
    return 0;
  }
  positionals('devices', rest, []);
  const dbPaths = requiredList('devices', 'db', values.db);
  // Several hubs' databases (the IH's and its SHs') merge into one view: each holds its own instances.
  const now = Date.now();
  const rows: FleetRow[] = [];
  for (const dbPath of dbPaths) {
    const code = isPostgresUrl(dbPath)
      ? await withPgDatabase(io, 'devices', dbPath, async (pool) => {
          rows.push(...(await pgFleetView(pool, now, values.device)));
          return 0;
        })
      : withDatabase(io, 'devices', dbPath, (db) => {
          rows.push(...fleetView(db, now, values.device));
          return 0;
        });
    if (code !== 0) return code;
  }
  if (dbPaths.length > 1)
    rows.sort(
      (a, b) =>
        a.deviceId.localeCompare(b.deviceId) ||
        instanceOrder(a.instance) - instanceOrder(b.instance) ||
        a.instance.localeCompare(b.instance),
    );
  if (values.json) for (const r of rows) io.out(JSON.stringify(r));
  else for (const line of renderFleet(rows, now)) io.out(line);
  return 0;
}

/** device, then mm, then the services by name: the order one hub's view already has. */
function instanceOrder(instance: string): number {
  return instance === 'device' ? 0 : instance === 'mm' ? 1 : 2;
}

export function stateCommand(verb: sqlite.StateChange): (argv: string[], io?: CliIo) => Promise<number> {
  const help = verb === 'quarantine' ? QUARANTINE_HELP : verb === 'release' ? RELEASE_HELP : REVOKE_HELP;
  return async (argv, io = consoleIo) => {
    const { values, positionals: rest } = parseCommand(verb, argv, {
      ...DB_OPTION,
      db: { type: 'string', multiple: true },
      reason: { type: 'string' },
      ...SYNC_OPTIONS,
    });
    if (values.help) {
      io.out(help);
      return 0;
    }
    const [deviceId] = positionals(verb, rest, ['device-id']);
    const dbPaths = requiredList(verb, 'db', values.db);
    // Each hub that serves the device records it (the IH and its SHs: docs/ARCHITECTURE.md §7), in
    // the order given; the first failure stops, naming what was already changed.
    const done: string[] = [];
    for (const dbPath of dbPaths) {
      const said = (state: string): number => {
        io.out(`${deviceId}: ${state} in ${dbLabel(dbPath)} (audited; takes effect at its next request)`);
        return 0;
      };
      // PostgreSQL: one transaction with its audit row and a NOTIFY that reaches every worker at commit.
      const code = isPostgresUrl(dbPath)
        ? await withPgDatabase(io, verb, dbPath, async (pool) => said(await pgChangeDeviceState(pool, deviceId!, verb, values.reason)))
        : withDatabase(io, verb, dbPath, (db) => said(sqlite.changeDeviceState(db, deviceId!, verb, values.reason)));
      if (code !== 0) {
        if (done.length > 0)
          io.err(`${verb}: already changed in ${done.join(', ')}; not in ${dbPaths.slice(done.length).map(dbLabel).join(', ')}`);
        return code;
      }
      done.push(dbLabel(dbPath));
    }
    try {
      await syncAfter(verb, io, values, dbPaths);
    } catch (err) {
      return failure(io, verb, err);
    }
    return 0;
  };
}

export async function requireUpdateCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('require-update', argv, {
    ...DB_OPTION,
    instance: { type: 'string' },
    release: { type: 'string' },
    board: { type: 'string' },
    clear: { type: 'boolean', default: false },
  });
  if (values.help) {
    io.out(REQUIRE_UPDATE_HELP);
    return 0;
  }
  const [deviceId] = positionals('require-update', rest, ['device-id']);
  const dbPath = required('require-update', 'db', values.db);
  const instance = values.instance === undefined ? undefined : instanceOption(values.instance);
  if (values.clear) {
    if (values.release !== undefined || values.board !== undefined) throw new UsageError('require-update: --clear takes only --instance');
    const cleared = (n: number): number => {
      io.out(`${deviceId}: ${n} required update(s) cleared (audited)`);
      return 0;
    };
    if (isPostgresUrl(dbPath))
      return withPgDatabase(io, 'require-update', dbPath, async (pool) => cleared(await pgClearInstanceUpdate(pool, deviceId!, instance)));
    return withDatabase(io, 'require-update', dbPath, (db) => cleared(sqlite.clearInstanceUpdate(db, deviceId!, instance)));
  }
  if (instance === undefined) throw new UsageError('require-update: --instance is required (device, mm or sm:<service>)');
  const release = integer(
    'require-update',
    'release',
    required('require-update', 'release', values.release),
    0,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const required_ = (target: UpdateTarget): number => {
    io.out(
      `${deviceId}: ${instance} must run release ${release} (${target.sizeBytes} bytes, manifest sha512 ${hex(target.imageDigest).slice(0, 16)}…, fetched from ${target.fetchTopic}); audited`,
    );
    return 0;
  };
  if (isPostgresUrl(dbPath))
    return withPgDatabase(io, 'require-update', dbPath, async (pool) => {
      const target = await pgReleaseTarget(pool, dbLabel(dbPath), instance, release, values.board);
      await pgRequireInstanceUpdate(pool, deviceId!, instance, target);
      return required_(target);
    });
  return withDatabase(io, 'require-update', dbPath, (db) => {
    const target = sqlite.releaseTarget(db, instance, release, values.board);
    sqlite.requireInstanceUpdate(db, deviceId!, instance, target);
    return required_(target);
  });
}

function instanceOption(text: string): Instance {
  try {
    return parseInstance(text);
  } catch (err) {
    throw new UsageError(`--instance: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Opens an existing hub database (never creates one), runs `fn`, closes it; store errors → exit 1. */
export function withDatabase(io: CliIo, command: string, dbPath: string, fn: (db: sqlite.SqliteDatabase) => number): number {
  // Commands with a PostgreSQL path take it before this; the others say so, not "no such file".
  const refused = refusePostgres(io, command, [dbPath]);
  if (refused !== undefined) return refused;
  let db: sqlite.SqliteDatabase;
  try {
    db = sqlite.openHubDatabase(dbPath, { create: false });
  } catch (err) {
    return failure(io, command, err);
  }
  try {
    return fn(db);
  } catch (err) {
    return failure(io, command, err);
  } finally {
    db.close();
  }
}

/** The release(s) an instance runs: `5`, or `sw 5, hypervisor 5` for the device; `(boot)` when only the boot said so. */
function versionCell(images: readonly FleetImage[] | undefined): string {
  if (images === undefined || images.length === 0) return '—';
  const named = images.length > 1 || images[0]!.label === 'sw' || images[0]!.label === 'hypervisor';
  const text = images.map((i) => `${named ? `${i.label} ` : ''}${i.version ?? '?'}`).join(', ');
  return images.every((i) => i.source === 'boot') ? `${text} (boot)` : text;
}

function slotCell(images: readonly FleetImage[] | undefined): string {
  const slots = (images ?? []).filter((i) => i.source === 'slots');
  return slots.length === 0 || slots.every((i) => i.slot === undefined) ? '—' : slots.map((i) => i.slot ?? '?').join(', ');
}

function updateCell(r: FleetRow): string {
  const images = r.images ?? [];
  const named = images.length > 1;
  const states = images
    .filter((i) => i.update !== undefined)
    .map((i) => `${named ? `${i.label} ` : ''}${i.update}${i.updateVersion !== undefined ? ` ${i.updateVersion}` : ''}`);
  const cells = [...(r.recovery === true ? ['recovery'] : []), ...states];
  return cells.length === 0 ? '—' : cells.join(', ');
}

function bootCell(r: FleetRow): string {
  if (r.boot === undefined) return r.instance === 'device' ? '—' : '';
  const answer =
    r.boot.outcome === 'boot-granted' ? 'granted' : r.boot.outcome === 'boot-withheld' ? `withheld (${r.boot.reason})` : r.boot.outcome;
  return `${r.boot.count !== undefined ? `#${r.boot.count} ` : ''}${answer}`;
}

function refusedCell(r: FleetRow, first: boolean): string {
  if (r.refused !== undefined) return `${r.refused.count} (${r.refused.lastReason})`;
  return first ? '0' : '';
}

function renderFleet(rows: readonly FleetRow[], now: number): string[] {
  const ago = (t: number | undefined): string => (t === undefined ? '—' : `${((now - t) / 1000).toFixed(1)} s ago`);
  const until = (t: number | undefined): string =>
    t === undefined ? '—' : t >= now ? `in ${((t - now) / 1000).toFixed(1)} s` : `${((now - t) / 1000).toFixed(1)} s ago`;
  const state = (r: FleetRow): string =>
    r.deviceState !== 'active' ? r.deviceState.toUpperCase() : r.state === 'update-required' ? 'UPDATE' : r.state.toUpperCase();
  const header = [
    'device',
    'instance',
    'version',
    'slot',
    'update',
    'last request',
    'last ticket',
    'deadline',
    'state',
    'boot',
    'boots',
    'reset',
    'firmware',
    'refused',
    'reason',
  ];
  const cells = rows.map((r, i) => [
    r.deviceId,
    r.instance,
    versionCell(r.images),
    slotCell(r.images),
    updateCell(r),
    ago(r.lastRequestAtMs),
    ago(r.lastTicketAtMs),
    until(r.deadlineMs),
    state(r),
    bootCell(r),
    r.reported?.bootCount !== undefined ? String(r.reported.bootCount) : '—',
    r.reported?.resetReason ?? (r.instance === 'device' ? '—' : ''),
    r.reported?.firmwareVersion ?? (r.instance === 'device' ? '—' : ''),
    refusedCell(r, i === 0 || rows[i - 1]!.deviceId !== r.deviceId),
    r.reason ?? '',
  ]);
  if (cells.length === 0) return ['no devices enrolled'];
  return textTable(header, cells);
}
