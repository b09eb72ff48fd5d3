/**
 * The `linux` watchdog backend against a fake device: a plain file in a temp dir stands in for
 * /dev/watchdog (each keep-alive appends one byte), ManualClock drives time, nothing sleeps.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ActorSystem, ManualClock, openChannel } from '../../runtime/index.ts';
import { ResetReason } from '../../proto/index.ts';
import {
  bootStatusPath,
  LinuxWatchdog,
  MAGIC_CLOSE,
  MemoryStateStore,
  openWatchdogFile,
  PET_BYTE,
  readBootStatus,
  resetReasonAfterBoot,
  sysfsPath,
  WatchdogOpenError,
  type WatchdogFile,
} from '../../actors/sw/index.ts';
import { generateSecretKey, nodeBackend } from '../../actors/crypto/index.ts';
import { SW_HYPERVISOR } from '../../proto/index.ts';
import { beginBoot, createWatchdog, install as installSw } from '../../actors/images/sw.ts';
import { loadBoard } from '../../boards/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'dominion-wdt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh fake device node: an existing empty file (the backend never creates the device). */
function fakeDevice(): string {
  const path = join(dir, `watchdog${n++}`);
  writeFileSync(path, '');
  return path;
}

const pets = (path: string): number => readFileSync(path).length;

function assertNoMagicClose(path: string): void {
  const bytes = readFileSync(path);
  assert.ok(!bytes.includes(MAGIC_CLOSE), "the magic close character 'V' was written");
  assert.ok(bytes.every((b) => b === PET_BYTE));
}

test('pets only while the deadline lies ahead, and never writes the magic close', () => {
  const clock = new ManualClock(0);
  const device = fakeDevice();
  const wd = new LinuxWatchdog({ device, clock, petIntervalMs: 1000 });
  clock.advance(5000);
  assert.equal(pets(device), 0, 'nothing is petted before a deadline is held');

  wd.holdUntil(8_500); // armed at 5000: hold for 3.5 s
  assert.equal(pets(device), 1, 'pets at once');
  assert.ok(wd.holding);
  clock.advance(3000); // pets at 6000, 7000, 8000
  assert.equal(pets(device), 4);
  clock.advance(5000); // at 9000 the deadline has passed: it stops, and stays stopped
  assert.equal(pets(device), 4);
  assert.equal(wd.holding, false);
  assert.equal(wd.lastPetAt, 8000);

  wd.holdUntil(30_000); // at 13000 a valid ticket arrives: petting resumes at once
  assert.equal(pets(device), 5);
  wd.holdUntil(16_500); // the deadline may also move closer (a shorter deferral)
  clock.advance(10_000); // pets at 14000, 15000, 16000, then nothing
  assert.equal(wd.lastPetAt, 16_000);
  assert.equal(pets(device), 8);
  assertNoMagicClose(device);
  wd.abandon();
  assertNoMagicClose(device);
});

test('a reset stops petting for good: no later deadline revives it', () => {
  const clock = new ManualClock(0);
  const device = fakeDevice();
  const resets: Array<[ResetReason, string]> = [];
  const wd = new LinuxWatchdog({ device, clock, petIntervalMs: 500, onReset: (r, d) => resets.push([r, d]) });
  wd.holdUntil(10_000);
  clock.advance(1000);
  assert.equal(pets(device), 3);
  wd.reset(ResetReason.TICKET_WITHHELD, 'withheld by the IH');
  wd.reset(ResetReason.OPERATOR, 'again'); // once is enough
  assert.deepEqual(resets, [[ResetReason.TICKET_WITHHELD, 'withheld by the IH']]);
  assert.ok(wd.resetPending);
  wd.holdUntil(50_000);
  clock.advance(20_000);
  assert.equal(pets(device), 3, 'after reset the hardware is left to run out');
  assert.equal(clock.pending(), 0, 'no timer left behind');
  assertNoMagicClose(device);
  wd.abandon();
});

test('a failing write is counted and retried on the next interval', () => {
  const clock = new ManualClock(0);
  let fail = true;
  const writes: number[] = [];
  const file: WatchdogFile = {
    write: (b) => {
      if (fail) throw new Error('EIO');
      writes.push(b[0]!);
    },
    close: () => {},
  };
  const errors: unknown[] = [];
  const wd = new LinuxWatchdog({ clock, petIntervalMs: 100, open: () => file, onError: (e) => errors.push(e) });
  assert.equal(wd.device, '/dev/watchdog');
  wd.holdUntil(1000);
  assert.equal(wd.petErrors, 1);
  fail = false;
  clock.advance(100);
  assert.equal(wd.pets, 1);
  assert.deepEqual(writes, [PET_BYTE]);
  assert.equal(errors.length, 1);
});

test('opening a missing device fails clearly and creates nothing', () => {
  const missing = join(dir, 'no-such-watchdog');
  assert.throws(
    () => new LinuxWatchdog({ device: missing, clock: new ManualClock(), petIntervalMs: 1000 }),
    (e: unknown) =>
      e instanceof WatchdogOpenError && e.device === missing && /ENOENT: no such device: is the watchdog driver loaded/.test(e.message),
  );
  assert.throws(() => readFileSync(missing), /ENOENT/, 'a typo must not create a regular file');
  assert.throws(() => openWatchdogFile(dir), WatchdogOpenError); // a directory cannot be opened for writing
  assert.throws(() => new LinuxWatchdog({ device: fakeDevice(), clock: new ManualClock(), petIntervalMs: 0 }), RangeError);
});

test('boot status: sysfs path, WDIOF flags, and what the driver does not say', () => {
  assert.equal(bootStatusPath('/dev/watchdog'), '/sys/class/watchdog/watchdog0/bootstatus');
  assert.equal(bootStatusPath('/dev/watchdog1'), '/sys/class/watchdog/watchdog1/bootstatus');
  assert.equal(bootStatusPath('/dev/wdt'), undefined);
  const file = (text: string): string => {
    const p = join(dir, `bootstatus${n++}`);
    writeFileSync(p, text);
    return p;
  };
  assert.deepEqual(readBootStatus(file('32\n')), { raw: 32, flags: ['CARDRESET'], watchdogReset: true });
  assert.deepEqual(readBootStatus(file('0\n')), { raw: 0, flags: [], watchdogReset: false });
  assert.deepEqual(readBootStatus(file('17\n')), { raw: 17, flags: ['OVERHEAT', 'POWERUNDER'], watchdogReset: false });
  assert.deepEqual(readBootStatus(file('0x20')), { raw: 32, flags: ['CARDRESET'], watchdogReset: true });
  assert.equal(readBootStatus(file('garbage')), undefined);
  assert.equal(readBootStatus(join(dir, 'absent')), undefined);
  assert.equal(readBootStatus(undefined), undefined);
  assert.equal(readBootStatus('/sys/x', () => '32\n')?.raw, 32, 'the reader is injectable');
  assert.equal(
    readBootStatus('/sys/x', () => {
      throw new Error('EACCES');
    }),
    undefined,
  );
});

test('the reset reason after a reboot combines the record with the driver', () => {
  const recorded = { reason: ResetReason.TICKET_WITHHELD, detail: 'withheld: policy' };
  const cardReset = { raw: 32, flags: ['CARDRESET'] as const, watchdogReset: true };
  const clean = { raw: 0, flags: [] as const, watchdogReset: false };
  // The driver says nothing: the record stands.
  assert.deepEqual(resetReasonAfterBoot(recorded, undefined), recorded);
  // The watchdog reset the board, as sw had said it would: sw's reason.
  assert.deepEqual(resetReasonAfterBoot(recorded, cardReset), recorded);
  // The watchdog reset the board, but sw never recorded why (hung or killed): a timeout.
  const silent = resetReasonAfterBoot({ reason: ResetReason.POWER_ON, detail: 'power on' }, cardReset);
  assert.equal(silent.reason, ResetReason.TICKET_TIMEOUT);
  assert.match(silent.detail, /no reason recorded: sw stopped petting \(driver bootstatus CARDRESET\)/);
  // Not a watchdog reset: power was lost or the board was rebooted, whatever the stale record says.
  assert.deepEqual(resetReasonAfterBoot(recorded, clean), { reason: ResetReason.POWER_ON, detail: 'not a watchdog reset' });
  assert.equal(
    resetReasonAfterBoot(recorded, { raw: 16, flags: ['POWERUNDER'], watchdogReset: false }).detail,
    'not a watchdog reset (driver bootstatus POWERUNDER)',
  );
});

test('beginBoot counts the boot and settles the reason with the driver', () => {
  const store = new MemoryStateStore();
  store.save({ bootCount: 4, lastResetReason: ResetReason.POWER_ON, lastResetDetail: 'power on' });
  const record = beginBoot(store, { raw: 32, flags: ['CARDRESET'], watchdogReset: true });
  assert.equal(record.bootCount, 5);
  assert.equal(record.lastResetReason, ResetReason.TICKET_TIMEOUT);
  assert.deepEqual(store.load(), record);
  assert.equal(beginBoot(store).bootCount, 6);
});

test('sw with the linux backend: pets while the AWDT is armed, records the reason, then lets the hardware reset', () => {
  const board = loadBoard('rpi4');
  assert.equal(board.watchdog.backend, 'linux');
  if (board.watchdog.backend !== 'linux') return;
  const petIntervalMs = board.watchdog.petIntervalMs;
  const clock = new ManualClock(0);
  const device = fakeDevice();
  // A fake device has no wdctl and no sysfs: both are fakes, the sysfs one without a bootstatus.
  const sysfs = new Map<string, string>();
  const setTimeout = (d: string, s: number): undefined => void sysfs.set(sysfsPath(d, 'timeout')!, `${s}\n`);
  const read = (path: string): string => {
    const text = sysfs.get(path);
    if (text === undefined) throw new Error(`ENOENT: ${path}`);
    return text;
  };
  const { watchdog, bootStatus } = createWatchdog({ ...board.watchdog, device }, { clock, setTimeout, read });
  assert.equal((watchdog as LinuxWatchdog).hardwareTimeoutS, board.watchdog.hardwareTimeoutS);
  assert.ok(watchdog instanceof LinuxWatchdog);
  assert.equal(bootStatus, undefined, 'no bootstatus for a fake device');
  const system = new ActorSystem({ clock, drain: 'manual' });
  clock.afterFire(() => system.runUntilIdle());
  const sw = system.domain('sw', { priority: 0 });
  const hyp = system.domain('hypervisor', { priority: 1 });
  const channel = openChannel(SW_HYPERVISOR, sw, hyp);
  const store = new MemoryStateStore();
  const record = beginBoot(store);
  const crypto = nodeBackend();
  const events: string[] = [];
  installSw({
    domain: sw,
    hypervisor: channel.a,
    clock,
    deviceId: 'pi-0001',
    firmwareVersion: '1.0.0',
    deviceKey: generateSecretKey(),
    infrastructureHub: crypto.publicKeyOf(generateSecretKey()),
    timing: board.timing,
    mailbox: board.domains.sw.mailbox,
    record,
    store,
    manifestDigest: new Uint8Array(64),
    hypervisorImageDigest: new Uint8Array(64),
    watchdog,
    events: (e) => events.push(e.type),
  });
  sw.start();
  system.runUntilIdle();
  assert.deepEqual(events, ['armed']);
  assert.equal(pets(device), 1, 'arming the AWDT (the initial timeout) holds the device');
  clock.advance(board.timing.initialTimeoutMs - 1);
  assert.equal(pets(device), board.timing.initialTimeoutMs / petIntervalMs);
  // No ticket ever came: the AWDT expires, sw records why, and petting stops for good.
  clock.advance(1);
  assert.deepEqual(events, ['armed', 'expired']);
  assert.equal(store.load().lastResetReason, ResetReason.TICKET_TIMEOUT);
  assert.ok((watchdog as LinuxWatchdog).resetPending);
  const last = pets(device);
  clock.advance(60_000);
  assert.equal(pets(device), last);
  assertNoMagicClose(device);
  (watchdog as LinuxWatchdog).abandon();
  system.shutdown();
});

test('a record that cannot be saved does not keep sw from resetting', () => {
  const clock = new ManualClock(0);
  const device = fakeDevice();
  const watchdog = new LinuxWatchdog({ device, clock, petIntervalMs: 1000 });
  const system = new ActorSystem({ clock, drain: 'manual' });
  clock.afterFire(() => system.runUntilIdle());
  const sw = system.domain('sw', { priority: 0 });
  const channel = openChannel(SW_HYPERVISOR, sw, system.domain('hypervisor', { priority: 1 }));
  const broken = {
    load: () => ({ bootCount: 1, lastResetReason: ResetReason.POWER_ON, lastResetDetail: '' }),
    save: () => {
      throw new Error('ENOSPC');
    },
  };
  installSw({
    domain: sw,
    hypervisor: channel.a,
    clock,
    deviceId: 'pi-0001',
    firmwareVersion: '1.0.0',
    deviceKey: generateSecretKey(),
    infrastructureHub: nodeBackend().publicKeyOf(generateSecretKey()),
    timing: { initialTimeoutMs: 5000, maxDeferralMs: 10_000 },
    mailbox: { awdt: 16, inlet: 16 },
    record: broken.load(),
    store: broken,
    manifestDigest: new Uint8Array(64),
    hypervisorImageDigest: new Uint8Array(64),
    watchdog,
  });
  sw.start();
  system.runUntilIdle();
  clock.advance(5000);
  assert.ok(watchdog.resetPending, 'the watchdog was told to reset');
  watchdog.abandon();
  system.shutdown();
});
