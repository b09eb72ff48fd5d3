/**
 * MQTT over TLS (docs/PROTOCOL.md §6.6): URLs, the pinned CA, typed TLS failures, TCP_NODELAY on TLS
 * sockets, a ticket round trip over mqtts, and Mosquitto with the configuration `dominion
 * broker-config` writes (no anonymous clients; a user from mosquitto_passwd gets in).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import tls from 'node:tls';
import {
  awaitConnected,
  connectMqtt,
  isLoopbackHost,
  MqttTlsError,
  MqttUrlError,
  parseBrokerUrl,
  plaintextRefusal,
  probeBroker,
  startEmbeddedBroker,
  type EmbeddedBroker,
} from '../../actors/mqtt/index.ts';
import { demoFleet } from '../../actors/device/index.ts';
import { mqttFleet } from '../support/mqtt-fleet.ts';
import { HubServer } from '../../actors/hub/index.ts';
import { watchNoDelay } from './wait.ts';
import { freePort, haveMosquitto, startMosquitto, tlsMaterial, type TestMosquitto, type TlsMaterial } from './tls-fixture.ts';

const noDelay = watchNoDelay(after);

let pki: TlsMaterial;
let other: TlsMaterial;
before(async () => {
  [pki, other] = await Promise.all([tlsMaterial(), tlsMaterial()]);
});

function tlsError(reason: MqttTlsError['reason']): (err: unknown) => boolean {
  return (err) => err instanceof MqttTlsError && err.reason === reason;
}

describe('broker URLs', () => {
  it('mqtts:// (and ssl://, tls://) is TLS on 8883 by default; mqtt:// and tcp:// plain on 1883', () => {
    assert.deepEqual(parseBrokerUrl('mqtts://broker.example'), { host: 'broker.example', port: 8883, tls: true });
    assert.deepEqual(parseBrokerUrl('ssl://10.0.0.2:9000'), { host: '10.0.0.2', port: 9000, tls: true });
    assert.deepEqual(parseBrokerUrl('tls://[::1]'), { host: '::1', port: 8883, tls: true });
    assert.deepEqual(parseBrokerUrl('mqtt://127.0.0.1'), { host: '127.0.0.1', port: 1883, tls: false });
    for (const bad of ['ws://x', 'wss://x', 'mqtts://u:p@host', 'mqtts://host/path', 'mqtts://:0']) {
      assert.throws(() => parseBrokerUrl(bad), MqttUrlError, bad);
    }
  });

  it('plain MQTT is refused to a host that is not loopback, unless insecure plaintext is asked for', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '[::1]']) {
      assert.equal(isLoopbackHost(host), true, host);
      assert.equal(plaintextRefusal(`mqtt://${host}:1883`, false), undefined, host);
    }
    for (const host of ['10.0.0.2', 'broker.example', '[fd00::1]', '128.0.0.1']) {
      const why = plaintextRefusal(`mqtt://${host}:1883`, false);
      assert.match(why ?? '', /not loopback.*mqtts:\/\/.*dominion broker-config.*--broker-ca.*--insecure-plaintext/s, host);
      assert.equal(plaintextRefusal(`mqtt://${host}:1883`, true), undefined, host);
      assert.equal(plaintextRefusal(`mqtts://${host}`, false), undefined, host);
    }
  });

  it('a CA given for a plain URL is a configuration error, said at once', () => {
    assert.throws(() => connectMqtt('mqtt://127.0.0.1:1', { tls: { ca: pki.ca } }), MqttUrlError);
  });
});

describe('the embedded broker over TLS', () => {
  let broker: EmbeddedBroker;
  before(async () => {
    broker = await startEmbeddedBroker({ tls: { key: pki.key, cert: pki.cert } });
  });
  after(() => broker.close());

  it('listens on mqtts://; a client with the pinned CA connects, TCP_NODELAY on both ends of the TLS connection', async () => {
    assert.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const client = connectMqtt(broker.url, { tls: { ca: pki.ca }, reconnectPeriodMs: 0 });
    try {
      await awaitConnected(client, 5000);
      const socket = client.stream;
      assert.ok(socket instanceof tls.TLSSocket, 'a TLS socket');
      assert.equal(socket.authorized, true, 'the broker certificate verified');
      assert.equal(noDelay.get(socket), true, 'client TLS socket');
      const accepted = [...noDelay.keys()].filter(
        (s) => !(s instanceof tls.TLSSocket) && s.localPort === broker.port && s.remotePort === socket.localPort,
      );
      assert.equal(accepted.length, 1, 'the broker-side TCP socket');
      assert.equal(noDelay.get(accepted[0]!), true);
    } finally {
      await client.endAsync(true);
    }
  });

  it('another CA, another host name or a plain listener: a typed TLS failure, not a silent retry', async () => {
    const errorsBefore = broker.clientErrors();
    const wrongCa = connectMqtt(broker.url, { tls: { ca: other.ca }, reconnectPeriodMs: 50 });
    try {
      await assert.rejects(awaitConnected(wrongCa, 5000), tlsError('untrusted'));
    } finally {
      await wrongCa.endAsync(true);
    }
    await assert.rejects(probeBroker(broker.url, { tls: { ca: other.ca }, timeoutMs: 5000 }), tlsError('untrusted'));
    const wrongName = connectMqtt(broker.url, { tls: { ca: pki.ca, servername: 'broker.invalid' }, reconnectPeriodMs: 0 });
    try {
      await assert.rejects(
        awaitConnected(wrongName, 5000),
        (e: unknown) => tlsError('host-mismatch')(e) && /broker\.invalid/.test(String(e)),
      );
    } finally {
      await wrongName.endAsync(true);
    }
    // Without the pin, the system store does not know our private CA either.
    await assert.rejects(probeBroker(broker.url, { timeoutMs: 5000 }), tlsError('untrusted'));
    assert.ok(broker.clientErrors() > errorsBefore, 'the broker counted the failed handshakes');

    const plain = await startEmbeddedBroker();
    try {
      const c = connectMqtt(plain.url.replace('mqtt:', 'mqtts:'), { tls: { ca: pki.ca }, reconnectPeriodMs: 0 });
      await assert.rejects(awaitConnected(c, 5000), tlsError('handshake'));
      await c.endAsync(true);
    } finally {
      await plain.close();
    }
  });

  it('the ticket loop runs over mqtts: hubs and the device pin the CA', async () => {
    const { hubs, clock, device, links, stop } = await mqttFleet({ url: broker.url, ca: pki.ca });
    try {
      device.boot();
      const tickets = ['device', 'mm', 'sm:sensor'].map((i) =>
        device.nextEvent((e) => e.type === 'ticket' && e.instance === i, 10_000).then((e) => assert.ok(e, `a ticket for ${i} over mqtts`)),
      );
      clock.advance(1);
      await Promise.all(tickets);
      assert.equal(links[0]!.counters.tlsFailures, 0);
      assert.ok(hubs.every((h) => h.stats().tlsFailures === 0 && h.online));
    } finally {
      await stop();
    }
  });

  it('a hub that does not trust the broker refuses to start, saying why', async () => {
    const fleet = demoFleet({ deviceId: 'pi-tls', services: [], deferralMs: 3000, idSuffix: `-${process.pid}` });
    await assert.rejects(
      HubServer.start({ core: fleet.ih.core, brokerUrl: broker.url, tls: { ca: other.ca }, hubId: fleet.ih.id, startTimeoutMs: 5000 }),
      tlsError('untrusted'),
    );
  });
});

describe('Mosquitto with the generated configuration', { skip: haveMosquitto ? false : 'no /usr/sbin/mosquitto' }, () => {
  let mosquitto: TestMosquitto;
  let material: TlsMaterial;
  before(async () => {
    const port = await freePort();
    material = await tlsMaterial(port);
    execFileSync('mosquitto_passwd', ['-b', material.passwd, 'hub-test', 'correct horse']);
    mosquitto = await startMosquitto(material.conf, port);
  });
  after(() => mosquitto?.stop());

  it('refuses anonymous clients (CONNACK: not authorized), even with the right CA', async () => {
    const anonymous = connectMqtt(mosquitto.url, { tls: { ca: material.ca }, reconnectPeriodMs: 0 });
    try {
      await assert.rejects(
        awaitConnected(anonymous, 5000),
        (e: unknown) => !(e instanceof MqttTlsError) && /not authorized/i.test(String(e)),
      );
    } finally {
      await anonymous.endAsync(true);
    }
  });

  it('lets in a user from mosquitto_passwd over TLS with the pinned CA, MQTT 5', async () => {
    const client = connectMqtt(mosquitto.url, {
      tls: { ca: material.ca },
      username: 'hub-test',
      password: 'correct horse',
      protocolVersion: 5,
      reconnectPeriodMs: 0,
    });
    try {
      await awaitConnected(client, 5000);
      assert.ok(client.stream instanceof tls.TLSSocket && client.stream.authorized);
      const wrong = connectMqtt(mosquitto.url, { tls: { ca: material.ca }, username: 'hub-test', password: 'wrong', reconnectPeriodMs: 0 });
      await assert.rejects(awaitConnected(wrong, 5000), /not authorized|bad user name or password/i);
      await wrong.endAsync(true);
    } finally {
      await client.endAsync(true);
    }
  });

  it('a client pinning another CA is refused with the typed error; plain MQTT gets no MQTT answer', async () => {
    const c = connectMqtt(mosquitto.url, { tls: { ca: other.ca }, username: 'hub-test', password: 'correct horse', reconnectPeriodMs: 0 });
    try {
      await assert.rejects(awaitConnected(c, 5000), tlsError('untrusted'));
    } finally {
      await c.endAsync(true);
    }
    const plain = connectMqtt(mosquitto.url.replace('mqtts:', 'mqtt:'), {
      username: 'hub-test',
      password: 'correct horse',
      reconnectPeriodMs: 0,
    });
    try {
      await assert.rejects(awaitConnected(plain, 5000));
      assert.equal(plain.connected, false);
    } finally {
      await plain.endAsync(true);
    }
  });
});
