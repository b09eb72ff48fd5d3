/**
 * `process` placement end to end: `dominion device` as a real child process runs `sw` and starts the
 * hypervisor as a process of its own, which starts `mm` and the service, each with its domain's heap
 * limit; all of them reach the hubs' tickets over an embedded broker. A VM process killed from
 * outside is recovered by its AWDT, and stopping the device leaves no domain process behind.
 */
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { canIsolateNetwork } from '../../actors/device/process/spawn.ts';
import { awaitConnected, connectMqtt } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { alive, capEffOf, childrenOf, deviceFixture, exitedSoon, reachOf, startDevice, ticketFor, uidOf } from './processes.ts';
import { domainUsers } from '../../actors/device/index.ts';

const fx = deviceFixture('process', 'pi-proc');

/** Readings the sensor publishes, as the broker delivers them. */
async function sensorReadings(brokerUrl: string): Promise<{ next(): Promise<string>; close(): Promise<void> }> {
  const client = connectMqtt(brokerUrl, { clientId: `readings-${process.pid}` });
  await awaitConnected(client);
  await client.subscribeAsync(topics.serviceOut('sensor', 'pi-proc', 'readings'), { qos: 1 });
  const pending: string[] = [];
  let waiting: ((s: string) => void) | undefined;
  client.on('message', (_t, payload: Buffer) => {
    const text = payload.toString('utf8');
    if (waiting !== undefined) {
      const w = waiting;
      waiting = undefined;
      w(text);
    } else pending.push(text);
  });
  return {
    next: () =>
      new Promise<string>((resolve, reject) => {
        const early = pending.shift();
        if (early !== undefined) return resolve(early);
        const timer = setTimeout(() => reject(new Error('no sensor reading reached the broker within 30 s')), 30_000);
        waiting = (t) => {
          clearTimeout(timer);
          resolve(t);
        };
      }),
    close: () => client.endAsync(true),
  };
}

test('process placement: one process per domain with its heap limit; a killed VM process is booted again, a killed hypervisor resets the device; nothing outlives it', async () => {
  const readings = await sensorReadings(fx.hubs.brokerUrl);
  const device = startDevice(fx.built, fx.hubs.provision, join(fx.root, 'data'), { sameUser: !fx.withUsers });
  try {
    await Promise.all(['device', 'mm', 'sm:sensor'].map((i) => device.waitFor(ticketFor(i), `${i} ticket`)));
    assert.ok(device.lines[0]!.includes('(process placement)'), device.lines[0]);
    // The sensor's readings cross its process, the hypervisor's relay and mm's process to the broker.
    await readings.next();

    // The tree: device (sw) → hypervisor → mm, sm:sensor; each with its domain's --max-old-space-size.
    const [hypervisor, ...others] = childrenOf(device.child.pid!);
    assert.equal(others.length, 0, 'sw starts the hypervisor and nothing else');
    assert.ok(hypervisor!.cmdline.includes(`--max-old-space-size=${fx.board.domains.hypervisor.heapMb}`), hypervisor!.cmdline.join(' '));
    assert.ok(hypervisor!.cmdline.includes('domain-host'));
    const vms = childrenOf(hypervisor!.pid);
    assert.equal(vms.length, 2, 'the hypervisor starts mm and the one service');
    assert.deepEqual(vms.map((v) => v.cmdline.at(-1)).sort(), ['mm', 'sm:sensor']);
    const mm = vms.find((v) => v.cmdline.at(-1) === 'mm')!;
    assert.ok(mm.cmdline.includes(`--max-old-space-size=${fx.board.domains.mm.heapMb}`), mm.cmdline.join(' '));

    const sm = vms.find((v) => v.cmdline.at(-1) === 'sm:sensor')!;
    assert.ok(sm.cmdline.includes(`--max-old-space-size=${fx.board.domains.sm.heapMb}`), sm.cmdline.join(' '));

    // The service is confined: Node's permission model (no processes, writes only to its data
    // directory) and, where the OS allows, a network namespace of its own.
    assert.ok(sm.cmdline.includes('--experimental-permission'), sm.cmdline.join(' '));
    assert.ok(
      sm.cmdline.some((a) => a.startsWith('--allow-fs-write=') && a.endsWith('sm-sensor')),
      sm.cmdline.join(' '),
    );
    // (Run from sources, as here, it may read what its user may: tsx probes paths all over. The bundled
    // runner of a board reads only its own file, the artifacts and its data.)
    assert.ok(!mm.cmdline.includes('--experimental-permission'), 'mm needs its network');
    // No domain inherits the device's environment: PATH only, nothing for another domain to read.
    for (const p of [hypervisor!, mm, sm]) {
      const names = readFileSync(`/proc/${p.pid}/environ`, 'utf8')
        .split('\0')
        .filter((e) => e !== '')
        .map((e) => e.split('=')[0]);
      // (TMPDIR only run from sources, for a confined process: tsx's cache, in its own data directory.)
      assert.deepEqual(
        names.filter((n) => n !== 'TMPDIR'),
        ['PATH'],
        `${p.cmdline.at(-1)}'s environment`,
      );
    }
    if (canIsolateNetwork()) {
      assert.notEqual(
        readlinkSync(`/proc/${sm.pid}/ns/net`),
        readlinkSync(`/proc/${hypervisor!.pid}/ns/net`),
        'sm:sensor has a network namespace of its own',
      );
      assert.equal(readlinkSync(`/proc/${mm.pid}/ns/net`), readlinkSync(`/proc/${hypervisor!.pid}/ns/net`));
    }

    // As root, each domain process runs as its own user, and none of them can read, trace or signal
    // sw or a sibling, nor read the device's key file.
    if (fx.withUsers) {
      const users = domainUsers(fx.board);
      assert.equal(uidOf(device.child.pid!), 0, 'sw stays root');
      const procs = { hypervisor: hypervisor!, mm, 'sm:sensor': sm };
      for (const [label, p] of Object.entries(procs))
        assert.equal(uidOf(p.pid), users[label]!.uid, `${label} runs as ${users[label]!.name}`);
      assert.equal(capEffOf(mm.pid), '0000000000000000', 'mm has no capabilities');
      assert.equal(capEffOf(sm.pid), '0000000000000000', 'a service has no capabilities');
      // The hypervisor keeps exactly what starting and stopping VMs as their users takes: kill, setgid, setuid.
      assert.equal(capEffOf(hypervisor!.pid), '00000000000000e0');
      const keyFile = join(fx.root, 'pi-proc.keys.json');
      for (const [label, others] of [
        ['sm:sensor', [mm.pid, hypervisor!.pid]],
        ['mm', [sm.pid, hypervisor!.pid]],
      ] as const) {
        const reach = reachOf(users[label]!.uid, users[label]!.gid, { keyFile, sw: device.child.pid!, others });
        for (const [what, code] of Object.entries(reach)) assert.ok(code === 'EACCES' || code === 'EPERM', `${label}: ${what}: ${code}`);
      }
    }

    // A VM process killed from outside: the hypervisor boots it again from its image, AWDT re-armed.
    process.kill(sm.pid, 'SIGKILL');
    await device.waitFor(
      (l) => l.includes('sm:sensor booted again from its clean image (boot 2) after its process was killed by SIGKILL'),
      'sm:sensor reboot',
    );
    await device.waitFor(ticketFor('sm:sensor'), 'a ticket for the rebooted sm:sensor');
    assert.ok(!device.lines.some((l) => l.includes('DEVICE RESET')), `a VM failure does not reset the device: ${device.lines.join(' | ')}`);
    const rebooted = childrenOf(hypervisor!.pid);
    assert.equal(rebooted.length, 2);
    assert.ok(!rebooted.some((v) => v.pid === sm.pid));

    // The hypervisor process dies: sw resets the whole device at once, and it boots again.
    process.kill(hypervisor!.pid, 'SIGKILL');
    await device.waitFor((l) => /DEVICE RESET: CHECK_FAILED — the hypervisor process was killed by SIGKILL/.test(l), 'a device reset');
    await device.waitFor((l) => l.includes('boot #2'), 'the second boot');
    await device.waitFor(ticketFor('device'), 'a device ticket after the reset');
    const [hypervisor2] = childrenOf(device.child.pid!);
    assert.ok(hypervisor2 !== undefined && hypervisor2.pid !== hypervisor!.pid);
    for (const v of rebooted) assert.ok(!alive(v.pid) || (await exitedSoon(v.pid)), `VM process ${v.pid} went with its hypervisor`);

    // Stopping the device stops every domain process.
    const all = [hypervisor2.pid, ...childrenOf(hypervisor2.pid).map((v) => v.pid)];
    device.child.kill('SIGTERM');
    assert.equal(await device.exited, 0);
    for (const pid of all) await exitedSoon(pid); // they exit when their parent's socket closes
    assert.deepEqual(all.filter(alive), [], 'no domain process outlives the device');
  } finally {
    if (device.child.exitCode === null) device.child.kill('SIGKILL');
    await readings.close();
  }
});
