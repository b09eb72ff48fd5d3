/** A fresh PostgreSQL schema per test (DATABASE_URL), dropped after; tests skip without DATABASE_URL. */
import type { TestContext } from 'node:test';
import pg from 'pg';
import { hex, randomNonce } from '../../../actors/crypto/index.ts';
import { IH_ROLE } from '../../../actors/hub/index.ts';
import { pgEnrollKeys, pgSetFleetPolicy, PgHubStore, type PgHubStoreOptions } from '../../../actors/hub/postgres/index.ts';
import { ihRules, newDevice, node, type DeviceKeys } from '../fixtures.ts';
import type { CliIo } from '../../../cli/options.ts';

export const keyIdOf = (publicKey: Uint8Array): Uint8Array => node.verifier(publicKey).keyId;

export const DATABASE_URL = process.env.DATABASE_URL;

/** Skips the test (saying why) when no database is configured; returns the URL otherwise. */
export function needDatabase(t: TestContext): string | undefined {
  if (DATABASE_URL === undefined) t.skip('DATABASE_URL is not set (a PostgreSQL database for the PostgreSQL hub tests)');
  return DATABASE_URL;
}

/** A new empty schema, dropped (with everything in it) when the test ends. */
export async function freshSchema(t: TestContext, url: string): Promise<string> {
  const schema = `t_${hex(randomNonce(6))}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  t.after(async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA ${schema} CASCADE`);
    await c.end();
  });
  return schema;
}

export interface PgIhFixture {
  readonly url: string;
  readonly schema: string;
  readonly store: PgHubStore;
  readonly dev: DeviceKeys;
  /** Another worker's store on the same schema. */
  worker(options?: Partial<PgHubStoreOptions>): Promise<PgHubStore>;
}

/** An IH schema with the ihRules() fleet policy and one enrolled device, and a first worker's store. */
export async function pgIhFixture(t: TestContext, url: string, options: Partial<PgHubStoreOptions> = {}): Promise<PgIhFixture> {
  const schema = await freshSchema(t, url);
  const identity = { hubId: 'ih-pg', role: IH_ROLE };
  const stores: PgHubStore[] = [];
  const worker = async (o: Partial<PgHubStoreOptions> = {}): Promise<PgHubStore> => {
    const s = await PgHubStore.open({ url, schema, identity, ...options, ...o });
    stores.push(s);
    return s;
  };
  const store = await worker({ init: true });
  t.after(async () => {
    for (const s of stores) await s.close();
  });
  const dev = newDevice();
  const ready = changeApplied(
    store,
    () =>
      store.view.deviceState(dev.deviceId) === 'active' &&
      store.view.keyById(keyIdOf(dev.mm.publicKey)) !== undefined &&
      store.snapshot.fleetPolicy() !== undefined,
    'enrolment and fleet policy',
  );
  await pgSetFleetPolicy(store.pool, ihRules());
  await pgEnrollKeys(store.pool, dev.deviceId, [
    { instance: 'device', publicKey: dev.device.publicKey },
    { instance: 'mm', publicKey: dev.mm.publicKey },
  ]);
  await ready; // the NOTIFYs of both changes reached the first worker
  return { url, schema, store, dev, worker };
}

/** Resolves when `store` applied a change for which `done` is true; rejects after `ms`. */
export function changeApplied(store: PgHubStore, done: () => boolean, what: string, ms = 1000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (done()) return resolve();
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${what}: not applied within ${ms} ms`));
    }, ms);
    const off = store.onChange(() => {
      if (!done()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** The database URL with a schema as its search_path: what an operator would pass to --db. */
export function schemaUrl(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/** A CLI's output and errors, line by line. */
export function captureIo(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => void lines.push(l), err: (l) => void errors.push(l) };
}
