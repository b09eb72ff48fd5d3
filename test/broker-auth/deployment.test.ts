/**
 * The transport as an operator deploys it (README "Securing the transport"): `dominion broker-config`'s
 * TLS material and mosquitto.conf, `dominion broker-sync`'s passwd and acl in the same directory, a
 * real Mosquitto started with that configuration, and a SQLite IH and a device that each pin the CA
 * and present their own credential. Each layer is checked on its own elsewhere (test/mqtt/tls.test.ts,
 * acl.test.ts); this checks that they fit together.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cryptoBackend } from '../../actors/crypto/index.ts';
import { syncBrokerFiles } from '../../actors/hub/index.ts';
import { MqttTlsError, toBuffer, type MqttClient } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { nextMessage } from '../mqtt/wait.ts';
import { freePort, haveMosquitto, startMosquitto, tlsMaterial, type TestMosquitto, type TlsMaterial } from '../mqtt/tls-fixture.ts';
import { deviceRuntime, openReply, signedRequest } from '../hub/fixtures.ts';
import { aclFleet, as, startIh, type AclFleet } from './fleet.ts';

describe('the deployed transport: generated TLS config, synced identities, real Mosquitto', { skip: !haveMosquitto }, () => {
  let f: AclFleet;
  let material: TlsMaterial;
  let broker: TestMosquitto;
  const clients: MqttClient[] = [];
  const track = (c: MqttClient): MqttClient => (clients.push(c), c);

  before(async () => {
    f = aclFleet();
    const port = await freePort();
    material = await tlsMaterial(port);
    // broker-sync writes into the directory broker-config made: its mosquitto.conf names these files.
    syncBrokerFiles({ dbs: [f.ihDb, f.shDb], outDir: material.dir });
    broker = await startMosquitto(material.conf, port);
  });
  after(async () => {
    for (const c of clients) c.end(true);
    await broker?.stop();
  });

  it('refuses a client without a credential, and one that does not pin the CA', async () => {
    await assert.rejects(as(broker.url, f, undefined, undefined, { ca: material.ca }), /not authorized|refused/i);
    // Right credential, but the broker's certificate checked against the system store: not trusted.
    await assert.rejects(as(broker.url, f, f.d1.deviceId), (err: unknown) => err instanceof MqttTlsError && err.reason === 'untrusted');
  });

  it('a device with its credential and the pinned CA gets its ticket from a SQLite IH over TLS', async () => {
    const hub = await startIh(f, broker.url, { ca: material.ca });
    try {
      const id = f.d1.deviceId;
      const dev = track(await as(broker.url, f, id, undefined, { ca: material.ca }));
      await dev.subscribeAsync(topics.replySubscription(id), { qos: 1 });
      const req = signedRequest(cryptoBackend('node').signer(f.d1.device), id, 'device', deviceRuntime());
      const reply = nextMessage(dev, 'the ticket reply', (m) => m.topic === topics.reply(id, 'device'));
      await dev.publishAsync(topics.hubRequest('ih-1', id), toBuffer(req.bytes), { qos: 1 });
      assert.equal(openReply((await reply).payload, f.ih.publicKey).outcome.case, 'ticket');
    } finally {
      await hub.stop();
    }
  });
});
