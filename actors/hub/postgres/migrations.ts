/**
 * The PostgreSQL hub schema (docs/ARCHITECTURE.md §7.4): the same tables and meaning as SQLite's
 * (sqlite/migrations.ts), in PostgreSQL types, plus `answered_nonce` (the cross-worker replay log,
 * replay-window.ts). Forward-only like SQLite's; `schema_version` holds the migrations applied, and
 * a transaction-scoped advisory lock keeps two workers started at once from both migrating.
 *
 * Never edit a migration that has shipped; add a new one.
 */
import { HubStoreError } from '../sqlite/errors.ts';
import { inTransaction, type PgPool, type PgQueryable } from './connect.ts';

export interface PgMigration {
  readonly version: number;
  readonly summary: string;
  readonly sql: string;
}

/**
 * The tables a worker's registry snapshot reads (registry-snapshot.ts): writing one moves config_version.
 * Frozen as migration 6 made them: a table added later gets its trigger in its own migration.
 */
const OPERATOR_TABLES = ['device', 'device_key', 'operator_hold', 'fleet_policy', 'rollout', 'release'] as const;

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    summary: 'registry, keys, policy, holds, activity and deadlines, audit, answered nonces, boots, releases, rollouts, credentials',
    sql: `
      CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
      CREATE TABLE device (
        device_id      text PRIMARY KEY,
        state          text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'quarantined', 'revoked')),
        state_reason   text,
        policy         text,
        enrolled_at_ms bigint NOT NULL,
        updated_at_ms  bigint NOT NULL
      );
      CREATE TABLE device_key (
        device_id      text NOT NULL REFERENCES device (device_id),
        instance       text NOT NULL,
        public_key     bytea NOT NULL CHECK (length(public_key) = 32),
        key_id         bytea NOT NULL UNIQUE,
        enrolled_at_ms bigint NOT NULL,
        PRIMARY KEY (device_id, instance)
      );
      CREATE TABLE fleet_policy (id integer PRIMARY KEY CHECK (id = 1), policy text NOT NULL, version integer NOT NULL);
      CREATE TABLE operator_hold (
        device_id text NOT NULL,
        instance  text NOT NULL,
        kind      text NOT NULL CHECK (kind IN ('withhold', 'update')),
        detail    text NOT NULL,
        at_ms     bigint NOT NULL,
        PRIMARY KEY (device_id, instance, kind)
      );
      CREATE TABLE instance_activity (
        device_id          text NOT NULL,
        instance           text NOT NULL,
        last_request_at_ms bigint,
        last_outcome       text,
        last_reason        text,
        last_ticket_at_ms  bigint,
        last_deferral_ms   bigint,
        state              text,
        deadline_ms        bigint,
        expired            boolean NOT NULL DEFAULT false,
        slots              text,
        recovery           boolean,
        PRIMARY KEY (device_id, instance)
      );
      CREATE INDEX instance_activity_due ON instance_activity (deadline_ms) WHERE NOT expired AND deadline_ms IS NOT NULL;

      -- Append-only: updates refused; deletes only by retention (not implemented on PostgreSQL yet).
      CREATE TABLE audit (
        seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at_ms       bigint NOT NULL,
        hub_id      text,
        outcome     text NOT NULL,
        reason      text NOT NULL,
        detail      text,
        device_id   text,
        instance    text,
        deferral_ms bigint,
        ref         text
      );
      CREATE INDEX audit_at ON audit (at_ms);
      CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();

      -- Answered requests of the replay window, one row each, written with their batch: the unique
      -- key is what makes two workers answering one request (a redelivery) visible (replay-window.ts).
      CREATE TABLE answered_nonce (
        device_id text NOT NULL,
        instance  text NOT NULL,
        nonce     bytea NOT NULL,
        at_ms     bigint NOT NULL,
        PRIMARY KEY (device_id, instance, nonce)
      );
      CREATE INDEX answered_nonce_at ON answered_nonce (at_ms);

      CREATE TABLE device_boot (
        device_id        text PRIMARY KEY,
        at_ms            bigint NOT NULL,
        boot_count       bigint,
        firmware_version text NOT NULL,
        manifest_digest  bytea NOT NULL,
        images           text NOT NULL,
        outcome          text NOT NULL,
        reason           text NOT NULL
      );
      CREATE TABLE release (
        board           text NOT NULL,
        label           text NOT NULL,
        version         bigint NOT NULL CHECK (version > 0),
        issued_at_ms    bigint NOT NULL,
        manifest        bytea NOT NULL,
        manifest_sig    bytea NOT NULL,
        bundle          bytea NOT NULL,
        bundle_sha512   bytea NOT NULL CHECK (length(bundle_sha512) = 64),
        bundle_bytes    bigint NOT NULL CHECK (bundle_bytes = length(bundle)),
        published_at_ms bigint NOT NULL,
        UNIQUE (board, label, version)
      );
      CREATE TABLE rollout (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        instance       text NOT NULL,
        release        bigint NOT NULL CHECK (release > 0),
        board          text,
        target         text NOT NULL,
        percent        integer NOT NULL CHECK (percent BETWEEN 1 AND 100),
        max_rollbacks  integer NOT NULL CHECK (max_rollbacks >= 1),
        state          text NOT NULL CHECK (state IN ('active', 'halted', 'superseded')),
        failures       integer NOT NULL DEFAULT 0,
        halt_reason    text,
        halted_at_ms   bigint,
        started_at_ms  bigint NOT NULL,
        updated_at_ms  bigint NOT NULL,
        UNIQUE (instance, release)
      );
      CREATE UNIQUE INDEX rollout_current ON rollout (instance) WHERE state IN ('active', 'halted');
      CREATE TABLE broker_credential (username text PRIMARY KEY, password_hash text NOT NULL, updated_at_ms bigint NOT NULL);
    `,
  },
  {
    version: 2,
    summary: 'audit retention: what pruned audit rows said, counted per UTC day, device, outcome and reason',
    sql: `
      -- As SQLite's migration 6 (sqlite/migrations.ts): rows may leave the audit log, never uncounted.
      CREATE TABLE audit_summary (
        day         text NOT NULL,
        device_id   text NOT NULL,
        outcome     text NOT NULL,
        reason      text NOT NULL,
        count       bigint NOT NULL CHECK (count > 0),
        first_at_ms bigint NOT NULL,
        last_at_ms  bigint NOT NULL,
        PRIMARY KEY (day, device_id, outcome, reason)
      );
      CREATE FUNCTION audit_summarise() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO audit_summary (day, device_id, outcome, reason, count, first_at_ms, last_at_ms)
          VALUES (to_char(to_timestamp(old.at_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), coalesce(old.device_id, ''),
                  old.outcome, old.reason, 1, old.at_ms, old.at_ms)
          ON CONFLICT (day, device_id, outcome, reason) DO UPDATE SET
            count = audit_summary.count + 1,
            first_at_ms = least(audit_summary.first_at_ms, excluded.first_at_ms),
            last_at_ms = greatest(audit_summary.last_at_ms, excluded.last_at_ms);
        RETURN old;
      END $$;
      CREATE TRIGGER audit_delete_summarised AFTER DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_summarise();
    `,
  },
  {
    version: 3,
    summary: 'device history: a row per reported boot or change of a device instance (as SQLite migration 7)',
    sql: `
      -- Written with each batch (pg-history.ts), the newest HISTORY_KEEP kept per (device, instance).
      CREATE TABLE device_history (
        seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id        text NOT NULL,
        instance         text NOT NULL,
        at_ms            bigint NOT NULL,
        hub_id           text,
        source           text NOT NULL CHECK (source IN ('boot-request', 'runtime')),
        boot_count       bigint,
        reset_reason     text,
        firmware_version text,
        images           text
      );
      -- A device's rows (dominion history), a key's latest row (the journal), the trim per (device, instance).
      CREATE INDEX device_history_device ON device_history (device_id, instance, seq);
      -- The dashboard's resets since an instant.
      CREATE INDEX device_history_resets ON device_history (at_ms)
        WHERE instance = 'device' AND source = 'runtime' AND reset_reason IS NOT NULL;
    `,
  },
  {
    version: 4,
    summary: "refusal counts per device and the staged rollouts' counted failures (as SQLite migrations 7 and 4)",
    sql: `
      -- Requests refused (audit outcome 'refused') that named an enrolled device, counted with the
      -- audit rows in the batch's transaction (pg-journal.ts, postgres/refusals.ts): "dominion devices"
      -- reads them without scanning the audit log. Seeded from the audit rows kept at this version.
      CREATE TABLE device_refusal (
        device_id   text PRIMARY KEY,
        count       bigint NOT NULL CHECK (count > 0),
        last_at_ms  bigint NOT NULL,
        last_reason text NOT NULL
      );
      INSERT INTO device_refusal (device_id, count, last_at_ms, last_reason)
        SELECT device_id, count(*), max(at_ms), (array_agg(reason ORDER BY seq DESC))[1] FROM audit
        WHERE outcome = 'refused' AND device_id IN (SELECT device_id FROM device)
        GROUP BY device_id;

      -- One row per cohort device counted towards a rollout's halt (its first ROLLED_BACK or FAILED
      -- report of the release), written with the report's batch (postgres/rollout-counter.ts).
      CREATE TABLE rollout_failure (
        rollout_id   bigint NOT NULL REFERENCES rollout (id),
        device_id    text NOT NULL,
        update_state text NOT NULL,
        at_ms        bigint NOT NULL,
        PRIMARY KEY (rollout_id, device_id)
      );
    `,
  },
  {
    version: 5,
    summary: 'devices indexed in byte order (device_id COLLATE "C"), the order SQLite and the dashboard keep',
    sql: `
      -- The dashboard's start-up scan pages through the fleet in byte order (dashboard/pg-source.ts);
      -- the primary key's index is in the database's collation, which serves that order only when
      -- the collation is "C" itself (not C.UTF-8, not en_US): without this index, every page was a
      -- scan of the whole table and a sort. Written on enrolment only: tickets never write device.
      CREATE INDEX device_id_bytes ON device (device_id COLLATE "C");
    `,
  },
  {
    version: 6,
    summary: 'one-statement batch commits; a config version that every change of the operator state moves',
    sql: `
      -- pg-journal.ts commits a common batch (nonces, audit rows, activity) as ONE statement, atomic on
      -- its own: one round trip where a transaction takes five. That statement must not keep any of
      -- its rows when another worker answered one of its nonces first (those decisions become refused
      -- "replayed", their replies withheld), so it ends by calling this, which aborts it; the worker
      -- then commits the batch in a transaction that sorts the replays out.
      CREATE FUNCTION dominion_require_all_new(inserted bigint, expected bigint) RETURNS boolean
        LANGUAGE plpgsql AS $$
      BEGIN
        IF inserted <> expected THEN
          RAISE EXCEPTION 'dominion: % of % nonces of this batch were answered by another worker', expected - inserted, expected
            USING ERRCODE = 'DM001';
        END IF;
        RETURN true;
      END $$;

      -- What a worker keeps in memory (registry-snapshot.ts) changes only through these tables. Every
      -- transaction that writes one moves config_version as it commits, so a worker's periodic safety
      -- net is one read of it, and a whole reload (about a second of CPU at 100,000 devices) only when
      -- it moved. Transactional, so the version and the change become visible together.
      CREATE TABLE config_version (id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL);
      INSERT INTO config_version VALUES (1, 1);
      CREATE FUNCTION dominion_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- Once per transaction, at its commit (the triggers are deferred): the row is locked only for
        -- that instant, so operator changes in concurrent transactions do not wait on each other.
        IF current_setting('dominion.config_changed', true) IS DISTINCT FROM txid_current()::text THEN
          PERFORM set_config('dominion.config_changed', txid_current()::text, true);
          UPDATE config_version SET version = version + 1 WHERE id = 1;
        END IF;
        RETURN NULL;
      END $$;
${OPERATOR_TABLES.map(
  (t) => `      CREATE CONSTRAINT TRIGGER ${t}_config_changed AFTER INSERT OR UPDATE OR DELETE ON ${t}
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dominion_config_changed();`,
).join('\n')}
    `,
  },
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]!.version;

/** The schema's version: 0 when the hub tables are not there at all. */
export async function pgSchemaVersion(db: PgQueryable): Promise<number> {
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('schema_version')::text AS t");
  if (exists.rows[0]?.t === null || exists.rows[0]?.t === undefined) return 0;
  const r = await db.query<{ v: number | null }>('SELECT max(version)::bigint AS v FROM schema_version');
  return r.rows[0]?.v ?? 0;
}

/** Applies the missing migrations (each with its version row, one transaction); returns those applied. */
export async function migratePg(pool: PgPool, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number[]> {
  return inTransaction(pool, async (client) => {
    // One migrating worker at a time; the others wait here, then find nothing left to do.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('dominion-hub-migrate:' || current_schema()))");
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, summary text NOT NULL, at_ms bigint NOT NULL)',
    );
    const current = await pgSchemaVersion(client);
    const newest = migrations[migrations.length - 1]?.version ?? 0;
    if (current > newest)
      throw new HubStoreError('too-new', `schema version ${current} is newer than this dominion knows (${newest}); use a newer dominion`);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO schema_version (version, summary, at_ms) VALUES ($1, $2, $3)', [m.version, m.summary, Date.now()]);
      applied.push(m.version);
    }
    return applied;
  });
}

/** Refuses a database without the hub schema (a clear error naming what to do), or one too new. */
export async function requirePgSchema(db: PgQueryable, where: string): Promise<void> {
  const version = await pgSchemaVersion(db);
  if (version === 0)
    throw new HubStoreError('missing', `${where}: no dominion hub schema here; create it with "dominion hub --init --db postgres://…"`);
  if (version > PG_SCHEMA_VERSION)
    throw new HubStoreError('too-new', `${where}: schema version ${version} is newer than this dominion knows (${PG_SCHEMA_VERSION})`);
  if (version < PG_SCHEMA_VERSION)
    throw new HubStoreError('not-a-hub-db', `${where}: schema version ${version} is old; start one hub with --init to migrate it`);
}
