/**
 * The hub database's schema, as forward-only migrations (docs/ARCHITECTURE.md §7). `PRAGMA user_version`
 * holds the number of migrations applied; each migration runs in its own transaction together with
 * the version bump, so a failed one leaves the database exactly as it was. There is no way down: a
 * database written by a newer dominion is refused rather than guessed at.
 *
 * Never edit a migration that has shipped; add a new one.
 */
import type { Database } from 'better-sqlite3';
import { HubStoreError } from './errors.ts';

export interface Migration {
  /** The user_version this migration brings the database to (1, 2, …, in order). */
  readonly version: number;
  readonly summary: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    summary: 'registry, keys, policy, operator holds, instance activity, append-only audit',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE device (
        device_id      TEXT PRIMARY KEY,
        state          TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'quarantined', 'revoked')),
        state_reason   TEXT,
        policy         TEXT,            -- per-device policy document (JSON), NULL = fleet policy only
        enrolled_at_ms INTEGER NOT NULL,
        updated_at_ms  INTEGER NOT NULL
      ) WITHOUT ROWID;

      -- One key per AWDT instance; a key id names exactly one (device, instance).
      CREATE TABLE device_key (
        device_id      TEXT NOT NULL REFERENCES device (device_id),
        instance       TEXT NOT NULL,
        public_key     BLOB NOT NULL CHECK (length(public_key) = 32),
        key_id         BLOB NOT NULL UNIQUE,
        enrolled_at_ms INTEGER NOT NULL,
        PRIMARY KEY (device_id, instance)
      ) WITHOUT ROWID;

      -- The fleet default policy document (JSON); version bumps on every change so hubs re-parse.
      CREATE TABLE fleet_policy (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        policy  TEXT NOT NULL,
        version INTEGER NOT NULL
      );

      -- Operator switches: withhold (detail = reason text) or require an update (detail = target JSON).
      -- instance '*' = every instance of the device.
      CREATE TABLE operator_hold (
        device_id TEXT NOT NULL,
        instance  TEXT NOT NULL,
        kind      TEXT NOT NULL CHECK (kind IN ('withhold', 'update')),
        detail    TEXT NOT NULL,
        at_ms     INTEGER NOT NULL,
        PRIMARY KEY (device_id, instance, kind)
      ) WITHOUT ROWID;

      CREATE TABLE instance_activity (
        device_id          TEXT NOT NULL,
        instance           TEXT NOT NULL,
        last_request_at_ms INTEGER,
        last_outcome       TEXT,
        last_reason        TEXT,
        last_ticket_at_ms  INTEGER,
        last_deferral_ms   INTEGER,
        PRIMARY KEY (device_id, instance)
      ) WITHOUT ROWID;

      -- Append-only: the triggers refuse UPDATE and DELETE, whoever asks. No secondary index: every
      -- decision appends a row, and an index keyed by device would turn each append into a random
      -- page write (operator queries by device scan instead). ref = the request nonce's first 8
      -- bytes, hex: it also serves replay detection (replay-log.ts).
      CREATE TABLE audit (
        seq         INTEGER PRIMARY KEY,
        at_ms       INTEGER NOT NULL,
        hub_id      TEXT,
        outcome     TEXT NOT NULL,
        reason      TEXT NOT NULL,
        detail      TEXT,
        device_id   TEXT,
        instance    TEXT,
        deferral_ms INTEGER,
        ref         TEXT
      );
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    `,
  },
  {
    version: 2,
    summary: 'per-instance state and deadlines (TIMEOUT vs FAIL)',
    sql: `
      -- state: ok | fail | withheld | update-required | timeout (see reasons.ts); deadline = last
      -- ticket + its deferral; expired = the deadline sweep has recorded this deadline's passing.
      ALTER TABLE instance_activity ADD COLUMN state TEXT;
      ALTER TABLE instance_activity ADD COLUMN deadline_ms INTEGER;
      ALTER TABLE instance_activity ADD COLUMN expired INTEGER NOT NULL DEFAULT 0;
      UPDATE instance_activity SET deadline_ms = last_ticket_at_ms + last_deferral_ms
        WHERE last_ticket_at_ms IS NOT NULL AND last_deferral_ms IS NOT NULL;
      CREATE INDEX instance_activity_due ON instance_activity (deadline_ms) WHERE expired = 0 AND deadline_ms IS NOT NULL;
    `,
  },
  {
    version: 3,
    summary: 'published releases, the images devices report (slots, update state, boots)',
    sql: `
      -- Release images this hub serves (sqlite/releases.ts): one domain's bundle with the exact
      -- manifest.json and manifest.sig of its build. Immutable: re-publishing the same bytes is a
      -- no-op, other bytes under the same key are refused. A rowid table (not WITHOUT ROWID): its rows
      -- hold whole bundles. The release key that signs them is pinned in meta ('release_key').
      CREATE TABLE release (
        board           TEXT NOT NULL,
        label           TEXT NOT NULL,
        version         INTEGER NOT NULL CHECK (version > 0),
        issued_at_ms    INTEGER NOT NULL,
        manifest        BLOB NOT NULL,
        manifest_sig    BLOB NOT NULL,
        bundle          BLOB NOT NULL,
        bundle_sha512   BLOB NOT NULL CHECK (length(bundle_sha512) = 64),
        bundle_bytes    INTEGER NOT NULL CHECK (bundle_bytes = length(bundle)),
        published_at_ms INTEGER NOT NULL,
        UNIQUE (board, label, version)
      );
      CREATE TRIGGER release_no_update BEFORE UPDATE ON release BEGIN SELECT RAISE(ABORT, 'a published release never changes'); END;

      -- The image state of an instance's latest valid request (written with its activity, same
      -- transaction): slots = JSON [{label, version, slot, update, updateVersion, detail}];
      -- recovery = 1 while the device runs without a boot ticket (device instance only).
      ALTER TABLE instance_activity ADD COLUMN slots TEXT;
      ALTER TABLE instance_activity ADD COLUMN recovery INTEGER;

      -- A device's latest boot request and the IH's answer; images = JSON [{label, version, digest}].
      CREATE TABLE device_boot (
        device_id        TEXT PRIMARY KEY,
        at_ms            INTEGER NOT NULL,
        boot_count       INTEGER,
        firmware_version TEXT NOT NULL,
        manifest_digest  BLOB NOT NULL,
        images           TEXT NOT NULL,
        outcome          TEXT NOT NULL,
        reason           TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    summary: 'staged rollouts: one row per rollout, the cohort devices that rolled back or failed',
    sql: `
      -- A staged rollout (sqlite/rollouts.ts): a release of one instance, demanded of the devices
      -- whose cohort point lies below the percent (rollout.ts), with the update target JSON that
      -- require-update --release builds (target). state: active | halted | superseded (a newer
      -- release's rollout replaced it); at most one active or halted rollout per instance.
      -- failures = distinct cohort devices that reported ROLLED_BACK or FAILED for the release (one
      -- rollout_failure row each, counted in the transaction that stores the report); the rollout
      -- halts when it reaches max_rollbacks.
      CREATE TABLE rollout (
        id             INTEGER PRIMARY KEY,
        instance       TEXT NOT NULL,
        release        INTEGER NOT NULL CHECK (release > 0),
        board          TEXT,
        target         TEXT NOT NULL,
        percent        INTEGER NOT NULL CHECK (percent BETWEEN 1 AND 100),
        max_rollbacks  INTEGER NOT NULL CHECK (max_rollbacks >= 1),
        state          TEXT NOT NULL CHECK (state IN ('active', 'halted', 'superseded')),
        failures       INTEGER NOT NULL DEFAULT 0,
        halt_reason    TEXT,
        halted_at_ms   INTEGER,
        started_at_ms  INTEGER NOT NULL,
        updated_at_ms  INTEGER NOT NULL,
        UNIQUE (instance, release)
      );
      CREATE UNIQUE INDEX rollout_current ON rollout (instance) WHERE state IN ('active', 'halted');

      CREATE TABLE rollout_failure (
        rollout_id   INTEGER NOT NULL REFERENCES rollout (id),
        device_id    TEXT NOT NULL,
        update_state TEXT NOT NULL,
        at_ms        INTEGER NOT NULL,
        PRIMARY KEY (rollout_id, device_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 5,
    summary: 'broker credentials: the password hashes "dominion broker-sync" writes to the broker',
    sql: `
      -- Broker accounts (docs/ARCHITECTURE.md §7.1, sqlite/credentials.ts): the hub's own
      -- (username hub@<hubId>) and, in the IH's database, one per enrolled device (username = its
      -- device id). Only the Mosquitto $7$ PBKDF2-SHA512 hash is kept; the password went to the
      -- credential file. Revoking a device deletes its row; enrolling it again writes a new one.
      CREATE TABLE broker_credential (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        updated_at_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    summary: 'audit retention: an index by time, per-day counts of pruned audit rows',
    sql: `
      -- Audit retention (docs/ARCHITECTURE.md §7.2, sqlite/retention.ts). at_ms grows with seq, so
      -- this index is appended at its right edge (no random page write per decision); it serves
      -- "dominion audit --since/--until" and finds the rows to prune.
      CREATE INDEX audit_at ON audit (at_ms);

      -- What pruned audit rows said: per UTC day, device ('' = none), outcome and reason, a count.
      CREATE TABLE audit_summary (
        day         TEXT NOT NULL,
        device_id   TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        reason      TEXT NOT NULL,
        count       INTEGER NOT NULL CHECK (count > 0),
        first_at_ms INTEGER NOT NULL,
        last_at_ms  INTEGER NOT NULL,
        PRIMARY KEY (day, device_id, outcome, reason)
      ) WITHOUT ROWID;

      -- Rows may now leave the audit log, but never uncounted: whoever deletes one, the trigger
      -- adds it to its day's summary in the same transaction. Updates stay refused.
      DROP TRIGGER audit_no_delete;
      CREATE TRIGGER audit_delete_summarised AFTER DELETE ON audit BEGIN
        INSERT INTO audit_summary (day, device_id, outcome, reason, count, first_at_ms, last_at_ms)
          VALUES (strftime('%Y-%m-%d', old.at_ms / 1000, 'unixepoch'), coalesce(old.device_id, ''), old.outcome, old.reason, 1, old.at_ms, old.at_ms)
          ON CONFLICT (day, device_id, outcome, reason) DO UPDATE SET
            count = count + 1,
            first_at_ms = min(first_at_ms, excluded.first_at_ms),
            last_at_ms = max(last_at_ms, excluded.last_at_ms);
      END;
    `,
  },
  {
    version: 7,
    summary: 'device history (boots, reset reasons, firmware and image versions as reported), refusal counts',
    sql: `
      -- What devices reported of their boots (docs/ARCHITECTURE.md §7, sqlite/history.ts): one row when
      -- a report differs from the previous one of the same (device, instance, source) — a new boot
      -- count, reset reason, firmware or image versions — never one per request. source:
      -- 'boot-request' (the IH: boot count, firmware, every image) or 'runtime' (a ticket request:
      -- device = DeviceState's boot count, reset reason, firmware, sw/hypervisor versions; mm and
      -- sm:<service> = the domain's boots since the device booted and its image version). images =
      -- "label version, …". Bounded: the journal keeps the newest rows per (device, instance).
      CREATE TABLE device_history (
        seq              INTEGER PRIMARY KEY,
        device_id        TEXT NOT NULL,
        instance         TEXT NOT NULL,
        at_ms            INTEGER NOT NULL,
        hub_id           TEXT,
        source           TEXT NOT NULL CHECK (source IN ('boot-request', 'runtime')),
        boot_count       INTEGER,
        reset_reason     TEXT,
        firmware_version TEXT,
        images           TEXT
      );
      CREATE INDEX device_history_device ON device_history (device_id, instance, seq);

      -- The latest boot request each device made before this version, as its first history row.
      INSERT INTO device_history (device_id, instance, at_ms, hub_id, source, boot_count, firmware_version, images)
        SELECT b.device_id, 'device', b.at_ms, (SELECT value FROM meta WHERE key = 'hub_id'), 'boot-request', b.boot_count, b.firmware_version,
               (SELECT group_concat(json_extract(i.value, '$.label') || ' ' || coalesce(json_extract(i.value, '$.version'), '?'), ', ')
                  FROM json_each(CASE WHEN json_valid(b.images) THEN b.images ELSE '[]' END) i)
        FROM device_boot b ORDER BY b.at_ms;

      -- Requests refused (audit outcome 'refused') that named an enrolled device, counted with the
      -- audit row in the same transaction (journal.ts): "dominion devices" reads them without
      -- scanning the audit log. Seeded from the audit rows kept when this version was installed.
      CREATE TABLE device_refusal (
        device_id   TEXT PRIMARY KEY,
        count       INTEGER NOT NULL CHECK (count > 0),
        last_at_ms  INTEGER NOT NULL,
        last_reason TEXT NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO device_refusal (device_id, count, last_at_ms, last_reason)
        SELECT device_id, count(*), max(at_ms), reason FROM audit
        WHERE outcome = 'refused' AND device_id IN (SELECT device_id FROM device)
        GROUP BY device_id;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The database's schema version (0 for a new, empty database). */
export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Applies every migration above the database's version, up to `target` (default: all). Returns the
 * versions applied. Throws HubStoreError('too-new') for a database from a newer dominion.
 */
export function migrate(db: Database, target: number = SCHEMA_VERSION, migrations: readonly Migration[] = MIGRATIONS): number[] {
  const current = schemaVersion(db);
  const newest = migrations[migrations.length - 1]?.version ?? 0;
  if (current > newest) {
    throw new HubStoreError(
      'too-new',
      `${db.name}: schema version ${current} is newer than this dominion knows (${newest}); use a newer dominion`,
    );
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current || m.version > target) continue;
    // Immediate: two processes opening one new database at once must not both migrate it.
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return; // another process got there first
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
      applied.push(m.version);
    }).immediate();
  }
  return applied;
}
