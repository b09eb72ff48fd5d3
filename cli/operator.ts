/**
 * Operator commands on a hub database: `dominion devices`, `dominion audit`, and the state changes
 * `quarantine`, `release`, `revoke`, `require-update`. Changes are committed with their audit row
 * in one transaction; a running hub on the same database applies them at the device's next request.
 */
import { readFileSync } from 'node:fs';
import { cryptoBackend, fromHex } from '../actors/crypto/index.ts';
import { checkUpdateTarget, dominates, fleetView, readAudit, sqlite, type FleetRow, type StoredAuditEntry } from '../actors/hub/index.ts';
import { parseInstance, TOPIC_PREFIX, type Instance } from '../proto/index.ts';
import { consoleIo, failure, integer, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';

const DB_OPTION = { db: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } as const;

const DEVICES_HELP = `usage: dominion devices --db <path> [--device <id>] [--json]

Prints the fleet as this hub sees it, one line per enrolled instance: device, instance, last
request, last ticket, deadline (last ticket + its deferral), state and reason.

states: OK (holds a ticket)  FAIL (a check on its runtime information failed)  WITHHELD (quarantine,
operator, no policy, …)  UPDATE (must run another image)  TIMEOUT (silent past its deadline)
NEVER (enrolled, never asked)  QUARANTINED / REVOKED (the device's state)

options:
  --db <path>       the hub database
  --device <id>     only this device
  --json            one JSON object per line (times in ms since the epoch)
  -h, --help        this text`;

const AUDIT_HELP = `usage: dominion audit --db <path> [--device <id>] [--last <n>] [--json]

Prints the hub's append-only audit log, oldest first: every decision (ticket, withheld,
update-required, refused), every passed deadline (timeout, fail) and every operator command.

options:
  --db <path>       the hub database
  --device <id>     only entries about this device
  --last <n>        only the newest n entries (default 50; 0 = all)
  --json            one JSON object per line
  -h, --help        this text`;

const STATE_HELP = (verb: string, what: string): string => `usage: dominion ${verb} <device-id> --db <path> [--reason <text>]

${what}
Takes effect at the device's next request, also while the hub runs; audited.

options:
  --db <path>       the hub database
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
const REVOKE_HELP = STATE_HELP(
  'revoke',
  'Revokes the device for good: WITHHELD REVOKED at every request, until it is enrolled again\nwith new keys (dominion enroll --reinstate).',
);

const REQUIRE_UPDATE_HELP = `usage: dominion require-update <device-id> --db <path> --instance <i> --version <v> (--image <file> | --digest <hex> --size <n>) [--fetch-topic <t>]
       dominion require-update <device-id> --db <path> --clear [--instance <i>]

Demands that one instance of the device runs the given image before it gets tickets again: its
requests are answered UPDATE_REQUIRED (version, SHA-512 digest, size, fetch topic) until it reports
that image (device: a firmware version at least <v>; mm, sm:<service>: the image digest). Takes effect
at the device's next request, also while the hub runs; audited.

options:
  --db <path>          the hub database
  --instance <i>       device, mm or sm:<service> (this hub must dominate it)
  --version <v>        version string of the required image
  --image <file>       the image: its SHA-512 and size are computed
  --digest <hex>       or its SHA-512 (128 hex digits) …
  --size <n>           … and its size in bytes
  --fetch-topic <t>    where the device fetches it (default ${TOPIC_PREFIX}/image/<instance>/<version>)
  --clear              drop the demand (for --instance, or every instance)
  -h, --help           this text`;

export async function devicesCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('devices', argv, {
    ...DB_OPTION,
    device: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (values.help) {
    io.out(DEVICES_HELP);
    return 0;
  }
  positionals('devices', rest, []);
  const dbPath = required('devices', 'db', values.db);
  return withDatabase(io, 'devices', dbPath, (db) => {
    const now = Date.now();
    const rows = fleetView(db, now, values.device);
    if (values.json) for (const r of rows) io.out(JSON.stringify(r));
    else for (const line of renderFleet(rows, now)) io.out(line);
    return 0;
  });
}

export async function auditCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('audit', argv, {
    ...DB_OPTION,
    device: { type: 'string' },
    last: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (values.help) {
    io.out(AUDIT_HELP);
    return 0;
  }
  positionals('audit', rest, []);
  const dbPath = required('audit', 'db', values.db);
  const last = integer('audit', 'last', values.last, 50, 0, Number.MAX_SAFE_INTEGER);
  return withDatabase(io, 'audit', dbPath, (db) => {
    const entries = readAudit(db, {
      ...(values.device !== undefined ? { deviceId: values.device } : {}),
      ...(last > 0 ? { limit: last } : {}),
    });
    for (const e of entries) io.out(values.json ? JSON.stringify(e) : renderAudit(e));
    return 0;
  });
}

export function stateCommand(verb: sqlite.StateChange): (argv: string[], io?: CliIo) => Promise<number> {
  const help = verb === 'quarantine' ? QUARANTINE_HELP : verb === 'release' ? RELEASE_HELP : REVOKE_HELP;
  return async (argv, io = consoleIo) => {
    const { values, positionals: rest } = parseCommand(verb, argv, { ...DB_OPTION, reason: { type: 'string' } });
    if (values.help) {
      io.out(help);
      return 0;
    }
    const [deviceId] = positionals(verb, rest, ['device-id']);
    const dbPath = required(verb, 'db', values.db);
    return withDatabase(io, verb, dbPath, (db) => {
      const state = sqlite.changeDeviceState(db, deviceId!, verb, values.reason);
      io.out(`${deviceId}: ${state} (audited; takes effect at its next request)`);
      return 0;
    });
  };
}

export async function requireUpdateCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('require-update', argv, {
    ...DB_OPTION,
    instance: { type: 'string' },
    version: { type: 'string' },
    image: { type: 'string' },
    digest: { type: 'string' },
    size: { type: 'string' },
    'fetch-topic': { type: 'string' },
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
    if (values.version !== undefined || values.image !== undefined || values.digest !== undefined || values.size !== undefined) {
      throw new UsageError('require-update: --clear takes only --instance');
    }
    return withDatabase(io, 'require-update', dbPath, (db) => {
      const n = sqlite.clearInstanceUpdate(db, deviceId!, instance);
      io.out(`${deviceId}: ${n} required update(s) cleared (audited)`);
      return 0;
    });
  }
  if (instance === undefined) throw new UsageError('require-update: --instance is required (device, mm or sm:<service>)');
  const version = required('require-update', 'version', values.version);
  let imageDigest: Uint8Array;
  let sizeBytes: number;
  if (values.image !== undefined) {
    if (values.digest !== undefined || values.size !== undefined)
      throw new UsageError('require-update: give --image, or --digest with --size, not both');
    let image: Buffer;
    try {
      image = readFileSync(values.image);
    } catch (err) {
      throw new UsageError(`require-update: cannot read --image ${values.image} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    imageDigest = cryptoBackend('node').sha512(image);
    sizeBytes = image.length;
  } else {
    const digest = required('require-update', 'digest', values.digest);
    if (!/^[0-9a-fA-F]{128}$/.test(digest)) throw new UsageError('require-update: --digest must be a SHA-512 in hex (128 digits)');
    imageDigest = fromHex(digest);
    sizeBytes = integer('require-update', 'size', required('require-update', 'size', values.size), 0, 1, Number.MAX_SAFE_INTEGER);
  }
  const fetchTopic = values['fetch-topic'] ?? `${TOPIC_PREFIX}/image/${instance}/${version}`;
  let target;
  try {
    target = checkUpdateTarget(instance, { version, imageDigest, fetchTopic, sizeBytes });
  } catch (err) {
    throw new UsageError(`require-update: ${err instanceof Error ? err.message : String(err)}`);
  }
  return withDatabase(io, 'require-update', dbPath, (db) => {
    const identity = sqlite.readHubIdentity(db);
    if (identity !== undefined && !dominates(identity.role, instance)) {
      throw new sqlite.HubStoreError('refused', `this database's hub (${identity.hubId}) does not dominate ${instance}`);
    }
    sqlite.requireInstanceUpdate(db, deviceId!, instance, target);
    io.out(`${deviceId}: ${instance} must run ${version} (${sizeBytes} bytes, from ${fetchTopic}); audited`);
    return 0;
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

function renderFleet(rows: readonly FleetRow[], now: number): string[] {
  const ago = (t: number | undefined): string => (t === undefined ? '—' : `${((now - t) / 1000).toFixed(1)} s ago`);
  const until = (t: number | undefined): string =>
    t === undefined ? '—' : t >= now ? `in ${((t - now) / 1000).toFixed(1)} s` : `${((now - t) / 1000).toFixed(1)} s ago`;
  const state = (r: FleetRow): string =>
    r.deviceState !== 'active' ? r.deviceState.toUpperCase() : r.state === 'update-required' ? 'UPDATE' : r.state.toUpperCase();
  const header = ['device', 'instance', 'last request', 'last ticket', 'deadline', 'state', 'reason'];
  const cells = rows.map((r) => [
    r.deviceId,
    r.instance,
    ago(r.lastRequestAtMs),
    ago(r.lastTicketAtMs),
    until(r.deadlineMs),
    state(r),
    r.reason ?? '',
  ]);
  if (cells.length === 0) return ['no devices enrolled'];
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c]!.length)));
  const fmt = (r: string[]): string =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...cells.map(fmt)];
}

function renderAudit(e: StoredAuditEntry): string {
  const who = e.deviceId === undefined ? '' : ` ${e.deviceId}${e.instance !== undefined ? `/${e.instance}` : ''}`;
  const extra = [e.deferralMs !== undefined ? `D ${e.deferralMs} ms` : '', e.ref !== undefined ? `ref ${e.ref}` : '', e.detail ?? '']
    .filter((x) => x !== '')
    .join('; ');
  const what = e.outcome === 'operator' ? `operator ${e.reason}` : `${e.hubId ?? '-'} ${e.outcome} ${e.reason}`;
  return `#${e.seq} ${new Date(e.atMs).toISOString()} ${what}${who}${extra !== '' ? ` — ${extra}` : ''}`;
}
