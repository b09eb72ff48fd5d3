/**
 * mm's link and a broker that keeps its connection open but stops answering (docs/ARCHITECTURE.md
 * §7.4): with a backup, a request owed its PUBACK for `failoverMs` of device time, nothing heard
 * meanwhile, moves the link on at once — counted, logged with the reason, the receiver told the link
 * is down and then up on the backup. A broker that is slow with a request but keeps answering other
 * traffic is not left. A lone broker is not watched (keep-alive's business). Brokers: the raw test
 * broker (test/support/raw-broker.ts), which can go silent; link time: a ManualClock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MqttHubLink, type HubLinkSink } from '../../actors/mm/index.ts';
import { Logger } from '../../actors/log/index.ts';
import { ManualClock } from '../../runtime/index.ts';
import { startRawBroker, type RawBroker } from '../support/raw-broker.ts';
import { within } from '../mqtt/wait.ts';

const REQUEST = new Uint8Array([1, 2, 3]);

/** Polls `ok` (real time, bounded): the network's answers, never device time. */
function until(what: string | (() => string), ok: () => boolean): Promise<void> {
  return within<void>(10_000, what, (resolve) => {
    const t = setInterval(() => ok() && resolve(), 2);
    if (ok()) resolve();
    return () => clearInterval(t);
  });
}

function harness(brokers: RawBroker[]) {
  const clock = new ManualClock();
  const lines: Array<{ at: number; msg: string; reason?: string }> = [];
  const log = Logger.create({
    component: 'mm test',
    format: 'json',
    level: 'info',
    clock,
    write: (line) => void lines.push({ at: clock.now(), ...(JSON.parse(line) as { msg: string; reason?: string }) }),
  });
  const ups: boolean[] = [];
  const sink: HubLinkSink = { reply: () => {}, service: () => {}, connection: (up) => void ups.push(up), writable: () => {} };
  const link = new MqttHubLink(
    {
      url: brokers[0]!.url,
      backups: brokers.slice(1).map((b) => b.url),
      deviceId: 'pi-silent',
      services: ['sensor'],
      failoverMs: 500,
      intervalMs: 1000,
    },
    log,
    clock,
  );
  link.start(sink);
  return { clock, lines, ups, link, isUp: () => ups.at(-1) === true };
}

test('a silent broker: mm moves to the backup failoverMs after the request it swallowed, and requests flow there', async () => {
  const a = await startRawBroker();
  const b = await startRawBroker();
  const { clock, lines, ups, link, isUp } = harness([a, b]);
  try {
    await until('up on broker A', isUp);
    // An answering broker: the PUBACK clears the request, and device time may pass.
    link.publishRequest('ih-1', REQUEST, 'ticket');
    await until('the PUBACK', () => a.publishes.length === 1 && link.owedPubacks === 0);
    clock.advance(5000);
    assert.equal(link.counters.silences, 0);

    a.silent = true; // SIGSTOP, as far as the link can tell: the connection stays open
    link.publishRequest('ih-1', REQUEST, 'ticket');
    assert.equal(link.owedPubacks, 1);
    clock.advance(499);
    assert.equal(link.counters.failovers, 0, 'not before failoverMs');
    clock.advance(1);
    assert.equal(link.counters.silences, 1);
    assert.equal(link.counters.failovers, 1);
    assert.equal(ups.at(-1), false, 'the receiver hears the link is down');
    const moved = lines.find((l) => l.msg.startsWith('failing over'));
    assert.deepEqual(moved && { at: moved.at, msg: moved.msg }, {
      at: 5500,
      msg: `failing over from ${a.url} to ${b.url} (broker silent: no PUBACK for 500 ms)`,
    });
    assert.equal(link.owedPubacks, 0, 'what was owed on A went with it');

    await until('up on broker B', isUp);
    assert.equal(link.currentBroker, b.url);
    link.publishRequest('ih-1', REQUEST, 'ticket');
    await until('the request on B, acknowledged', () => b.publishes.length === 1 && link.owedPubacks === 0);
    clock.advance(5000);
    assert.equal(link.counters.failovers, 1, 'B answers: it stays');
  } finally {
    link.close();
    await a.close();
    await b.close();
  }
});

test('a broker slow with a request but answering other traffic is not left; once it goes quiet, it is', async () => {
  const a = await startRawBroker();
  const b = await startRawBroker();
  const { clock, link, isUp } = harness([a, b]);
  try {
    await until('up on broker A', isUp);
    // The request waits (as behind a backlog on a slow link) while service data is acknowledged.
    a.swallow = (topic) => topic.includes('/request/');
    link.publishRequest('ih-1', REQUEST, 'ticket');
    for (let i = 1; i <= 10; i++) {
      clock.advance(400);
      assert.equal(link.publishService('sensor', 'readings', new Uint8Array(10)), true);
      await until(`service message ${i} acknowledged`, () => link.serviceInflightBytes === 0);
    }
    assert.equal(link.owedPubacks, 1, 'the request is still owed its PUBACK, 4 s on');
    assert.equal(link.counters.silences, 0, 'but the broker was never quiet for failoverMs');
    clock.advance(499);
    assert.equal(link.counters.silences, 0);
    clock.advance(1);
    assert.equal(link.counters.silences, 1, 'quiet for failoverMs after the last PUBACK heard: silent');
    await until('up on broker B', () => isUp() && link.currentBroker === b.url);
  } finally {
    link.close();
    await a.close();
    await b.close();
  }
});

test('a lone silent broker is not watched: no failover to make, keep-alive notices', async () => {
  const a = await startRawBroker();
  const { clock, ups, link, isUp } = harness([a]);
  try {
    await until('up', isUp);
    a.silent = true;
    link.publishRequest('ih-1', REQUEST, 'ticket');
    assert.equal(link.owedPubacks, 0);
    clock.advance(60_000);
    assert.equal(link.counters.silences, 0);
    assert.deepEqual(ups, [true]);
    assert.equal(clock.pending(), 0, 'no timer of the watch');
  } finally {
    link.close();
    await a.close();
  }
});
