/**
 * `split` placement end to end (the placement of boards too small for a process per domain): `sw`
 * alone in the `dominion device` process, the hypervisor, `mm` and the service together in a second
 * process with their summed heap limit, every instance dominated (in that process the VMs run as in
 * `single` placement, test/build/load.test.ts); the second process dying resets the device; nothing
 * outlives it. A real watchdog is never allowed in `single` placement.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateBoard, loadBoard } from '../../boards/index.ts';
import {
  alive,
  allChildrenOf,
  capEffOf,
  childrenOf,
  deviceFixture,
  exitedSoon,
  reachOf,
  startDevice,
  ticketFor,
  uidOf,
} from './processes.ts';
import { domainUsers } from '../../actors/device/index.ts';

const fx = deviceFixture('split', 'pi-split');

test('a board with a real watchdog never runs single placement; rpi-zero-2w runs split', () => {
  assert.equal(loadBoard('rpi-zero-2w').placement, 'split');
  const single = { ...loadBoard('rpi-zero-2w'), placement: 'single' };
  assert.throws(
    () => validateBoard(single),
    /placement must not be "single" with a linux watchdog: sw never shares a process with untrusted code/,
  );
  assert.equal(validateBoard({ ...single, watchdog: { backend: 'simulated' } }).placement, 'single', 'simulation may');
});

test('split placement: sw alone, the rest in one process with their heaps summed; that process dying resets the device', async () => {
  const device = startDevice(fx.built, fx.hubs.provision, join(fx.root, 'data'), { sameUser: !fx.withUsers });
  try {
    await Promise.all(['device', 'mm', 'sm:sensor'].map((i) => device.waitFor(ticketFor(i), `${i} ticket`)));
    assert.ok(device.lines[0]!.includes('(split placement)'), device.lines[0]);

    const [rest, ...others] = childrenOf(device.child.pid!);
    assert.equal(others.length, 0, 'sw starts one process');
    const heap = fx.board.domains.hypervisor.heapMb + fx.board.domains.mm.heapMb + fx.board.domains.sm.heapMb;
    assert.ok(rest!.cmdline.includes(`--max-old-space-size=${heap}`), rest!.cmdline.join(' '));
    assert.deepEqual(
      allChildrenOf(rest!.pid).filter((c) => c.cmdline.includes('domain-host')),
      [],
      'the VMs run inside it, not as processes',
    );

    // As root, the untrusted process runs as dominion-hv with no capabilities: it cannot read, trace
    // or signal sw, nor read the device's key file.
    if (fx.withUsers) {
      const { uid, gid } = domainUsers(fx.board).hypervisor!;
      assert.equal(uidOf(rest!.pid), uid);
      assert.equal(capEffOf(rest!.pid), '0000000000000000', 'no capabilities');
      const reach = reachOf(uid, gid, { keyFile: join(fx.root, 'pi-split.keys.json'), sw: device.child.pid!, others: [] });
      for (const [what, code] of Object.entries(reach)) assert.ok(code === 'EACCES' || code === 'EPERM', `${what}: ${code}`);
    }

    process.kill(rest!.pid, 'SIGKILL');
    await device.waitFor((l) => /DEVICE RESET: CHECK_FAILED — the hypervisor process was killed by SIGKILL/.test(l), 'a device reset');
    await device.waitFor((l) => l.includes('boot #2'), 'the second boot');
    await device.waitFor(ticketFor('sm:sensor'), 'a service ticket after the reset');
    const [rest2] = childrenOf(device.child.pid!);
    assert.ok(rest2 !== undefined && rest2.pid !== rest!.pid);

    device.child.kill('SIGTERM');
    assert.equal(await device.exited, 0);
    assert.ok(await exitedSoon(rest2.pid), 'nothing outlives the device');
    assert.ok(!alive(rest2.pid));
  } finally {
    if (device.child.exitCode === null) device.child.kill('SIGKILL');
  }
});
