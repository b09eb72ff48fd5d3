/**
 * `dominion watch` (README "Service data is sealed"): over a broker with the project's ACLs, the
 * service hub's credential reads its service's data; a reading sealed with the device's K_SM is
 * printed as a reading, one sealed with another key on the same device's topic is printed as forged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ManualClock, writeFrame, FRAME_HEADER_BYTES } from '../../runtime/index.ts';
import { hubUsername } from '../../actors/broker-auth/index.ts';
import { generateSecretKey } from '../../actors/crypto/index.ts';
import { serviceSealer } from '../../actors/hypervisor/index.ts';
import { toBuffer } from '../../actors/mqtt/index.ts';
import { writeBrokerCredentialFile } from '../../actors/provisioning/index.ts';
import { lite, serviceChannel, topics } from '../../proto/index.ts';
import { watchCommand } from '../../cli/watch.ts';
import { aclFleet, as, embeddedBroker } from '../broker-auth/fleet.ts';

/** The MQTT messages the hypervisor would hand mm for one reading, sealed with `key`. */
function sealedReading(deviceId: string, key: Uint8Array, text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const sealer = serviceSealer({
    contract: serviceChannel('sensor'),
    deviceId,
    service: 'sensor',
    boot: 1,
    key,
    clock: new ManualClock(0),
    toMm: (frame) => {
      out.push(lite.serviceFrame.decode(frame.subarray(FRAME_HEADER_BYTES)).payload);
      return 'ok';
    },
  });
  const body = lite.serviceFrame.encode({ stream: 'readings', payload: new TextEncoder().encode(text) });
  sealer.fromService(writeFrame(new Uint8Array(FRAME_HEADER_BYTES + body.length), 0, body));
  return out; // a quiet stream is sealed at once: the record, then its seal
}

test('dominion watch prints verified readings and calls a reading sealed with another key forged', async () => {
  const f = aclFleet();
  const broker = await embeddedBroker(f);
  const credential = join(f.dir, 'sh-sensor.broker.json');
  writeBrokerCredentialFile(credential, { username: hubUsername('sh-sensor'), password: f.passwords.get(hubUsername('sh-sensor'))! });
  const out: string[] = [];
  const err: string[] = [];
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  const io = { out: (l: string) => out.push(l), err: (l: string) => (err.push(l), l.includes('verifying') && listening()) };
  const abort = new AbortController();
  const run = watchCommand(
    ['--service', 'sensor', '--db', f.shDb, '--broker', broker.url, '--broker-credential', credential, '--count', '1'],
    io,
    abort.signal,
  );
  const device = await as(broker.url, f, f.d1.deviceId);
  try {
    await Promise.race([ready, run.then((code) => Promise.reject(new Error(`watch exited ${code}: ${err.join('\n')}`)))]);
    const topic = topics.serviceOut('sensor', f.d1.deviceId, 'readings');
    // Someone holding the device's broker credential but not its K_SM (a compromised mm, say).
    for (const m of sealedReading(f.d1.deviceId, generateSecretKey(), '{"celsius":99}'))
      await device.publishAsync(topic, toBuffer(m), { qos: 1 });
    for (const m of sealedReading(f.d1.deviceId, f.d1.services.sensor!, '{"celsius":21.5}'))
      await device.publishAsync(topic, toBuffer(m), { qos: 1 });
    assert.equal(await run, 0, err.join('\n'));
  } finally {
    abort.abort();
    device.end(true);
    await broker.stop();
  }
  assert.ok(
    out.some((l) => l.startsWith(`FORGED ${f.d1.deviceId} readings`)),
    `the forged reading is called forged:\n${out.join('\n')}`,
  );
  assert.ok(out.includes(`${f.d1.deviceId} readings #1 {"celsius":21.5}`), `the genuine reading is printed:\n${out.join('\n')}`);
  // (the payload itself: device ids and digests are random hex and may hold "99")
  assert.ok(!out.some((l) => l.includes('"celsius":99')), 'the forged reading is never printed as a reading');
  assert.match(err.at(-1)!, /1 verified, \d+ forged/);
});
