/**
 * What mm's MQTT link logs (issue 14): an unreachable broker is a warning naming the broker and why,
 * rate-limited while it keeps retrying; reaching it is "connected"; losing it "lost", with the
 * reason; coming back "restored". Real Aedes broker, no sleeps: each step waits for its line.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MqttHubLink, type HubLinkSink } from '../../actors/mm/index.ts';
import { Logger } from '../../actors/log/index.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../actors/mqtt/index.ts';
import { ManualClock } from '../../runtime/index.ts';
import { within } from '../mqtt/wait.ts';

type Rec = Record<string, unknown>;

const sink: HubLinkSink = { reply: () => {}, service: () => {}, connection: () => {}, writable: () => {} };

test('mm logs an unreachable broker (rate-limited), then connected, lost and restored', async () => {
  // A port nothing listens on: a broker started and closed again.
  const probe = await startEmbeddedBroker();
  const port = probe.port;
  await probe.close();
  const records: Rec[] = [];
  const waiters = new Set<() => void>();
  const clock = new ManualClock(Date.parse('2026-12-01T10:00:00.000Z'));
  const log = Logger.create({
    component: 'mm d-1',
    format: 'json',
    clock,
    write: (l) => {
      records.push(JSON.parse(l) as Rec);
      for (const w of waiters) w();
    },
  });
  const lineWith = (msg: string, after = 0): Promise<Rec> =>
    within<Rec>(
      10_000,
      () => `"${msg}"; log:\n${records.map((r) => JSON.stringify(r)).join('\n')}`,
      (resolve) => {
        const check = (): void => {
          const r = records.slice(after).find((x) => x.msg === msg);
          if (r !== undefined) resolve(r);
        };
        waiters.add(check);
        check();
        return () => void waiters.delete(check);
      },
    );
  const url = `mqtt://127.0.0.1:${port}`;
  const link = new MqttHubLink({ url, deviceId: 'd-1', services: [], username: 'd-1', password: 'not-logged' }, log);
  let broker: EmbeddedBroker | undefined;
  try {
    link.start(sink);
    const unreachable = await lineWith('broker unreachable; still reconnecting');
    assert.equal(unreachable.level, 'warn');
    assert.equal(unreachable.broker, url);
    assert.match(String(unreachable.reason), /ECONNREFUSED/);
    // It keeps retrying (one attempt a second) without a line each: the next one waits for the window.
    const retries = link.counters.connects;
    assert.equal(retries, 0);
    broker = await startEmbeddedBroker({ port });
    const connected = await lineWith('broker connected');
    assert.equal(connected.level, 'info');
    assert.equal(
      records.filter((r) => r.msg === 'broker unreachable; still reconnecting').length,
      1,
      'retries within the window are counted, not logged',
    );
    const mark = records.length;
    await broker.close();
    const lost = await lineWith('broker connection lost; reconnecting', mark);
    assert.equal(lost.level, 'warn');
    broker = await startEmbeddedBroker({ port });
    await lineWith('broker connection restored', mark);
    assert.ok(!records.some((r) => JSON.stringify(r).includes('not-logged')), 'the broker password is never logged');
  } finally {
    link.close();
    await broker?.close();
  }
});
