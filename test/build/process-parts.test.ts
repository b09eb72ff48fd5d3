/**
 * The parts of `process` placement that need no process: the bootstrap document's checks (and that
 * a bad one never echoes its text, which holds keys), the hypervisor's frame relay between `mm` and
 * a service across reboots of either, bounded stdout lines, and the crash backoff.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { createTestKit, ManualClock } from '../../runtime/index.ts';
import { create, RuntimeInfoSchema } from '../../proto/index.ts';
import { cryptoBackend, generateSecretKey } from '../../actors/crypto/index.ts';
import { outsideReport } from '../../actors/hypervisor/index.ts';
import { AwdtCore, awdtActor } from '../../actors/tickets/index.ts';
import { processVm } from '../../actors/device/process/process-vm.ts';
import { BootstrapError, FrameRelay, parseBootstrap } from '../../actors/device/process/index.ts';
import { CrashBackoff } from '../../actors/device/process/backoff.ts';
import { loadBoard } from '../../boards/index.ts';
import { MAX_LINE, networkRefusal, readLines } from '../../actors/device/process/spawn.ts';

test('a bootstrap is checked for its domain and fields; a broken one is refused without quoting it', () => {
  const secret = 'a'.repeat(64);
  assert.throws(
    () => parseBootstrap(`{"keys":{"mm":"${secret}"`),
    (e: unknown) => e instanceof BootstrapError && !e.message.includes(secret),
  );
  const common = {
    slots: '/d/slots',
    releasePub: 'k',
    deviceId: 'x',
    board: loadBoard('sim'),
    image: { slot: 'a', digest: 'ab'.repeat(64) },
  };
  const doc = (o: object) => JSON.stringify({ ...common, ...o });
  assert.throws(() => parseBootstrap(doc({ domain: 'gpu' })), /unknown domain "gpu"/);
  assert.throws(() => parseBootstrap(doc({ domain: 'sm', service: 's' })), /sm: "dataDir" is missing/);
  assert.throws(() => parseBootstrap('{"slots":1}'), /"slots" must be a string/);
  assert.throws(() => parseBootstrap(' '.repeat(300 * 1024)), /more than/);
  // The image a process loads is a slot and the digest its parent opened there; the board a valid profile.
  assert.throws(
    () => parseBootstrap(doc({ domain: 'sm', service: 's', dataDir: '/tmp', image: { slot: 'c', digest: '' } })),
    /"image" must be/,
  );
  assert.throws(() => parseBootstrap(doc({ domain: 'sm', service: 's', dataDir: '/tmp', board: { id: 'x' } })), /"board"/);
  assert.throws(
    () => parseBootstrap(doc({ domain: 'hypervisor', placement: 'process', keys: {}, hubs: {}, link: {}, dataDir: '/d', host: {} })),
    /hypervisor: "gate" is missing/,
  );
  const ok = parseBootstrap(doc({ domain: 'sm', service: 's', dataDir: '/tmp' }));
  assert.equal(ok.domain, 'sm');
});

class FakeSocket extends EventEmitter {
  destroyed = false;
  writableLength = 0;
  readonly written: number[][] = [];
  write(b: Uint8Array): boolean {
    this.written.push([...b]);
    return true;
  }
}
const sock = () => new FakeSocket() as FakeSocket & Socket;
const frame = (...payload: number[]) => Uint8Array.of(0, 0, 0, 2 + payload.length, 0, 0, ...payload);

test('the relay passes whole frames both ways, drops what a replaced VM still sends, counts bad frames', () => {
  const relay = new FrameRelay('mm-sm.sensor', 64);
  const mm = sock();
  const sm1 = sock();
  relay.attach(0, mm);
  relay.attach(1, sm1);
  const f = frame(1, 2, 3);
  mm.emit('data', f.subarray(0, 2));
  mm.emit('data', f.subarray(2));
  sm1.emit('data', frame(9));
  assert.deepEqual(sm1.written, [[...f]]);
  assert.deepEqual(mm.written, [[...frame(9)]]);

  // sm reboots: the new process's socket takes side 1; late bytes of the old one go nowhere.
  const sm2 = sock();
  relay.attach(1, sm2);
  sm1.emit('data', frame(6));
  mm.emit('data', frame(7));
  assert.deepEqual(mm.written.length, 1);
  assert.deepEqual(sm2.written, [[...frame(7)]]);

  const lie = new Uint8Array(8);
  new DataView(lie.buffer).setUint32(0, 1000);
  sm2.emit('data', lie);
  assert.equal(relay.counters.framingErrors, 1);
  sm2.destroyed = true;
  sm2.emit('close');
  mm.emit('data', frame(8));
  assert.equal(relay.counters.dropped, 1);
  assert.equal(relay.counters.relayed, 3);
});

test('stdout lines are split and bounded: an over-long line is dropped whole', () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  readLines(stream, (l) => lines.push(l));
  stream.write('one\ntw');
  stream.write('o\n');
  stream.write('x'.repeat(MAX_LINE + 10));
  stream.write('still the long line\nthree\n');
  stream.write(`${'y'.repeat(MAX_LINE + 1)}\nfour\n`);
  return new Promise<void>((resolve) =>
    setImmediate(() => {
      assert.deepEqual(lines, ['one', 'two', 'three', 'four']);
      resolve();
    }),
  );
});

test('crash backoff: the first exit restarts at once, the next ones after doubling delays, forgotten after the window', () => {
  const clock = new ManualClock(0);
  const b = new CrashBackoff(clock, { windowMs: 10_000, firstDelayMs: 100, maxDelayMs: 300 });
  assert.deepEqual([b.delayFor('sm'), b.delayFor('sm'), b.delayFor('sm'), b.delayFor('sm')], [0, 100, 200, 300]);
  assert.equal(b.delayFor('mm'), 0, 'per VM');
  let restarted = 0;
  b.after('mm', () => restarted++);
  assert.equal(restarted, 0);
  clock.advance(100);
  assert.equal(restarted, 1);
  clock.advance(20_000);
  assert.equal(b.delayFor('sm'), 0);
});

test('a VM whose process is down is not vouched for: its AWDT signs no request, and expires', () => {
  const kit = createTestKit();
  const node = cryptoBackend('node');
  const domain = kit.system.domain('hypervisor', { priority: 1 });
  domain.start();
  let running = false;
  const sent: Uint8Array[] = [];
  const expiries: string[] = [];
  const info = create(RuntimeInfoSchema, {
    report: { case: 'domain', value: { actors: [], restarts: 0, memoryBytes: 1n, imageDigest: new Uint8Array(64), boots: 1 } },
  });
  const awdt = domain.spawn(
    awdtActor({
      name: 'awdt',
      instance: 'sm:sensor',
      initialTimeoutMs: 1000,
      core: () =>
        new AwdtCore({
          deviceId: 'pi-1',
          instance: 'sm:sensor',
          signer: node.signer(generateSecretKey()),
          hub: node.verifier(node.publicKeyOf(generateSecretKey())),
          maxDeferralMs: 5000,
        }),
      runtimeInfo: () => (running ? info : undefined),
      sendRequest: (envelope) => sent.push(envelope),
      expire: (cause) => expiries.push(cause.kind),
    }),
  );
  awdt.tell({ type: 'request' });
  kit.run();
  assert.equal(sent.length, 0, 'nothing running: no request signed');
  running = true;
  awdt.tell({ type: 'request' });
  kit.run();
  assert.equal(sent.length, 1, 'running again: a request');
  kit.advance(1000);
  assert.deepEqual(expiries, ['timeout'], 'no ticket came: the AWDT expires, and the VM is booted again');
});

test('a process VM reports nothing while its process is down, and its image and RSS while it runs', () => {
  const exits: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];
  const gone: string[] = [];
  const vm = processVm({
    digest: () => new Uint8Array(64).fill(7),
    outsideReport,
    onExit: (detail) => gone.push(detail),
    start: (exited) => {
      exits.push(exited);
      return { label: 'sm:x', child: undefined as never, pid: process.pid, link: undefined as never, extra: [], kill: () => {} };
    },
  });
  assert.equal(vm.report(0), undefined, 'never booted');
  vm.boot();
  const r = vm.report(1)!;
  assert.equal(r.report.case, 'domain');
  assert.ok(
    r.report.case === 'domain' && r.report.value.memoryBytes > 0n && r.report.value.imageDigest[0] === 7 && r.report.value.boots === 1,
  );
  exits[0]!(null, 'SIGKILL');
  assert.deepEqual(gone, ['was killed by SIGKILL']);
  assert.equal(vm.report(1), undefined, 'its process is down');
  vm.boot();
  exits[0]!(1, null); // the old incarnation's exit, after a reboot, is not the new one's
  assert.equal(gone.length, 1);
  assert.notEqual(vm.report(2), undefined);
});

test('a service never gets the host network: without an empty namespace it is refused, saying why, unless allowed for development', () => {
  const none = { ok: false, why: 'unshare: unshare failed: Operation not permitted' };
  const refusal = networkRefusal(false, none);
  assert.ok(refusal !== undefined && refusal.includes('Operation not permitted') && refusal.includes('--allow-host-network'), refusal);
  assert.equal(networkRefusal(true, none), undefined, 'the development override');
  assert.equal(networkRefusal(false, { ok: true, why: '' }), undefined);

  // A refused VM starts no process, reports nothing (so no hub can grant it a ticket) and is tried
  // again at its next boot.
  let starts = 0;
  let allowed = false;
  const said: string[] = [];
  const vm = processVm({
    digest: () => new Uint8Array(64),
    outsideReport,
    onExit: () => {},
    start: () => {
      starts++;
      return { label: 'sm:x', child: undefined as never, pid: process.pid, link: undefined as never, extra: [], kill: () => {} };
    },
    refuse: () => (allowed ? undefined : networkRefusal(false, none)),
    onRefused: (why) => said.push(why),
  });
  vm.boot();
  assert.equal(starts, 0);
  assert.equal(vm.report(1), undefined);
  assert.equal(said.length, 1);
  allowed = true;
  vm.boot();
  assert.equal(starts, 1);
  assert.notEqual(vm.report(2), undefined);
});
