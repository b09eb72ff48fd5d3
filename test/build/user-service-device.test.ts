/**
 * The door counter (examples/door-counter), built from outside the tree, run as `dominion up
 * --service` runs it: its SH, whose policy is what `dominion digest --policy` printed for the
 * release, grants it tickets — so the actor digest printed is the one the hub compares. The sensor's
 * SH, given the door counter's digest for its actor, withholds: the check is live.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RealClock } from '../../runtime/index.ts';
import { defaultDeferralMs, type DeviceEvent } from '../../actors/device/index.ts';
import { startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import { BrokerAuthorizer } from '../../actors/broker-auth/index.ts';
import { parsePolicyDocument } from '../../actors/hub/index.ts';
import { setFleetPolicy } from '../../actors/hub/sqlite/index.ts';
import { PROJECT_ROOT } from '../../build/index.ts';
import { stageServiceImages } from '../../build/service-module.ts';
import { digestCommand } from '../../cli/digest.ts';
import { startSqliteFleet } from '../../cli/up-hubs.ts';
import { startUpDevice } from '../../cli/up-device.ts';
import { within } from '../mqtt/wait.ts';
import { tempDir } from './support.ts';

const DOOR = join(PROJECT_ROOT, 'examples', 'door-counter', 'door-counter.ts');

test('a device running an out-of-tree service gets its SH tickets under the policy dominion digest printed', async () => {
  const root = tempDir('user-service-device');
  const intervalMs = 500;
  const auth = new BrokerAuthorizer();
  const broker = await startEmbeddedBroker({ port: 0, auth });
  const staged = stageServiceImages([{ name: 'door-counter', module: DOOR }], PROJECT_ROOT);
  const sqlite = await startSqliteFleet({
    dir: root,
    brokerUrl: broker.url,
    deviceId: `pi-door-${process.pid}`,
    services: ['sensor', 'door-counter'],
    deferralMs: defaultDeferralMs(intervalMs),
    onAccounts: (users) => auth.replaceUsers(users),
  });
  try {
    const device = await startUpDevice({
      dir: join(root, 'releases'),
      sqlite,
      url: broker.url,
      intervalMs,
      dataDir: join(root, 'device'),
      clock: new RealClock(),
      log: () => {},
      extraServices: { names: ['door-counter'], serviceImages: staged.serviceImages },
    });
    try {
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => assert.fail(l) };
      assert.equal(await digestCommand(['--artifacts', join(root, 'releases', 'release-1', 'sim'), '--policy'], io), 0);
      const doc = parsePolicyDocument(JSON.parse(out.join('\n')));
      const door = doc.instances!['sm:door-counter']!;
      assert.deepEqual(door.imageDigests?.length, 1);
      const shOf = (id: string) => sqlite.hubs.find((h) => h.status().hubId === id)!.store.db;
      setFleetPolicy(shOf('sh-door-counter'), { instances: { 'sm:door-counter': door } });
      setFleetPolicy(shOf('sh-sensor'), {
        // The door counter's image pinned for the sensor: the image check tells them apart in every placement.
        instances: { 'sm:sensor': { deferralMs: door.deferralMs, allowedActors: ['sensor'], imageDigests: door.imageDigests! } },
      });

      const seen = (what: string, pred: (e: DeviceEvent) => boolean) =>
        within<DeviceEvent>(60_000, what, (resolve) => device.onEvent((e) => (pred(e) ? resolve(e) : undefined)));
      const ticket = seen('a ticket for sm:door-counter', (e) => e.type === 'ticket' && e.instance === 'sm:door-counter');
      const withheld = seen('sm:sensor withheld', (e) => e.type === 'withheld' && e.instance === 'sm:sensor');
      const doorWithheld: DeviceEvent[] = [];
      device.onEvent((e) => (e.type === 'withheld' && e.instance === 'sm:door-counter' ? void doorWithheld.push(e) : undefined));
      device.boot();
      await ticket;
      // The sensor's image is reported and checked (so the door counter's is, by the same hypervisor).
      const w = await withheld;
      assert.ok(w.type === 'withheld' && /is not one the policy allows/.test(w.detail), JSON.stringify(w));
      let renewals = 0;
      await seen(
        'three more tickets for sm:door-counter',
        (e) => e.type === 'ticket' && e.instance === 'sm:door-counter' && ++renewals === 3,
      );
      assert.deepEqual(doorWithheld, []);
    } finally {
      device.shutdown();
    }
  } finally {
    await sqlite.stop();
    await broker.close();
    staged.remove();
    rmSync(root, { recursive: true, force: true });
  }
});
