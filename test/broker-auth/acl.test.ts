/**
 * Broker identities and ACLs end to end (docs/ARCHITECTURE.md §7.1), on a real Mosquitto fed by
 * `dominion broker-sync` and on the embedded Aedes with the same rule table and hashes.
 *
 * "Nothing arrives" is checked deterministically: the forbidden publish is sent and settled (PUBACK,
 * or the connection closed), then an allowed marker is published; the privileged subscriber must
 * see the marker and nothing before it (a broker delivers to one subscriber in order).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cryptoBackend } from '../../actors/crypto/index.ts';
import { hubUsername } from '../../actors/broker-auth/index.ts';
import { changeDeviceState, openHubDatabase } from '../../actors/hub/sqlite/index.ts';
import { toBuffer, type MqttClient } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { stateCommand } from '../../cli/operator.ts';
import { nextMessage, within, type Received } from '../mqtt/wait.ts';
import { deviceRuntime, signedRequest, openReply } from '../hub/fixtures.ts';
import { aclFleet, as, attempt, embeddedBroker, mosquittoBroker, startIh, type AclFleet, type TestBroker } from './fleet.ts';

const clients: MqttClient[] = [];
after(() => clients.forEach((c) => c.end(true)));
const track = (c: MqttClient): MqttClient => (clients.push(c), c);

/** Every message `sub` gets from now on. */
function record(sub: MqttClient): Received[] {
  const got: Received[] = [];
  sub.on('message', (topic, payload, packet) => got.push({ topic, payload, packet }));
  return got;
}

/** Runs `forbidden`, then `marker`; asserts `sub` receives the marker and nothing before it. */
async function onlyMarker(sub: MqttClient, forbidden: () => Promise<void>, marker: () => Promise<void>): Promise<void> {
  const got = record(sub);
  const markerSeen = nextMessage(sub, 'the marker', (m) => m.payload.toString() === 'marker');
  await forbidden();
  await marker();
  await markerSeen;
  assert.deepEqual(
    got.map((m) => `${m.topic} ${m.payload.toString()}`).filter((s) => !s.endsWith(' marker')),
    [],
    'nothing but the marker arrived',
  );
}

async function refused(url: string, f: AclFleet, username: string | undefined, password?: string): Promise<string> {
  try {
    track(await as(url, f, username, password));
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`${username ?? 'anonymous'} was let in`);
}

for (const start of [mosquittoBroker, embeddedBroker]) {
  describe(`broker ACLs on ${start === mosquittoBroker ? 'Mosquitto (password_file, acl_file)' : 'Aedes (the same rules in its hooks)'}`, () => {
    let f: AclFleet;
    let broker: TestBroker;
    const d = (): { d1: string; d2: string } => ({ d1: f.d1.deviceId, d2: f.d2.deviceId });

    it('starts', async () => {
      f = aclFleet();
      broker = await start(f);
    });
    after(() => broker?.stop());

    it('refuses anonymous clients and wrong passwords; admits enrolled devices and hubs', async () => {
      assert.match(await refused(broker.url, f, undefined), /refused|Not authorized|not authorized|Bad/i);
      assert.match(await refused(broker.url, f, d().d1, 'A'.repeat(43)), /refused/i);
      assert.match(await refused(broker.url, f, hubUsername('ih-2'), 'A'.repeat(43)), /refused/i);
      track(await as(broker.url, f, d().d1));
      track(await as(broker.url, f, hubUsername('ih-1')));
    });

    it("a device cannot publish on another device's request topic", async () => {
      const hub = track(await as(broker.url, f, hubUsername('ih-1')));
      await hub.subscribeAsync(topics.hubRequestSubscription('ih-1'), { qos: 1 });
      const dev = track(await as(broker.url, f, d().d1));
      await onlyMarker(
        hub,
        () => attempt(dev, topics.hubRequest('ih-1', d().d2), 'forbidden'),
        async () =>
          void (await track(await as(broker.url, f, d().d1)).publishAsync(topics.hubRequest('ih-1', d().d1), 'marker', { qos: 1 })),
      );
    });

    it("a device cannot publish another device's service data", async () => {
      const sh = track(await as(broker.url, f, hubUsername('sh-sensor')));
      await sh.subscribeAsync('dominion/v1/service/sensor/+/+', { qos: 1 });
      const dev = track(await as(broker.url, f, d().d1));
      await onlyMarker(
        sh,
        () => attempt(dev, topics.serviceOut('sensor', d().d2, 'readings'), 'forbidden'),
        async () =>
          void (await track(await as(broker.url, f, d().d1)).publishAsync(topics.serviceOut('sensor', d().d1, 'readings'), 'marker', {
            qos: 1,
          })),
      );
    });

    it('a device cannot publish on any reply topic, its own included', async () => {
      const d2 = track(await as(broker.url, f, d().d2));
      await d2.subscribeAsync(topics.replySubscription(d().d2), { qos: 1 });
      const d1 = track(await as(broker.url, f, d().d1));
      const d2self = track(await as(broker.url, f, d().d2));
      const ih = track(await as(broker.url, f, hubUsername('ih-1')));
      await onlyMarker(
        d2,
        async () => {
          await attempt(d1, topics.reply(d().d2, 'device'), 'forbidden');
          await attempt(d2self, topics.reply(d().d2, 'mm'), 'forbidden');
        },
        async () => void (await ih.publishAsync(topics.reply(d().d2, 'device'), 'marker', { qos: 1 })),
      );
    });

    it("a device cannot read another device's replies", async () => {
      const d1 = track(await as(broker.url, f, d().d1));
      await d1.subscribeAsync(topics.replySubscription(d().d1), { qos: 1 });
      // Aedes refuses the subscription (SUBACK 0x80, MQTT.js rejects); Mosquitto grants it and delivers nothing.
      const other = await d1.subscribeAsync(topics.replySubscription(d().d2), { qos: 1 }).then(
        () => 'granted',
        (err: Error) => err.message,
      );
      assert.ok(broker.name === 'Mosquitto' ? other === 'granted' : /Subscribe error/.test(other), other);
      const ih = track(await as(broker.url, f, hubUsername('ih-1')));
      await onlyMarker(
        d1,
        async () => void (await ih.publishAsync(topics.reply(d().d2, 'device'), 'forbidden', { qos: 1 })),
        async () => void (await ih.publishAsync(topics.reply(d().d1, 'device'), 'marker', { qos: 1 })),
      );
    });

    it('a hub cannot publish replies for a role it does not have', async () => {
      const d1 = track(await as(broker.url, f, d().d1));
      await d1.subscribeAsync(topics.replySubscription(d().d1), { qos: 1 });
      const sh = track(await as(broker.url, f, hubUsername('sh-sensor')));
      const ih = track(await as(broker.url, f, hubUsername('ih-1')));
      await onlyMarker(
        d1,
        async () => {
          await attempt(sh, topics.reply(d().d1, 'device'), 'forbidden'); // the IH's instance
          await attempt(ih, topics.reply(d().d1, 'sm:sensor'), 'forbidden'); // the SH's instance
        },
        async () =>
          void (await track(await as(broker.url, f, hubUsername('sh-sensor'))).publishAsync(topics.reply(d().d1, 'sm:sensor'), 'marker', {
            qos: 1,
          })),
      );
    });

    it('the ticket loop works with credentials: a SQLite IH answers a device on its own topics', async () => {
      const hub = await startIh(f, broker.url);
      try {
        const dev = track(await as(broker.url, f, d().d1));
        await dev.subscribeAsync(topics.replySubscription(d().d1), { qos: 1 });
        const signer = cryptoBackend('node').signer(f.d1.device);
        const req = signedRequest(signer, d().d1, 'device', deviceRuntime());
        const reply = nextMessage(dev, 'the ticket reply', (m) => m.topic === topics.reply(d().d1, 'device'));
        await dev.publishAsync(topics.hubRequest('ih-1', d().d1), toBuffer(req.bytes), { qos: 1 });
        const opened = openReply((await reply).payload, f.ih.publicKey);
        assert.equal(opened.outcome.case, 'ticket');
      } finally {
        await hub.stop();
      }
    });

    it('a revoked device is refused after the sync and reload; the others stay', async () => {
      track(await as(broker.url, f, d().d1));
      if (broker.pid !== undefined) {
        // The operator's way: revoke on the IH's database and sync the broker in the same command.
        const out: string[] = [];
        const code = await stateCommand('revoke')(
          [d().d1, '--db', f.ihDb, '--broker-dir', f.dir, '--broker-db', f.shDb, '--broker-pid', String(broker.pid)],
          { out: (l) => out.push(l), err: (l) => out.push(l) },
        );
        assert.equal(code, 0, out.join('\n'));
      } else {
        const db = openHubDatabase(f.ihDb);
        changeDeviceState(db, d().d1, 'revoke');
        db.close();
        broker.reload();
      }
      // Mosquitto rereads its files when it handles the SIGHUP: wait for that, bounded.
      await within<void>(10_000, 'the revoked device to be refused', (resolve) => {
        let stop = false;
        void (async () => {
          while (!stop) {
            try {
              track(await as(broker.url, f, d().d1));
              await new Promise((r) => setTimeout(r, 50));
            } catch {
              resolve();
              return;
            }
          }
        })();
        return () => void (stop = true);
      });
      track(await as(broker.url, f, d().d2));
    });
  });
}

describe('credential files', () => {
  it('the IH database keeps only hashes: its own account and its devices (the SH keeps only its own)', () => {
    const f = aclFleet();
    const db = openHubDatabase(f.ihDb);
    const rows = db.prepare('SELECT username, password_hash FROM broker_credential').all() as Array<{
      username: string;
      password_hash: string;
    }>;
    db.close();
    for (const r of rows) assert.ok(!r.password_hash.includes(f.passwords.get(r.username)!), 'only the hash is stored');
    assert.deepEqual(rows.map((r) => r.username).sort(), [f.d1.deviceId, f.d2.deviceId, hubUsername('ih-1')].sort());
  });
});
