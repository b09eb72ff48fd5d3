/**
 * Broker failover end to end (docs/ARCHITECTURE.md §7.4, issue 15): two private Mosquitto brokers,
 * the IH and SH subscribed on both (one HubServer per broker on the same hub core), and a device whose
 * link lists them in order, at a deferral of 3 × the interval. The primary is SIGKILLed: mm fails
 * over within `failoverMs` of device time, every instance keeps its tickets (no reset), and mm goes
 * back to the primary once it is up again. Or the primary is SIGSTOPped, its connections left open
 * and silent: mm finds it silent (a request owed its PUBACK for `failoverMs`) and leaves it just the
 * same. Device and link time is a ManualClock; the network is real, so each step awaits its event or
 * log line (bounded) instead of sleeping, and device time moves in steps that wait for the brokers'
 * PUBACKs (test/support/mqtt-fleet.ts).
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Device, DeviceEvent } from '../../actors/device/index.ts';
import { Logger } from '../../actors/log/index.ts';
import { mqttFleet } from '../support/mqtt-fleet.ts';
import { freePort, haveMosquitto, startMosquitto, type TestMosquitto } from '../mqtt/tls-fixture.ts';
import { within } from '../mqtt/wait.ts';
import type { ManualClock } from '../../runtime/index.ts';

const INSTANCES = ['device', 'mm', 'sm:sensor'];

async function mosquitto(dir: string, port: number): Promise<TestMosquitto> {
  const conf = join(dir, `mosquitto-${port}.conf`);
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr'];
  // Run as root, Mosquitto would drop to user "mosquitto", who cannot read our temp directory.
  if (process.getuid?.() === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  return startMosquitto(conf, port, { tls: false });
}

type LogRecord = { at: number; msg: string; broker?: unknown };

/** The link's log on device time, and a bounded wait for a line (from index `from` on). */
function linkLog() {
  const records: LogRecord[] = [];
  const waiters = new Set<() => void>();
  const logger = (clock: ManualClock) =>
    Logger.create({
      component: 'mm test',
      format: 'json',
      level: 'info',
      clock,
      write: (line) => {
        const r = JSON.parse(line) as { msg: string; broker?: unknown };
        records.push({ at: clock.now(), msg: r.msg, broker: r.broker });
        for (const w of waiters) w();
      },
    });
  const logged = (what: string, match: (r: LogRecord) => boolean, from = 0) =>
    within<LogRecord>(
      10_000,
      () => `${what}; log:\n${records.map((r) => JSON.stringify(r)).join('\n')}`,
      (resolve) => {
        const check = (): void => {
          const r = records.slice(from).find(match);
          if (r !== undefined) resolve(r);
        };
        waiters.add(check);
        check();
        return () => void waiters.delete(check);
      },
    );
  return { records, logger, logged };
}

/** Every instance's next ticket, for requests made after now. */
function tickets(device: Device, after: number): Promise<DeviceEvent[]> {
  return Promise.all(
    INSTANCES.map(async (i) => {
      const e = await device.nextEvent((x) => x.type === 'ticket' && x.instance === i && x.deadline > after, 8000);
      if (e === undefined) throw new Error(`timed out waiting for a ticket for ${i}`);
      return e;
    }),
  );
}

test(
  'the primary broker SIGKILLed: mm fails over within failoverMs, no instance resets at D = 3 × I, and it goes back to the primary',
  { skip: haveMosquitto ? false : 'no /usr/sbin/mosquitto' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dominion-failover-'));
    const [p1, p2] = [await freePort(), await freePort()];
    let primary = await mosquitto(dir, p1);
    const backup = await mosquitto(dir, p2);
    const { records, logger, logged } = linkLog();
    const intervalMs = 1000;
    const failoverMs = intervalMs / 2;
    const probeEveryMs = 2 * intervalMs;
    const f = await mqttFleet({
      url: primary.url,
      backups: [backup.url],
      intervalMs,
      deferralMs: 3 * intervalMs,
      hubReconnectMs: 100,
      failover: { failoverMs, probeEveryMs, lingerMs: intervalMs },
      linkLog: logger,
    });
    const { clock, device, links } = f;
    const resets: DeviceEvent[] = [];
    device.onEvent((e) => void (e.type === 'reset' && resets.push(e)));
    try {
      const first = tickets(device, 0);
      device.boot();
      clock.advance(1);
      await first;
      await logged('connected to the primary', (r) => r.msg === 'broker connected' && r.broker === primary.url);

      // The primary dies at device time 1 (SIGKILL: no DISCONNECT, no goodbye).
      const killedAt = clock.now();
      const mark = records.length;
      process.kill(primary.pid, 'SIGKILL');
      await logged('the connection lost', (r) => r.msg === 'broker connection lost; reconnecting', mark);
      clock.advance(failoverMs);
      const moved = await logged(
        'failing over',
        (r) => r.msg.startsWith(`failing over from ${primary.url} to ${backup.url} (connection lost`),
        mark,
      );
      assert.ok(moved.at - killedAt <= failoverMs, `failed over ${moved.at - killedAt} ms of device time after the kill`);
      await logged('connected to the backup', (r) => r.msg === 'broker connected' && r.broker === backup.url, mark);
      assert.equal(links.at(-1)!.currentBroker, backup.url);

      // Rounds on the backup: every instance renewed, round after round, well before any deadline.
      for (let round = 1; round <= 3; round++) {
        const at = clock.now();
        const next = tickets(device, at + 3 * intervalMs - intervalMs);
        await f.advance(intervalMs);
        await next;
      }

      // The primary comes back on its port; mm probes it and goes back, keeping every ticket.
      primary = await mosquitto(dir, p1);
      // The hubs there subscribe again first (each reconnects on its own; until then a request on
      // the primary finds no hub, and the receiver's retry covers it — device time this test does not give).
      const primaryHubs = f.hubs.slice(0, f.hubs.length / 2);
      await within<void>(10_000, "the primary's hubs back online", (resolve) => {
        const check = (): void => void (primaryHubs.every((h) => h.online) && resolve());
        const offs = primaryHubs.map((h) => h.on('online', check));
        check();
        return () => offs.forEach((off) => off());
      });
      const back = records.length;
      const home = logged('back on the primary', (r) => r.msg === `back on primary ${primary.url}`, back);
      for (let round = 0; round < 8 && records.slice(back).every((r) => !r.msg.startsWith('back on primary')); round++) {
        const next = tickets(device, clock.now() + 3 * intervalMs - intervalMs);
        await f.advance(intervalMs);
        await next;
      }
      await home;
      assert.equal(links.at(-1)!.currentBroker, primary.url);
      assert.equal(links.at(-1)!.counters.switchBacks, 1);
      assert.equal(links.at(-1)!.counters.failovers, 1);
      // And tickets keep coming over the primary.
      for (let round = 0; round < 2; round++) {
        const next = tickets(device, clock.now() + 3 * intervalMs - intervalMs);
        await f.advance(intervalMs);
        await next;
      }
      assert.deepEqual(resets, [], 'no reset');
      assert.deepEqual(
        device.status.instances.map((i) => i.expiries),
        [0, 0, 0],
        'no deadline ever passed',
      );
      assert.equal(links.length, 1, 'mm never restarted: the one link failed over and back');
    } finally {
      await f.stop();
      await primary.stop();
      await backup.stop();
    }
  },
);

test(
  'the primary broker SIGSTOPped (connection open, nothing answered): mm leaves it within I + failoverMs of device time, tickets flow on the backup, no reset at D = 3 × I',
  { skip: haveMosquitto ? false : 'no /usr/sbin/mosquitto' },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dominion-silent-'));
    const [p1, p2] = [await freePort(), await freePort()];
    const primary = await mosquitto(dir, p1);
    const backup = await mosquitto(dir, p2);
    const { records, logger, logged } = linkLog();
    const intervalMs = 1000;
    const failoverMs = intervalMs / 2;
    const f = await mqttFleet({
      url: primary.url,
      backups: [backup.url],
      intervalMs,
      deferralMs: 3 * intervalMs,
      // No probe of the stopped primary within the test: this one is about leaving it.
      failover: { failoverMs, probeEveryMs: 60 * intervalMs, lingerMs: intervalMs },
      linkLog: logger,
    });
    const { clock, device, links } = f;
    const resets: DeviceEvent[] = [];
    device.onEvent((e) => void (e.type === 'reset' && resets.push(e)));
    let stopped = false;
    try {
      const first = tickets(device, 0);
      device.boot();
      clock.advance(1);
      await first;
      await logged('connected to the primary', (r) => r.msg === 'broker connected' && r.broker === primary.url);
      // A round on the primary, every PUBACK back: nothing is owed when it stops.
      const steady = tickets(device, clock.now() + 2 * intervalMs);
      await f.advance(intervalMs);
      await steady;
      const link = links.at(-1)!;
      assert.equal(link.owedPubacks, 0);

      const mark = records.length;
      process.kill(primary.pid, 'SIGSTOP');
      stopped = true;
      const stoppedAt = clock.now();
      // Device time on in small steps, with nothing to wait for: the stopped broker answers nothing.
      // The next requests go to it (the connection is open) and are owed their PUBACKs.
      while (link.counters.silences === 0 && clock.now() - stoppedAt <= 2 * intervalMs) clock.advance(10);
      assert.equal(link.counters.silences, 1, 'found silent');
      assert.equal(link.counters.failovers, 1);
      const moved = records.slice(mark).find((r) => r.msg.startsWith('failing over'));
      assert.equal(moved?.msg, `failing over from ${primary.url} to ${backup.url} (broker silent: no PUBACK for ${failoverMs} ms)`);
      const after = moved!.at - stoppedAt;
      assert.ok(after <= intervalMs + failoverMs, `left the silent broker ${after} ms of device time after it stopped`);
      assert.ok(after >= failoverMs, `not before a request was owed its PUBACK for failoverMs (${after} ms)`);

      // Device time stands still while mm connects to the backup; the receiver asks at once there.
      const onBackup = tickets(device, clock.now() + 2 * intervalMs);
      await logged('connected to the backup', (r) => r.msg === 'broker connected' && r.broker === backup.url, mark);
      await onBackup;
      assert.equal(link.currentBroker, backup.url);
      for (let round = 1; round <= 3; round++) {
        const next = tickets(device, clock.now() + 2 * intervalMs);
        await f.advance(intervalMs);
        await next;
      }
      assert.equal(link.counters.failovers, 1, 'the backup answers: it stays');
      assert.deepEqual(resets, [], 'no reset');
      assert.deepEqual(
        device.status.instances.map((i) => i.expiries),
        [0, 0, 0],
        'no deadline ever passed',
      );
    } finally {
      // A stopped process ignores SIGTERM until continued.
      if (stopped) process.kill(primary.pid, 'SIGCONT');
      await f.stop();
      await primary.stop();
      await backup.stop();
    }
  },
);
