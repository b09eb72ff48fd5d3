/**
 * `dominion hub`: one hub process (docs/ARCHITECTURE.md §7) on its SQLite database, until SIGINT/SIGTERM.
 * Logs (docs/ARCHITECTURE.md §7.3, on stderr) how it listens (shared or plain subscription, MQTT
 * version), its broker connection coming and going, what it refused or withheld (rate-limited), and,
 * at a clean stop, what it decided. Never logs key material: the key is named by its file and key id only.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hex } from '../actors/crypto/index.ts';
import { hashPassword, hubUsername, newBrokerPassword } from '../actors/broker-auth/index.ts';
import { readBrokerCredentialFile, writeBrokerCredentialFile } from '../actors/provisioning/index.ts';
import {
  IH_ROLE,
  newHubKey,
  readHubKeyFile,
  hubName,
  roleName,
  serviceHubRole,
  writeHubKeyFile,
  writeHubPublicFile,
  type HubRole,
} from '../actors/hub/index.ts';
import { checkDatabaseFile, type IntegrityReport } from '../actors/hub/sqlite/index.ts';
import { serviceInstance, type Instance } from '../proto/index.ts';
import { BROKER_HELP, BROKER_OPTIONS, chooseBrokers } from './broker-options.ts';
import { checkStoreOptions, startHub, type RunningHub } from './hub-store.ts';
import { dbLabel, isPostgresUrl } from './pg-db.ts';
import { describeUrl, openPool, pgCheckDatabase, type PgCheckReport } from '../actors/hub/postgres/index.ts';
import { HubStoreError, type HubIdentity } from '../actors/hub/sqlite/index.ts';
import { cliLogger, LOG_HELP, LOG_OPTIONS, logSettings } from './log-options.ts';
import { logHubServer } from '../actors/hub/index.ts';
import { consoleIo, failure, integer, oneOf, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';

export const HUB_HELP = `usage: dominion hub --role ih|sh --id <hub-id> [--service <name>] --broker <mqtts-url> [--broker <url> …] --db <path> [options]
       dominion hub --role ih|sh --id <hub-id> … --db postgres://user@host/db --key <file> [--init] [options]
       dominion hub --check-db --db <path>
       dominion hub --check-db --db postgres://user@host/db [--key <file>]

Runs one hub process. It answers ticket requests on dominion/v1/hub/<hub-id>/request/<device-id> from the
state in its SQLite database (devices, keys, policy, operator holds), commits every decision to the
append-only audit log before it replies, and records instances that fall silent (TIMEOUT) apart from
those it refused (FAIL). On the same topics it serves the releases published to it (dominion publish)
in chunks, rate-limited per device, and (an IH) answers gated-boot requests with boot tickets.
Operator commands (dominion quarantine, …) on the same database take effect at the device's next
request. Stops cleanly on Ctrl-C / SIGTERM.

With --db postgres://… the process is one stateless worker of the hub: run any number of them, with
the same id and key, on any machines, against one PostgreSQL database (each commits a batch before
it publishes the batch's replies). --init creates or migrates the schema (run it once, or on every
worker: they take turns). Give the schema in the URL if not the default one:
postgres://user@host/db?options=-c%20search_path%3Dih1. The URL's password is never logged; prefer
PGPASSWORD or ~/.pgpass to a password in the URL (it shows in ps).

It checks the database's integrity (SQLite quick_check) at start and refuses a damaged one; while
it runs it checks again on a schedule and when the store fails. A damaged database, or commits that
keep failing, make it stop answering, publish a status with ready:false and the problem, log the
problem on stderr and exit with status 1: restore the database from a backup, check it with
--check-db, then restart. A PostgreSQL worker whose commits keep failing (the server lost) stops
answering too, logs an error and publishes ready:false, but does not exit: it probes the server
every second and, once it answers, logs "ready again", publishes ready:true and answers again.

It logs on stderr, one line per record with a timestamp, a level and fields: start-up, its broker
connection lost and restored, TLS and CONNECT refusals, and every request it refused or withheld
(rate-limited: the first at once, then one line per minute per class and device with the count).

options:
  --role ih|sh             ih: dominates device and mm; sh: dominates sm:<service>
  --id <hub-id>            the id devices address (1-64 of [A-Za-z0-9._:-])
  --service <name>         with --role sh: the service this hub dominates
  --broker <mqtts-url>     mqtts://host[:8883] (TLS); plain mqtt://host[:port] only to loopback.
                           Repeat it to serve several brokers (shards): the process subscribes on
                           each (shared where the broker supports it), answers each request on the
                           broker it came on, and stays online while any broker is up; one that is
                           down at start is a warning, all down an error. --broker-ca applies to all.
${BROKER_HELP}
  --db <path|url>          the hub database: a SQLite file (must exist unless --init) or
                           postgres://… (its schema must exist unless --init)
  --key <file>             hub key file (dominion.hub-key, mode 0600);
                           default <db dir>/<hub-id>.key.json; required with postgres://
  --init                   create the database, and the default key file (with <hub-id>.pub.json
                           and the broker credential <hub-id>.broker.json beside it), when missing;
                           PostgreSQL: create or migrate the schema (the key file must exist)
  --broker-credential <f>  the hub's broker credential (username hub@<hub-id>; "dominion keys new
                           --hub" makes it); default <key dir>/<hub-id>.broker.json when it exists,
                           else the hub connects without one. Its hash is stored in the database
                           for "dominion broker-sync". A refused CONNECT is logged and retried
                           every 30 s.
  --share-group <g>        shared-subscription group: auto (default: the hub id), a name, or none.
                           Brokers without shared subscriptions (Aedes) get a plain subscription.
  --sync normal|full       normal (default): committed decisions survive kill -9; full: also power loss
                           (--sync, --key-cache, --integrity-check, --activity-flush: SQLite only)
  --batch <n>              most decisions per commit (default 512)
  --replay-window <s>      how long answered nonces are kept for replay detection (default 600)
  --sweep <ms>             how often passed deadlines are recorded (default 1000)
  --stats <s>              log counters every <s> seconds (default 0: only at stop)
${LOG_HELP}
  --key-cache <n>          enrolled keys kept prepared in memory, two generations of n (default
                           50000, about 1.3 KB each): size it to the instances this hub answers
                           (the IH: two per device), or every request pays to rebuild its key
  --audit-keep <days>      days of audit rows kept; older ones are pruned in small batches after
                           being counted per day (dominion audit --summary); 0: keep all (default 30)
  --integrity-check <s>    how often the running hub checks its database (default 600; 0: never);
                           each check reads the whole file and holds up answering meanwhile
  --activity-flush <ms>    how long what each device last asked and was given may wait in memory
                           before it is written, many devices per page (default 5000; 0: with each
                           batch). What "dominion devices" and the dashboard show lags by up to
                           this; deadlines are recorded as passed two of these late. SQLite only
  --check-db               only check the database (read-only; safe while a hub runs on it):
                           prints "ok" and exits 0, or the problems and exits 1. SQLite: its
                           integrity_check. PostgreSQL: the schema is there at this dominion's
                           version, every hub table can be read, the audit log's triggers
                           are in place, and with --key the database belongs to that key's hub
  -h, --help               this text`;

export async function hubCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('hub', argv, {
    role: { type: 'string' },
    id: { type: 'string' },
    service: { type: 'string' },
    broker: { type: 'string', multiple: true },
    ...BROKER_OPTIONS,
    db: { type: 'string' },
    key: { type: 'string' },
    init: { type: 'boolean', default: false },
    'share-group': { type: 'string' },
    sync: { type: 'string' },
    batch: { type: 'string' },
    'replay-window': { type: 'string' },
    sweep: { type: 'string' },
    stats: { type: 'string' },
    'broker-credential': { type: 'string' },
    'integrity-check': { type: 'string' },
    'activity-flush': { type: 'string' },
    'audit-keep': { type: 'string' },
    'key-cache': { type: 'string' },
    'check-db': { type: 'boolean', default: false },
    ...LOG_OPTIONS,
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HUB_HELP);
    return 0;
  }
  positionals('hub', rest, []);
  if (values['check-db']) {
    const db = required('hub', 'db', values.db);
    if (isPostgresUrl(db)) return pgCheckDbCommand(db, values.key, io);
    if (values.key !== undefined) throw new UsageError('hub: --check-db takes --key only with a postgres:// --db');
    return checkDbCommand(db, io);
  }
  const roleKind = oneOf('hub', 'role', values.role, ['ih', 'sh'] as const);
  const hubId = required('hub', 'id', values.id);
  const brokerUrls = values.broker ?? [];
  if (brokerUrls.length === 0) required('hub', 'broker', undefined);
  const dbPath = required('hub', 'db', values.db);
  checkStoreOptions(dbPath, values);
  if (roleKind === 'ih' && values.service !== undefined) throw new UsageError('hub: --service is only for --role sh');
  let role: HubRole;
  try {
    role = roleKind === 'ih' ? IH_ROLE : serviceHubRole(required('hub', 'service', values.service));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`hub: --service: ${err instanceof Error ? err.message : String(err)}`);
  }
  const shareGroup =
    values['share-group'] === undefined || values['share-group'] === 'auto'
      ? 'auto'
      : values['share-group'] === 'none'
        ? null
        : values['share-group'];
  const synchronous = oneOf('hub', 'sync', values.sync, ['normal', 'full'] as const, 'normal');
  const maxBatch = integer('hub', 'batch', values.batch, 512, 1, 100_000);
  const replayWindowS = integer('hub', 'replay-window', values['replay-window'], 600, 1, 30 * 24 * 3600);
  const sweepMs = integer('hub', 'sweep', values.sweep, 1000, 10, 3_600_000);
  const statsS = integer('hub', 'stats', values.stats, 0, 0, 86_400);
  const auditKeep = integer('hub', 'audit-keep', values['audit-keep'], 30, 0, 100_000);
  const keyCache = integer('hub', 'key-cache', values['key-cache'], 50_000, 100, 10_000_000);
  const integrityS = integer('hub', 'integrity-check', values['integrity-check'], 600, 0, 7 * 86_400);
  const activityFlushMs = integer('hub', 'activity-flush', values['activity-flush'], 5000, 0, 60_000);
  const brokers = chooseBrokers('hub', brokerUrls, { caFile: values['broker-ca'], insecurePlaintext: values['insecure-plaintext'] });
  const ca = brokers.ca;
  const log = cliLogger(`hub ${hubId}`, logSettings('hub', values), io);
  if (brokers.warning !== undefined) log.warn(brokers.warning);

  let hub: RunningHub;
  let signalledEarly = false;
  const early = (): void => void (signalledEarly = true);
  const offEarly = (): void => void (process.off('SIGINT', early), process.off('SIGTERM', early));
  try {
    const keyPath = values.key ?? join(dirname(dbPath), `${hubId}.key.json`);
    if (!existsSync(keyPath)) {
      if (!values.init || values.key !== undefined) {
        throw new UsageError(
          `hub: no key file at ${keyPath} (make one with "dominion keys new --hub ${hubId} --role ${roleKind} …", or pass --init to create the default one)`,
        );
      }
      // A hub id with ':' cannot be a Mosquitto username (actors/broker-auth/principal.ts): no credential then.
      const username = /^[A-Za-z0-9._-]{1,64}$/.test(hubId) ? hubUsername(hubId) : undefined;
      const password = newBrokerPassword();
      const fresh = { ...newHubKey(hubId, role), ...(username !== undefined ? { brokerPasswordHash: hashPassword(password) } : {}) };
      const credentialPath = join(dirname(keyPath), `${hubId}.broker.json`);
      writeHubKeyFile(keyPath, fresh);
      if (username !== undefined && !existsSync(credentialPath)) writeBrokerCredentialFile(credentialPath, { username, password });
      writeHubPublicFile(join(dirname(keyPath), `${hubId}.pub.json`), fresh);
      log.info(`created hub key ${keyPath} (mode 0600), ${credentialPath} (0600) and ${join(dirname(keyPath), `${hubId}.pub.json`)}`);
    }
    const defaultCredential = join(dirname(keyPath), `${hubId}.broker.json`);
    const credentialPath = values['broker-credential'] ?? (existsSync(defaultCredential) ? defaultCredential : undefined);
    const credential = credentialPath === undefined ? undefined : readBrokerCredentialFile(credentialPath);
    if (credential !== undefined && credential.username !== hubUsername(hubId))
      throw new UsageError(`hub: ${credentialPath} is the broker credential of ${credential.username}, not of ${hubUsername(hubId)}`);
    const key = readHubKeyFile(keyPath);
    if (key.hubId !== hubId || roleName(key.role) !== roleName(role)) {
      throw new UsageError(`hub: ${keyPath} is the key of ${key.hubId} (${roleName(key.role)}), not of ${hubId} (${roleName(role)})`);
    }
    // A stop asked for while starting (systemctl stop) is a clean stop once started, not a kill.
    process.on('SIGINT', early);
    process.on('SIGTERM', early);
    log.info('starting', { role: roleName(role), db: dbLabel(dbPath), broker: brokerUrls.join(' ') });
    hub = await startHub(
      dbPath,
      {
        log,
        role,
        hubId,
        brokers: brokerUrls,
        ...(ca !== undefined ? { brokerTls: { ca } } : {}),
        signer: key.signer,
        init: values.init,
        shareGroup,
        maxBatch,
        replayWindowMs: replayWindowS * 1000,
        sweepIntervalMs: sweepMs,
        ...(credential !== undefined ? { credential } : {}),
      },
      {
        synchronous,
        integrityCheckIntervalMs: integrityS * 1000,
        ...(auditKeep > 0 ? { auditKeepDays: auditKeep } : {}),
        keyCacheSize: keyCache,
        activityFlushMs,
      },
    );
  } catch (err) {
    offEarly();
    if (err instanceof UsageError) throw err;
    return failure(io, 'hub', err);
  }
  const stopLogging = logHubServer(hub.server, log);

  const st = hub.status();
  const keyId = hex(hub.core.publicKey).slice(0, 16);
  log.info(
    `${roleName(role)} online: ${st.subscription} subscription${st.shareGroup !== undefined ? ` (group ${st.shareGroup})` : ''}, MQTT ${st.protocol === 5 ? '5' : '3.1.1'}${ca !== undefined ? ' over TLS (broker CA pinned)' : ''}${st.note !== undefined ? ` — ${st.note}` : ''}`,
    { db: hub.where, ...hub.fields, statusTopic: hub.server.statusTopic, hubPublicId: keyId },
  );
  if (brokerUrls.length > 1)
    for (const b of hub.server.brokers())
      log.info(`broker ${b.online ? 'up' : 'down (reconnecting)'}`, {
        broker: b.url,
        ...(b.subscription !== undefined ? { subscription: b.subscription } : {}),
        ...(b.protocol !== undefined ? { protocol: b.protocol } : {}),
      });
  // A hub without a policy for what it answers withholds everything (`no-policy`): its devices reset.
  const answersFor: Instance[] = role.kind === 'ih' ? ['device', 'mm'] : [serviceInstance(role.service)];
  const gaps = await hub.policyGaps(answersFor).catch((err: unknown) => {
    log.warn('could not check the fleet policy for gaps', { error: err instanceof Error ? err.message : String(err) });
    return [];
  });
  for (const gap of gaps)
    log.warn(
      `no fleet policy for ${gap.instance} (no rule, no default): ${gap.devicesWithoutPolicy} enrolled device(s) without a policy of their own will be withheld (no-policy) and reset; set one with "dominion policy --db ${hub.where} --set <file>"`,
      { instance: gap.instance, devicesWithoutPolicy: gap.devicesWithoutPolicy },
    );

  const ticker = statsS > 0 ? setInterval(() => log.info(`stats: ${hub.statsLine()}`), statsS * 1000) : undefined;
  ticker?.unref();
  // SQLite not ready (damaged database, commits failing): loud, and a non-zero exit a supervisor sees.
  // A PostgreSQL worker is never fatal here: it logs going not ready and ready again by itself (pg-hub.ts).
  const problem = await new Promise<string | undefined>((resolve) => {
    const stop = (problem?: string): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      offNotReady();
      resolve(problem);
    };
    const onSignal = (): void => stop();
    const offNotReady = hub.onFatal((p) => {
      log.error(`NOT READY, stopping: ${p}`);
      stop(p);
    });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    offEarly();
    if (signalledEarly) stop();
  });
  if (ticker !== undefined) clearInterval(ticker);
  await hub.stop();
  stopLogging();
  log.info(`stopped: ${hub.statsLine()}`);
  log.close();
  return problem === undefined ? 0 : 1;
}

/** `dominion hub --check-db`: the full integrity check, read-only; 0 when sound, 1 with the problems. */
function checkDbCommand(dbPath: string, io: CliIo): number {
  let report: IntegrityReport;
  try {
    report = checkDatabaseFile(dbPath, 'full');
  } catch (err) {
    return failure(io, 'hub', err);
  }
  if (report.ok) {
    io.out(`${dbPath}: ok`);
    return 0;
  }
  io.err(`dominion hub: ${dbPath}: the integrity check found problems:`);
  for (const p of report.problems) io.err(`  ${p}`);
  io.err('restore the database from a backup (or move it aside) before a hub serves from it');
  return 1;
}

/**
 * `dominion hub --check-db --db postgres://… [--key <file>]` (postgres/check.ts): 0 and "ok" when a
 * worker can serve from the schema (and it is the key's hub's), 1 with the problems otherwise.
 */
async function pgCheckDbCommand(url: string, keyPath: string | undefined, io: CliIo): Promise<number> {
  const label = dbLabel(url);
  let expected: HubIdentity | undefined;
  let report: PgCheckReport;
  try {
    if (keyPath !== undefined) {
      const key = readHubKeyFile(keyPath);
      expected = { hubId: key.hubId, role: key.role };
    }
    const pool = await openPool({ url, max: 1, queryTimeoutMs: 600_000 });
    try {
      report = await pgCheckDatabase(pool, expected);
    } catch (err) {
      // A server error (pg names them `error`, or `Error` for a lost connection) as one line naming the database.
      throw err instanceof Error && (err.name === 'error' || err.name === 'Error')
        ? new HubStoreError('io', `PostgreSQL at ${describeUrl(url)}: ${err.message}`)
        : err;
    } finally {
      await pool.end().catch(() => {});
    }
  } catch (err) {
    return failure(io, 'hub', err);
  }
  if (report.ok) {
    const hub =
      report.identity === undefined
        ? 'claimed by no hub yet (the first worker started on it claims it)'
        : `hub ${hubName(report.identity)}${expected !== undefined ? ', as the key file says' : ''}`;
    io.out(`${label}: ok (schema version ${report.version}, ${hub})`);
    return 0;
  }
  io.err(`dominion hub: ${label}: the check found problems:`);
  for (const p of report.problems) io.err(`  ${p}`);
  io.err('no worker should serve from it until they are fixed');
  return 1;
}
