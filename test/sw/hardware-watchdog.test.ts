/**
 * The hardware timeout `sw` sets before it opens the Linux watchdog: wdctl, sysfs and the device
 * are fakes that log every call, so the order (set, read back, open, pet) is checked without
 * hardware. A shorter timeout than the board's is accepted with a warning; a longer or unknown one
 * keeps `sw` from starting.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../runtime/index.ts';
import {
  applyHardwareTimeout,
  createWatchdog,
  HardwareTimeoutError,
  LinuxWatchdog,
  PET_BYTE,
  sysfsPath,
  type WatchdogFile,
} from '../../actors/sw/index.ts';
import { loadBoard } from '../../boards/index.ts';

const DEVICE = '/dev/watchdog';
const TIMEOUT = '/sys/class/watchdog/watchdog0/timeout';

/**
 * A driver whose timeout is `initialS`: `wdctl` sets it to what it is asked unless `refuse` says
 * why not (or `clampS` caps it, as a driver with a shorter maximum does); sysfs shows it unless
 * `noSysfs`. Every call is logged.
 */
function fakeDriver(initialS: number, o: { refuse?: string; clampS?: number; noSysfs?: boolean; reports?: boolean } = {}) {
  const log: string[] = [];
  const warnings: string[] = [];
  let timeoutS = initialS;
  const io = {
    setTimeout(device: string, seconds: number): number | undefined {
      log.push(`wdctl --settimeout ${seconds} ${device}`);
      if (o.refuse !== undefined) throw new Error(o.refuse);
      timeoutS = Math.min(seconds, o.clampS ?? seconds);
      return o.reports === false ? undefined : timeoutS;
    },
    read(path: string): string {
      log.push(`read ${path}`);
      if (o.noSysfs === true || path !== TIMEOUT) throw new Error(`ENOENT: ${path}`);
      return `${timeoutS}\n`;
    },
    open(path: string): WatchdogFile {
      log.push(`open ${path}`);
      return { write: (b) => log.push(`pet ${b[0]}`), close: () => log.push('close') };
    },
    onWarning: (m: string) => warnings.push(m),
  };
  return { io, log, warnings, timeout: () => timeoutS };
}

test('the sysfs timeout sits beside bootstatus', () => {
  assert.equal(sysfsPath('/dev/watchdog', 'timeout'), TIMEOUT);
  assert.equal(sysfsPath('/dev/watchdog1', 'timeout'), '/sys/class/watchdog/watchdog1/timeout');
  assert.equal(sysfsPath('/dev/wdt', 'timeout'), undefined);
});

test('the timeout is set and read back before the device is opened and first petted', () => {
  const d = fakeDriver(60);
  const clock = new ManualClock(0);
  const wd = new LinuxWatchdog({ ...d.io, device: DEVICE, clock, petIntervalMs: 1000, hardwareTimeoutS: 15 });
  assert.equal(wd.hardwareTimeoutS, 15);
  assert.equal(d.timeout(), 15);
  wd.holdUntil(500);
  assert.deepEqual(d.log, [`wdctl --settimeout 15 ${DEVICE}`, `read ${TIMEOUT}`, `open ${DEVICE}`, `pet ${PET_BYTE}`]);
  assert.deepEqual(d.warnings, [], 'set as configured: nothing to say');
  wd.abandon();
});

test('createWatchdog applies the profile’s hardwareTimeoutS', () => {
  const board = loadBoard('nitrogen8m');
  assert.ok(board.watchdog.backend === 'linux');
  const d = fakeDriver(60);
  const { watchdog } = createWatchdog(board.watchdog, { ...d.io, clock: new ManualClock(0) });
  assert.equal((watchdog as LinuxWatchdog).hardwareTimeoutS, 30);
  const at = (line: string): number => d.log.indexOf(line);
  assert.ok(at('wdctl --settimeout 30 /dev/watchdog') >= 0);
  assert.ok(at('wdctl --settimeout 30 /dev/watchdog') < at(`read ${TIMEOUT}`) && at(`read ${TIMEOUT}`) < at('open /dev/watchdog'));
});

test('a driver whose timeout cannot be set, left longer, is refused: sw does not start', () => {
  const d = fakeDriver(60, { refuse: 'wdctl: cannot set timeout for /dev/watchdog: Invalid argument' });
  assert.throws(
    () => new LinuxWatchdog({ ...d.io, device: DEVICE, clock: new ManualClock(0), petIntervalMs: 1000, hardwareTimeoutS: 15 }),
    (e: unknown) => {
      assert.ok(e instanceof HardwareTimeoutError);
      assert.equal(e.name, 'HardwareTimeoutError');
      assert.equal(
        e.message,
        'watchdog /dev/watchdog: timeout 60 s, wanted 15 s (wdctl: cannot set timeout for /dev/watchdog: Invalid argument; ' +
          `read from ${TIMEOUT}); set it with \`wdctl --settimeout 15 /dev/watchdog\` or the driver's module parameter`,
      );
      return true;
    },
  );
  assert.ok(!d.log.some((l) => l.startsWith('open')), 'the device is never opened, so the hardware is not started');
});

test('a longer read-back is refused even when wdctl said it succeeded', () => {
  // E.g. a driver that accepts the ioctl but keeps a fixed period; sysfs is the authority.
  const d = fakeDriver(60, { reports: false });
  d.io.setTimeout = (device, seconds) => void d.log.push(`wdctl --settimeout ${seconds} ${device}`);
  assert.throws(
    () => applyHardwareTimeout(DEVICE, 15, d.io),
    (e: unknown) => e instanceof HardwareTimeoutError && /timeout 60 s, wanted 15 s \(read from \/sys\//.test(e.message),
  );
});

test('a shorter read-back is accepted, with a warning: the reset only comes sooner', () => {
  const d = fakeDriver(60, { clampS: 10 }); // a driver whose maximum is 10 s
  const wd = new LinuxWatchdog({ ...d.io, device: DEVICE, clock: new ManualClock(0), petIntervalMs: 1000, hardwareTimeoutS: 15 });
  assert.equal(wd.hardwareTimeoutS, 10);
  assert.equal(d.warnings.length, 1);
  assert.match(d.warnings[0]!, /^watchdog \/dev\/watchdog: timeout 10 s, wanted 15 s/);

  // Setting failed, but the driver already runs at most as long: accepted, and said.
  const short = fakeDriver(15, { refuse: 'spawnSync /usr/bin/wdctl ENOENT' });
  assert.equal(applyHardwareTimeout(DEVICE, 15, short.io), 15);
  assert.match(short.warnings[0]!, /timeout 15 s, wanted 15 s \(spawnSync \/usr\/bin\/wdctl ENOENT; read from \/sys/);
});

test('no sysfs timeout: wdctl’s report (the kernel’s own read-back) stands in; with neither, sw refuses', () => {
  const d = fakeDriver(60, { noSysfs: true });
  assert.equal(applyHardwareTimeout(DEVICE, 15, d.io), 15);
  assert.match(d.warnings[0]!, /timeout 15 s, wanted 15 s \(read from wdctl\)/);

  const longer = fakeDriver(60, { noSysfs: true });
  longer.io.setTimeout = () => 20; // a driver that rounds up to its granularity
  assert.throws(() => applyHardwareTimeout(DEVICE, 15, longer.io), /timeout 20 s, wanted 15 s \(read from wdctl\)/);

  const silent = fakeDriver(60, { noSysfs: true, reports: false });
  assert.throws(
    () => applyHardwareTimeout(DEVICE, 15, silent.io),
    (e: unknown) => e instanceof HardwareTimeoutError && /timeout unknown, wanted 15 s/.test(e.message),
  );
  const failed = fakeDriver(60, { noSysfs: true, refuse: 'Command failed: /usr/bin/wdctl --settimeout 15 /dev/watchdog' });
  assert.throws(() => applyHardwareTimeout(DEVICE, 15, failed.io), /timeout unknown, wanted 15 s \(Command failed: .*; read from wdctl\)/);
});

test('a timeout of 0 is the kernel’s “unknown”, not a short one', () => {
  const d = fakeDriver(0, { refuse: 'wdctl: cannot set timeout for /dev/watchdog: Invalid argument' });
  assert.throws(() => applyHardwareTimeout(DEVICE, 15, d.io), /timeout unknown, wanted 15 s/);
});

test('without hardwareTimeoutS the driver is left alone', () => {
  const d = fakeDriver(60);
  const wd = new LinuxWatchdog({ ...d.io, device: DEVICE, clock: new ManualClock(0), petIntervalMs: 1000 });
  assert.equal(wd.hardwareTimeoutS, undefined);
  assert.deepEqual(d.log, [`open ${DEVICE}`]);
});
