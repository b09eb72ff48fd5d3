/**
 * TLS from the operator's side (docs/PROTOCOL.md §6.6, §10.4): `dominion broker-config` writes a CA,
 * a server certificate and a Mosquitto configuration; `dominion enroll --broker-ca` pins the CA in
 * the provisioning file, which accepts and refuses as specified; hubs and enrolment refuse plain MQTT
 * to a host that is not loopback (without ever connecting to it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokerConfigCommand } from '../../cli/broker-config.ts';
import { enrollCommand } from '../../cli/enroll.ts';
import { hubCommand } from '../../cli/hub.ts';
import { keysCommand } from '../../cli/keys.ts';
import { UsageError, type CliIo } from '../../cli/options.ts';
import { loadProvisioning, ProvisioningError } from '../../actors/hub/index.ts';
import { tempDir } from '../hub/fixtures.ts';

function capture(): CliIo & { text(): string } {
  const all: string[] = [];
  return { out: (l) => void all.push(l), err: (l) => void all.push(l), text: () => all.join('\n') };
}

async function brokerConfig(dir: string): Promise<void> {
  const io = capture();
  const user = process.getuid?.() === 0 ? ['--user', 'root'] : [];
  const code = await brokerConfigCommand(['--out', dir, '--host', 'broker.example,10.0.0.2', '--port', '18883', ...user], io);
  assert.equal(code, 0, io.text());
  assert.match(io.text(), /dominion enroll … --broker mqtts:\/\/broker\.example:18883 --broker-ca .*ca\.crt/);
}

/** keys → enroll, with the broker options given. */
async function enroll(dir: string, broker: string[]): Promise<{ code: number; text: string; provision: string }> {
  const k = join(dir, 'keys');
  const quiet = capture();
  assert.equal(await keysCommand(['new', '--device', 'pi-9', '--services', 'sensor', '--out', k], quiet), 0);
  assert.equal(await keysCommand(['new', '--hub', 'ih-1', '--role', 'ih', '--out', k], quiet), 0);
  assert.equal(await keysCommand(['new', '--hub', 'sh-sensor', '--role', 'sh', '--service', 'sensor', '--out', k], quiet), 0);
  const provision = join(dir, 'pi-9.provision.json');
  const io = capture();
  const code = await enrollCommand(
    [
      ...['--device', join(k, 'pi-9.pub.json')],
      ...['--hub', `${join(k, 'ih-1.pub.json')}=${join(dir, 'ih.db')}`],
      ...['--hub', `${join(k, 'sh-sensor.pub.json')}=${join(dir, 'sh.db')}`],
      ...['--out', provision, ...broker],
    ],
    io,
  );
  return { code, text: io.text(), provision };
}

describe('dominion broker-config', () => {
  it('writes a CA, a server certificate for the hosts, keys 0600, and a TLS-only Mosquitto configuration', async () => {
    const dir = tempDir('dominion-broker-');
    await brokerConfig(dir);
    for (const key of ['ca.key', 'server.key', 'passwd', 'acl']) assert.equal(statSync(join(dir, key)).mode & 0o777, 0o600, key);
    const conf = readFileSync(join(dir, 'mosquitto.conf'), 'utf8');
    for (const line of [
      'listener 18883',
      `cafile ${join(dir, 'ca.crt')}`,
      `certfile ${join(dir, 'server.crt')}`,
      `keyfile ${join(dir, 'server.key')}`,
      'tls_version tlsv1.2',
      'set_tcp_nodelay true',
      'allow_anonymous false',
      `password_file ${join(dir, 'passwd')}`,
      `acl_file ${join(dir, 'acl')}`,
      'per_listener_settings false',
      'persistence false',
    ])
      assert.ok(conf.split('\n').includes(line), line);
    assert.ok(conf.indexOf('per_listener_settings') < conf.indexOf('listener 18883'));
    const { X509Certificate } = await import('node:crypto');
    const server = new X509Certificate(readFileSync(join(dir, 'server.crt')));
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    assert.equal(server.subjectAltName, 'DNS:broker.example, IP Address:10.0.0.2');
    assert.ok(server.verify(ca.publicKey) && server.checkIssued(ca) && ca.ca && !server.ca);
    assert.equal(server.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('never overwrites a CA key: a second run in the same directory is refused and changes nothing', async () => {
    const dir = tempDir('dominion-broker-');
    await brokerConfig(dir);
    const before = readFileSync(join(dir, 'ca.key'));
    const io = capture();
    assert.equal(await brokerConfigCommand(['--out', dir, '--host', 'other.example'], io), 1);
    assert.match(io.text(), /ca\.key exists: refusing to make a new CA/);
    assert.deepEqual(readFileSync(join(dir, 'ca.key')), before);
    await assert.rejects(brokerConfigCommand(['--out', dir], capture()), UsageError);
    const bad = capture();
    assert.equal(await brokerConfigCommand(['--out', tempDir('dominion-broker-'), '--host', 'bad host!'], bad), 1);
    assert.match(bad.text(), /neither a DNS name nor an IP address/);
  });
});

describe('the broker CA in provisioning', () => {
  it('dominion enroll --broker-ca pins it; the device loads it back', async () => {
    const dir = tempDir('dominion-enroll-');
    await brokerConfig(join(dir, 'broker'));
    const r = await enroll(dir, ['--broker', 'mqtts://broker.example:18883', '--broker-ca', join(dir, 'broker', 'ca.crt')]);
    assert.equal(r.code, 0, r.text);
    assert.match(r.text, /broker CA pinned/);
    const p = loadProvisioning(r.provision);
    assert.equal(p.broker, 'mqtts://broker.example:18883');
    assert.equal(p.brokerCa, readFileSync(join(dir, 'broker', 'ca.crt'), 'utf8'));
  });

  it('refuses a CA for a plain broker, a server certificate or a key as the CA, and garbage', async () => {
    const dir = tempDir('dominion-enroll-');
    await brokerConfig(join(dir, 'broker'));
    const good = await enroll(dir, ['--broker', 'mqtts://broker.example', '--broker-ca', join(dir, 'broker', 'ca.crt')]);
    assert.equal(good.code, 0, good.text);
    const doc = JSON.parse(readFileSync(good.provision, 'utf8')) as Record<string, unknown>;
    const path = join(dir, 'changed.json');
    const refused = (change: (d: Record<string, unknown>) => void, pattern: RegExp): void => {
      const d = structuredClone(doc);
      change(d);
      writeFileSync(path, JSON.stringify(d));
      assert.throws(
        () => loadProvisioning(path),
        (e: unknown) => e instanceof ProvisioningError && pattern.test(e.message),
        String(pattern),
      );
    };
    refused((d) => (d.broker = 'mqtt://127.0.0.1:1883'), /brokerCa pins a TLS broker, but broker is a plain mqtt:\/\/ URL/);
    refused((d) => (d.brokerCa = readFileSync(join(dir, 'broker', 'server.crt'), 'utf8')), /is not a CA certificate/);
    refused((d) => (d.brokerCa = readFileSync(join(dir, 'broker', 'ca.key'), 'utf8')), /holds a private key/);
    refused((d) => (d.brokerCa = 'hello'), /no PEM certificate/);
    refused((d) => (d.brokerCa = 42), /brokerCa must be PEM text/);
    // A public-CA broker may go without a pin (the system store); a plain loopback broker needs none.
    for (const change of [
      (d: Record<string, unknown>) => delete d.brokerCa,
      (d: Record<string, unknown>) => void ((d.broker = 'mqtt://127.0.0.1:1883'), delete d.brokerCa),
    ]) {
      const d = structuredClone(doc);
      change(d);
      writeFileSync(path, JSON.stringify(d));
      assert.equal(loadProvisioning(path).brokerCa, undefined);
    }
    await assert.rejects(
      enroll(tempDir('dominion-enroll-'), ['--broker', 'mqtt://127.0.0.1:1883', '--broker-ca', join(dir, 'broker', 'ca.crt')]),
      (e: unknown) => e instanceof UsageError && /a broker CA pins a TLS broker/.test(e.message),
    );
  });
});

describe('plain MQTT off the machine is refused', () => {
  const refusal =
    /refusing mqtt:\/\/10\.0\.0\.2:1883 is plain MQTT to 10\.0\.0\.2, which is not loopback.*dominion broker-config.*--insecure-plaintext/s;

  it('by dominion hub, before it opens a database or a connection', async () => {
    const dir = tempDir('dominion-hub-');
    await assert.rejects(
      hubCommand(['--role', 'ih', '--id', 'ih-1', '--broker', 'mqtt://10.0.0.2:1883', '--db', join(dir, 'ih.db'), '--init'], capture()),
      (e: unknown) => e instanceof UsageError && refusal.test(e.message),
    );
    assert.equal(existsSync(join(dir, 'ih.db')), false, 'no database made');
  });

  it('by dominion enroll; --insecure-plaintext records it; loopback is plain by default', async () => {
    await assert.rejects(
      enroll(tempDir('dominion-enroll-'), ['--broker', 'mqtt://10.0.0.2:1883']),
      (e: unknown) => e instanceof UsageError && refusal.test(e.message),
    );
    const insecure = await enroll(tempDir('dominion-enroll-'), ['--broker', 'mqtt://10.0.0.2:1883', '--insecure-plaintext']);
    assert.equal(insecure.code, 0, insecure.text);
    assert.equal(loadProvisioning(insecure.provision).broker, 'mqtt://10.0.0.2:1883');
    const loopback = await enroll(tempDir('dominion-enroll-'), ['--broker', 'mqtt://127.0.0.1:1883']);
    assert.equal(loopback.code, 0, loopback.text);
    const unpinned = await enroll(tempDir('dominion-enroll-'), ['--broker', 'mqtts://broker.example']);
    assert.equal(unpinned.code, 0, unpinned.text);
    assert.match(unpinned.text, /WARNING: no broker CA pinned/);
  });
});
