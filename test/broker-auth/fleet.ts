/**
 * A fleet for the broker ACL tests, set up as an operator would: hub key files with broker
 * credentials, two devices enrolled (each with its own credential), an IH database and an SH one.
 * Brokers: a private Mosquitto fed by `dominion broker-sync`'s files, or the embedded Aedes with the
 * same accounts in a `BrokerAuthorizer`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BrokerAuthorizer, hashPassword, hubUsername, newBrokerPassword } from '../../actors/broker-auth/index.ts';
import { openHubDatabase, setFleetPolicy } from '../../actors/hub/sqlite/index.ts';
import {
  collectBrokerAccounts,
  SqliteHub,
  devicePublicKeys,
  enrollDevice,
  IH_ROLE,
  newDeviceKeys,
  newHubKey,
  serviceHubRole,
  syncBrokerFiles,
  type HubKeyPair,
} from '../../actors/hub/index.ts';
import { awaitConnected, connectMqtt, startEmbeddedBroker, type MqttClient, type MqttTlsOptions } from '../../actors/mqtt/index.ts';
import type { DeviceKeyFile } from '../../actors/provisioning/index.ts';
import { freePort } from '../../bench/mosquitto.ts';
import { startMosquitto } from '../mqtt/tls-fixture.ts';
import { tempDir, uniqueId } from '../hub/fixtures.ts';

export interface AclFleet {
  readonly dir: string;
  readonly ihDb: string;
  readonly shDb: string;
  readonly ih: HubKeyPair;
  readonly sh: HubKeyPair;
  readonly d1: DeviceKeyFile;
  readonly d2: DeviceKeyFile;
  /** username → password */
  readonly passwords: ReadonlyMap<string, string>;
}

export function aclFleet(): AclFleet {
  const dir = tempDir('dominion-acl-');
  const passwords = new Map<string, string>();
  const withCredential = (k: HubKeyPair): HubKeyPair => {
    const password = newBrokerPassword();
    passwords.set(hubUsername(k.hubId), password);
    return { ...k, brokerPasswordHash: hashPassword(password) };
  };
  const ih = withCredential(newHubKey('ih-1', IH_ROLE));
  const sh = withCredential(newHubKey('sh-sensor', serviceHubRole('sensor')));
  const ihDb = join(dir, 'ih-1.db');
  const shDb = join(dir, 'sh-sensor.db');
  const devices = [uniqueId('d1'), uniqueId('d2')].map((id) => {
    const keys = newDeviceKeys(id, ['sensor']);
    const password = newBrokerPassword();
    passwords.set(id, password);
    enrollDevice({
      device: devicePublicKeys(keys),
      hubs: [
        { hub: ih, dbPath: ihDb },
        { hub: sh, dbPath: shDb },
      ],
      deviceKeys: `${id}.keys.json`,
      brokerCredential: { passwordHash: hashPassword(password), file: `${id}.broker.json` },
    });
    return keys;
  });
  return { dir, ihDb, shDb, ih, sh, d1: devices[0]!, d2: devices[1]!, passwords };
}

export interface TestBroker {
  readonly name: string;
  readonly url: string;
  /** Rereads the accounts from the databases (Mosquitto: broker-sync and SIGHUP). */
  reload(): void;
  /** The broker's pid (Mosquitto only), for the CLI's --broker-pid. */
  readonly pid?: number;
  stop(): Promise<void>;
}

export async function embeddedBroker(f: AclFleet): Promise<TestBroker> {
  const auth = new BrokerAuthorizer(collectBrokerAccounts([f.ihDb, f.shDb]).users);
  const broker = await startEmbeddedBroker({ auth });
  return {
    name: 'Aedes',
    url: broker.url,
    reload: () => auth.replaceUsers(collectBrokerAccounts([f.ihDb, f.shDb]).users),
    stop: () => broker.close(),
  };
}

/** Mosquitto 2.0 on a free loopback port: plain listener, no anonymous clients, the synced files. */
export async function mosquittoBroker(f: AclFleet): Promise<TestBroker> {
  syncBrokerFiles({ dbs: [f.ihDb, f.shDb], outDir: f.dir });
  const port = await freePort();
  const conf = join(f.dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${join(f.dir, 'passwd')}`,
    `acl_file ${join(f.dir, 'acl')}`,
    'persistence false',
    'log_dest stderr',
  ];
  // Run as root, Mosquitto would drop to user "mosquitto", who cannot read our temp directory.
  if (process.getuid?.() === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const mosquitto = await startMosquitto(conf, port, { tls: false });
  return {
    name: 'Mosquitto',
    url: mosquitto.url,
    pid: mosquitto.pid,
    reload: () => void syncBrokerFiles({ dbs: [f.ihDb, f.shDb], outDir: f.dir, pid: mosquitto.pid }),
    stop: () => mosquitto.stop(),
  };
}

/** A connected MQTT 3.1.1 client as `username` (its password from the fleet), no reconnects; `tls` for an mqtts:// URL. */
export async function as(
  url: string,
  f: AclFleet,
  username: string | undefined,
  password?: string,
  tls?: MqttTlsOptions,
): Promise<MqttClient> {
  const client = connectMqtt(url, {
    ...(tls !== undefined ? { tls } : {}),
    protocolVersion: 4,
    reconnectPeriodMs: 0,
    refusedRetryMs: 0,
    connectTimeoutMs: 5000,
    ...(username !== undefined ? { username, password: password ?? f.passwords.get(username)! } : {}),
  });
  try {
    await awaitConnected(client, 5000);
  } catch (err) {
    client.end(true);
    throw err;
  }
  return client;
}

/**
 * Publishes with QoS 1 and resolves once the broker has dealt with it: its PUBACK (Mosquitto acks a
 * refused publish on MQTT 3.1.1 and drops it) or the connection closing (Aedes closes it).
 */
export function attempt(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve) => {
    client.once('close', () => resolve());
    client.publish(topic, payload, { qos: 1 }, () => resolve());
  });
}

/** The fleet's IH as a SQLite hub on `url`, with its own broker credential and a fleet policy granting tickets. */
export async function startIh(f: AclFleet, url: string, tls?: MqttTlsOptions): Promise<SqliteHub> {
  const db = openHubDatabase(f.ihDb);
  setFleetPolicy(db, { default: { deferralMs: 60_000 } });
  db.close();
  return SqliteHub.start({
    role: f.ih.role,
    hubId: 'ih-1',
    brokerUrl: url,
    ...(tls !== undefined ? { brokerTls: tls } : {}),
    dbPath: f.ihDb,
    signer: f.ih.signer,
    credential: { username: hubUsername('ih-1'), password: f.passwords.get(hubUsername('ih-1'))! },
  });
}
