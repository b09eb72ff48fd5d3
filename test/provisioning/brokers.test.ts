/**
 * The provisioning file's `brokers` (docs/PROTOCOL.md §10.4): an ordered list, the primary first;
 * `broker` alone still reads as one broker; the CLIs check every URL by the one-broker rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProvisioning, provisioningJson, ProvisioningError, type ProvisioningInput } from '../../actors/provisioning/index.ts';
import { chooseBrokers } from '../../cli/broker-options.ts';
import { UsageError } from '../../cli/args.ts';
import { tlsMaterial } from '../mqtt/tls-fixture.ts';

const key = 'ab'.repeat(32);
const base = {
  kind: 'dominion.provisioning',
  version: 1,
  deviceId: 'pi-1',
  deviceKeys: 'pi-1.keys.json',
  hubs: { ih: { id: 'ih-1', publicKey: key }, services: {} },
  enrolled: { device: key },
};
const input: ProvisioningInput = {
  deviceId: 'pi-1',
  deviceKeys: 'pi-1.keys.json',
  ih: { id: 'ih-1', publicKey: new Uint8Array(32) },
  services: {},
  enrolled: [{ instance: 'device', publicKey: new Uint8Array(32) }],
};

test('an old file with "broker" alone is one broker', () => {
  const p = parseProvisioning({ ...base, broker: 'mqtt://127.0.0.1:1883' }, '/x/p.json');
  assert.equal(p.broker, 'mqtt://127.0.0.1:1883');
  assert.deepEqual(p.brokers, ['mqtt://127.0.0.1:1883']);
  assert.deepEqual(parseProvisioning(base, '/x/p.json').brokers, [], 'none named: the device is told on its command line');
});

test('"brokers" lists them in order; "broker" is the first', () => {
  const list = ['mqtt://127.0.0.1:1883', 'mqtt://127.0.0.1:1884', 'mqtt://localhost:1885'];
  const p = parseProvisioning({ ...base, brokers: list }, '/x/p.json');
  assert.deepEqual(p.brokers, list);
  assert.equal(p.broker, list[0]);
  assert.deepEqual(parseProvisioning({ ...base, broker: list[0], brokers: list }, '/x/p.json').brokers, list);
});

test('a bad "brokers" is refused, naming the field', () => {
  const bad: Array<[unknown, unknown, RegExp]> = [
    [undefined, 'mqtt://127.0.0.1', /brokers must be a list/],
    [undefined, [], /brokers must be a list of 1-8/],
    [undefined, Array.from({ length: 9 }, (_, i) => `mqtt://127.0.0.1:${1000 + i}`), /brokers must be a list of 1-8/],
    [undefined, ['mqtt://127.0.0.1:1', 42], /brokers\[1\] must be an mqtt/],
    [undefined, ['mqtt://127.0.0.1:1', 'http://x'], /brokers\[1\]: unusable MQTT broker URL/],
    [undefined, ['mqtt://127.0.0.1:1', 'mqtt://127.0.0.1:1'], /names mqtt:\/\/127\.0\.0\.1:1 twice/],
    ['mqtt://127.0.0.1:2', ['mqtt://127.0.0.1:1', 'mqtt://127.0.0.1:2'], /broker \(mqtt:\/\/127\.0\.0\.1:2\) must be the first of brokers/],
  ];
  for (const [broker, brokers, message] of bad) {
    assert.throws(
      () => parseProvisioning({ ...base, ...(broker !== undefined ? { broker } : {}), brokers }, '/x/p.json'),
      (err: unknown) => err instanceof ProvisioningError && message.test(err.message) && err.message.startsWith('/x/p.json: '),
      String(message),
    );
  }
});

test('a pinned CA needs every broker on TLS', async () => {
  const { ca } = await tlsMaterial();
  const tls = ['mqtts://127.0.0.1:8883', 'mqtts://localhost:8884'];
  assert.deepEqual(parseProvisioning({ ...base, brokers: tls, brokerCa: ca }, '/x/p.json').brokers, tls);
  assert.throws(
    () => parseProvisioning({ ...base, brokers: [tls[0], 'mqtt://127.0.0.1:1883'], brokerCa: ca }, '/x/p.json'),
    /brokerCa pins a TLS broker, but mqtt:\/\/127\.0\.0\.1:1883 is a plain mqtt:\/\/ URL/,
  );
});

test('written: one broker as before, several as "brokers" with "broker" the first, for older readers', () => {
  const one = JSON.parse(provisioningJson({ ...input, brokers: ['mqtt://127.0.0.1:1'] })) as Record<string, unknown>;
  assert.equal(one.broker, 'mqtt://127.0.0.1:1');
  assert.equal(one.brokers, undefined);
  const two = JSON.parse(provisioningJson({ ...input, brokers: ['mqtt://127.0.0.1:1', 'mqtt://127.0.0.1:2'] })) as Record<string, unknown>;
  assert.equal(two.broker, 'mqtt://127.0.0.1:1');
  assert.deepEqual(two.brokers, ['mqtt://127.0.0.1:1', 'mqtt://127.0.0.1:2']);
  assert.deepEqual(parseProvisioning(two, '/x/p.json').brokers, ['mqtt://127.0.0.1:1', 'mqtt://127.0.0.1:2']);
});

test('the CLIs check every --broker by the one-broker rules', async () => {
  const ok = chooseBrokers('enroll', ['mqtt://127.0.0.1:1', 'mqtt://localhost:2'], {});
  assert.deepEqual(ok.urls, ['mqtt://127.0.0.1:1', 'mqtt://localhost:2']);
  assert.equal(ok.url, 'mqtt://127.0.0.1:1');
  const refused = (urls: string[], o: Parameters<typeof chooseBrokers>[2], message: RegExp): void =>
    assert.throws(
      () => chooseBrokers('enroll', urls, o),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
    );
  refused(['mqtt://127.0.0.1:1', 'mqtt://10.0.0.2:1883'], {}, /refusing mqtt:\/\/10\.0\.0\.2:1883 is plain MQTT/);
  assert.equal(chooseBrokers('enroll', ['mqtt://127.0.0.1:1', 'mqtt://10.0.0.2:1883'], { insecurePlaintext: true }).urls.length, 2);
  refused(['mqtt://127.0.0.1:1', 'mqtt://127.0.0.1:1'], {}, /--broker mqtt:\/\/127\.0\.0\.1:1 is given twice/);
  const { ca } = await tlsMaterial();
  refused(['mqtts://127.0.0.1:8883', 'mqtt://127.0.0.1:1883'], { caText: ca }, /is plain MQTT \(use mqtts/);
  const pinned = chooseBrokers('device', ['mqtts://127.0.0.1:8883', 'mqtts://localhost:8884'], { caText: ca });
  assert.equal(pinned.ca, ca);
  assert.equal(pinned.warning, undefined);
  assert.match(chooseBrokers('device', ['mqtts://127.0.0.1:8883'], {}).warning ?? '', /no broker CA pinned/);
});
