/**
 * Broker failover end to end (docs/ARCHITECTURE.md §7.4, issue 15): two private Mosquitto brokers,
 * the IH and SH subscribed on both (one HubServer per broker on the same hub core), and a device whose
 * link lists them in order, at a deferral of 3 × the interval. The primary is SIGKILLed: mm fails
 * over within `failoverMs` of device time, every instance keeps its tickets (no reset), and mm goes
 * back to the primary once it is up again. Device and link time is a ManualClock; the network is real,
 * so each step awaits its event or log line (bounded) instead of sleeping.
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

const INSTANCES = ['device', 'mm', 'sm:sensor'];

async function mosquitto(dir: string, port: number): Promise<TestMosquitto> {
  const conf = join(dir, `mosquitto-${port}.conf`);
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr'];
  // Run as root, Mosquitto would drop to user "mosquitto", who cannot read our temp directory.
  if (process.getuid?.() === 0) lines.push('user root');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  return startMosquitto(conf, port, { tls: false });
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
    const records: Array<{ at: number; msg: string; broker?: unknown }> = [];
    const waiters = new Set<() => void>();
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
      linkLog: (clock) =>
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
        }),
    });
    const { clock, device, links } = f;
    const logged = (what: string, match: (r: { msg: string; broker?: unknown }) => boolean, from = 0) =>
      within<{ at: number; msg: string }>(
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
