import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoardError, boardIds, loadBoard, validateBoard, type BoardProfile } from '../../boards/index.ts';

/** A deep, mutable copy of a shipped profile to break. */
function copy(id: string): Record<string, any> {
  return structuredClone(loadBoard(id)) as Record<string, any>;
}

function rejects(profile: unknown, message: string, field?: string): void {
  assert.throws(
    () => validateBoard(profile),
    (e: unknown) => {
      assert.ok(e instanceof BoardError, `expected a BoardError, got ${String(e)}`);
      assert.equal(e.code, 'invalid-board');
      assert.equal(e.message, message);
      if (field !== undefined) assert.equal(e.field, field);
      return true;
    },
  );
}

test('the shipped boards load and validate', () => {
  assert.deepEqual(boardIds(), ['nitrogen8m', 'rpi-zero-2w', 'rpi3', 'rpi4', 'sim']);
  for (const id of boardIds()) {
    const b = loadBoard(id);
    assert.equal(b.id, id);
    assert.ok(Object.isFrozen(b) && Object.isFrozen(b.domains.mm.mailbox), `${id} is frozen`);
    assert.deepEqual(validateBoard(JSON.parse(JSON.stringify(b))), b, `${id} survives a JSON round trip`);
    assert.deepEqual(b.services, ['sensor']);
  }
});

test('nitrogen8m is the source system: 4× Cortex-A53, 2 GB, sm 4 vCPUs / 512 MB, mm 2 vCPUs / 256 MB', () => {
  const b = loadBoard('nitrogen8m');
  assert.equal(b.cpu, 'Cortex-A53');
  assert.equal(b.cores, 4);
  assert.equal(b.memoryMb, 2048);
  assert.equal(b.arch, 'arm64');
  assert.deepEqual([b.domains.sm.vcpus, b.domains.sm.memoryMb], [4, 512]);
  assert.deepEqual([b.domains.mm.vcpus, b.domains.mm.memoryMb], [2, 256]);
  assert.equal(b.placement, 'process');
  assert.deepEqual(b.watchdog, { backend: 'linux', device: '/dev/watchdog', petIntervalMs: 1000, hardwareTimeoutS: 30 });
});

test('rpi-zero-2w has 512 MB and every domain fits in it', () => {
  const b = loadBoard('rpi-zero-2w');
  assert.equal(b.memoryMb, 512);
  const d = b.domains;
  assert.ok(d.sw.memoryMb + d.hypervisor.memoryMb + d.mm.memoryMb + d.sm.memoryMb * b.services.length <= 512);
});

test('sim is this machine, with the simulated watchdog and the bundle targets of the issue', () => {
  const b = loadBoard('sim');
  assert.equal(b.arch, process.arch);
  assert.equal(b.placement, 'single');
  assert.deepEqual(b.watchdog, { backend: 'simulated' });
  assert.deepEqual(Object.fromEntries(Object.entries(b.domains).map(([k, v]) => [k, v.bundle.gzipKb])), {
    sw: 40,
    hypervisor: 60,
    mm: 90,
    sm: 30,
  });
});

test('an unknown board names the known ones', () => {
  assert.throws(
    () => loadBoard('rpi5'),
    (e: unknown) =>
      e instanceof BoardError &&
      e.code === 'unknown-board' &&
      e.message === 'unknown board "rpi5" (known: nitrogen8m, rpi-zero-2w, rpi3, rpi4, sim)',
  );
  assert.throws(() => loadBoard('__proto__'), /unknown board "__proto__"/);
});

test('an invalid field is named by its path from the board id', () => {
  const heap = copy('rpi4');
  heap.domains.mm.heapMb = 0;
  rejects(heap, 'rpi4.domains.mm.heapMb must be a positive integer (got 0)', 'rpi4.domains.mm.heapMb');

  const frac = copy('rpi4');
  frac.cores = 2.5;
  rejects(frac, 'rpi4.cores must be a positive integer (got 2.5)', 'rpi4.cores');

  const str = copy('rpi3');
  str.timing.intervalMs = '10000';
  rejects(str, 'rpi3.timing.intervalMs must be a positive integer (got "10000")');

  const arch = copy('rpi3');
  arch.arch = 'armv9';
  rejects(arch, 'rpi3.arch must be one of arm, arm64, ia32, loong64, mips, mipsel, ppc, ppc64, riscv64, s390, s390x, x64 (got "armv9")');

  const mailbox = copy('nitrogen8m');
  mailbox.domains.sm.mailbox.service = -1;
  rejects(mailbox, 'nitrogen8m.domains.sm.mailbox.service must be a positive integer (got -1)');

  const budget = copy('nitrogen8m');
  budget.domains.sw.bundle.gzipKb = 500;
  rejects(budget, 'nitrogen8m.domains.sw.bundle.gzipKb must be at most 160 (got 500)');
});

test('unknown and missing fields are errors, not silently ignored', () => {
  const typo = copy('rpi4');
  typo.domains.mm.heapMB = 64;
  rejects(typo, 'rpi4.domains.mm.heapMB is not a known field (known: vcpus, memoryMb, heapMb, mailbox, bundle)');

  const missing = copy('rpi4');
  delete missing.timing.replyTimeoutMs;
  rejects(missing, 'rpi4.timing.replyTimeoutMs is missing');

  const noDomain = copy('rpi4');
  delete noDomain.domains.hypervisor;
  rejects(noDomain, 'rpi4.domains.hypervisor is missing');

  rejects(null, 'board must be an object (got null)');
  const badId = copy('rpi4');
  badId.id = 'Raspberry Pi';
  rejects(badId, 'board.id must be 1-32 characters of [a-z0-9-], starting with a letter or digit (got "Raspberry Pi")');
});

test('fields are checked against each other', () => {
  const deferral = copy('rpi4');
  deferral.timing.deferralMs = deferral.timing.intervalMs;
  rejects(deferral, 'rpi4.timing.deferralMs must be longer than timing.intervalMs (10000), got 10000');

  const max = copy('rpi4');
  max.timing.maxDeferralMs = 20_000;
  rejects(max, 'rpi4.timing.maxDeferralMs must be at least timing.deferralMs (50000), got 20000');

  const reply = copy('rpi4');
  reply.timing.replyTimeoutMs = 10_000;
  rejects(reply, 'rpi4.timing.replyTimeoutMs must be shorter than timing.intervalMs (10000), got 10000');

  const heap = copy('rpi4');
  heap.domains.sm.heapMb = 300;
  rejects(heap, 'rpi4.domains.sm.heapMb must be at most 256 (got 300)');

  const vcpus = copy('rpi-zero-2w');
  vcpus.domains.mm.vcpus = 8;
  rejects(vcpus, 'rpi-zero-2w.domains.mm.vcpus must be at most 4 (got 8)');

  const memory = copy('rpi-zero-2w');
  memory.services = ['sensor', 'camera', 'relay', 'meter', 'door', 'light', 'pump'];
  rejects(memory, "rpi-zero-2w.domains need 600 MiB together (sm counted once per service), more than the board's memoryMb (512)");

  const pet = copy('rpi4');
  pet.watchdog.petIntervalMs = 8000;
  rejects(pet, 'rpi4.watchdog.petIntervalMs must be at most half of watchdog.hardwareTimeoutS (15 s), got 8000 ms');

  const hw = copy('rpi4');
  hw.watchdog.hardwareTimeoutS = 61;
  rejects(
    hw,
    'rpi4.watchdog.hardwareTimeoutS must be no longer than the maximum deferral (timing.maxDeferralMs 60000 ms), got 61 s',
    'rpi4.watchdog.hardwareTimeoutS',
  );
  hw.watchdog.hardwareTimeoutS = 60; // equal is allowed
  assert.equal(validateBoard(hw).watchdog.backend, 'linux');

  const node = copy('rpi4');
  node.node.target = 'node22';
  rejects(node, 'rpi4.node.target must be for Node 20 (node.major), got "node22"');

  const old = copy('rpi4');
  old.node = { target: 'node18', major: 18 };
  rejects(old, 'rpi4.node.major must be at least 20 (got 18)');
});

test('watchdog and services are checked', () => {
  const device = copy('rpi4');
  device.watchdog.device = 'watchdog0';
  rejects(device, 'rpi4.watchdog.device must be a device path under /dev/ (got "watchdog0")');

  const backend = copy('rpi4');
  backend.watchdog = { backend: 'hardware' };
  rejects(backend, 'rpi4.watchdog.backend must be one of simulated, linux (got "hardware")');

  const simExtra = copy('sim');
  simExtra.watchdog = { backend: 'simulated', device: '/dev/watchdog' };
  rejects(simExtra, 'sim.watchdog.device is not a known field (known: backend)');

  const dup = copy('rpi4');
  dup.services = ['sensor', 'sensor'];
  rejects(dup, 'rpi4.services names "sensor" twice');

  const bad = copy('rpi4');
  bad.services = ['Sensor'];
  rejects(bad, 'rpi4.services[0] must be 1-32 characters of [a-z0-9-] (got "Sensor")');

  const none = copy('rpi4');
  none.services = [];
  rejects(none, 'rpi4.services must name at least one service');
});

test('validateBoard returns a frozen copy, leaving the input alone', () => {
  const input = copy('rpi3') as BoardProfile;
  const out = validateBoard(input);
  assert.notEqual(out, input);
  assert.ok(!Object.isFrozen(input));
  assert.ok(Object.isFrozen(out.timing));
});
