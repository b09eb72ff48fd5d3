/**
 * The bootloader glue (actors/slots/slot-boot.ts) on real files: first start, ordinary restarts that
 * write nothing, an update's trial that rolls back after its tries or commits only through
 * `commit`, the floor, tampered slots (fallback or restore), and a power cut at every step of an
 * install, an update, a trial's boot and a restore — after which the device still boots a verified
 * image.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bundleFile } from '../../actors/release/index.ts';
import {
  BootStateError,
  nodeFs,
  SlotError,
  SlotStore,
  type OpenOutcome,
  type SlotErrorCode,
  type SlotName,
} from '../../actors/slots/index.ts';
import {
  copyOf,
  devicePaths,
  factoryImages,
  FaultFs,
  image,
  LABELS,
  MAX_BUNDLE,
  PowerCut,
  releaseKey,
  slotBoot,
  tempDir,
} from './fixtures.ts';

const root = tempDir('boot');
after(() => rmSync(root, { recursive: true, force: true }));
let devices = 0;

const refused = (code: SlotErrorCode) => (e: unknown) => e instanceof SlotError && e.code === code;

/** A device's data dir after its first start with the factory images (all at version 1). */
function freshDevice(): string {
  const dir = join(root, `device-${++devices}`);
  slotBoot(dir).ensureInstalled(factoryImages());
  return dir;
}

/** mm updated to `version`, installed as a trial in slot b (not booted yet). */
function withTrial(dir: string, version = 2): void {
  const boot = slotBoot(dir);
  assert.equal(boot.beginUpdate('mm', version), 'b');
  assert.deepEqual(boot.installUpdate('mm', image('mm', version), version), { slot: 'b', version });
}

function ok(outcome: OpenOutcome): Extract<OpenOutcome, { kind: 'ok' }> {
  assert.equal(outcome.kind, 'ok', JSON.stringify(outcome));
  return outcome as Extract<OpenOutcome, { kind: 'ok' }>;
}

/** Flips one byte of `label`'s bundle in `slot`: same size, wrong digest. */
function tamper(dir: string, label: string, slot: SlotName): void {
  const file = join(new SlotStore(devicePaths(dir).slots).slotDir(label, slot), bundleFile(label));
  const bytes = readFileSync(file);
  bytes[3] ^= 0x20;
  writeFileSync(file, bytes);
}

describe('slot boot', () => {
  it('the first start installs every image into slot a; a service added later is installed alone', () => {
    const dir = join(root, 'first');
    // On node:fs itself, fsyncs and all.
    const report = slotBoot(dir, nodeFs).ensureInstalled(factoryImages());
    assert.equal(report.created, true);
    assert.deepEqual(report.installed.map((i) => i.label).sort(), ['hypervisor', 'mm', 'sm:sensor', 'sw']);
    const boot = slotBoot(dir);
    for (const label of LABELS) {
      const o = ok(boot.open(label));
      assert.equal(o.slot, 'a');
      assert.equal(o.trial, false);
      assert.equal(o.image.version, 1);
      assert.deepEqual(o.bytes, factoryImages().get(label));
      assert.deepEqual(boot.report(label), { label, version: 1, slot: 'a' });
    }
    const fs = new FaultFs();
    const added = slotBoot(dir, fs).ensureInstalled(new Map([...factoryImages(7), ['sm:meter', image('sm:meter', 3)]]));
    assert.deepEqual(added, { created: false, installed: [{ label: 'sm:meter', version: 3 }] });
    assert.equal(fs.renamesOnto(devicePaths(dir).state), 1, 'one state write for the added service');
    assert.equal(fs.writesUnder(join(devicePaths(dir).slots, 'mm')), 0, 'known domains keep their slots; the carried image is ignored');
    assert.equal(ok(slotBoot(dir).open('sm:meter')).image.version, 3);
    assert.equal(ok(slotBoot(dir).open('mm')).image.version, 1);
  });

  it('refuses to install a factory image that does not verify, and installs none of them', () => {
    const dir = join(root, 'bad-factory');
    const images = factoryImages();
    images.set('mm', image('mm', 1, { key: releaseKey() }));
    assert.throws(() => slotBoot(dir).ensureInstalled(images), refused('bad-image'));
    assert.throws(() => slotBoot(dir).state(), refused('no-state'));
    assert.deepEqual(new SlotStore(devicePaths(dir).slots).labels(), []);
  });

  it('rapid restarts without an update never switch slots and never write', () => {
    const dir = freshDevice();
    const fs = new FaultFs();
    for (let restart = 0; restart < 25; restart++) {
      const boot = slotBoot(dir, fs);
      boot.ensureInstalled(factoryImages());
      for (const label of LABELS) assert.equal(ok(boot.open(label)).slot, 'a');
    }
    assert.equal(
      fs.log.filter((l) => l.startsWith('open-w') || l.startsWith('rename') || l.startsWith('mkdir')).length,
      0,
      fs.log.join('\n'),
    );
  });

  it('a trial that never commits rolls back after its tries (N crashes on start), the floor unmoved', () => {
    const dir = freshDevice();
    withTrial(dir);
    assert.equal(slotBoot(dir).report('mm').phase, 'installed');
    for (let attempt = 1; attempt <= 3; attempt++) {
      // Each start boots the trial, and the device dies before the first ticket: no commit, no failTrial.
      const fs = new FaultFs();
      const o = ok(slotBoot(dir, fs).open('mm'));
      assert.deepEqual([o.slot, o.trial, o.image.version], ['b', true, 2]);
      assert.equal(fs.renamesOnto(devicePaths(dir).state), 1, 'the try is written before the trial boots');
      assert.equal(slotBoot(dir).state().domains.mm!.trial!.triesLeft, 3 - attempt);
    }
    const boot = slotBoot(dir);
    const back = ok(boot.open('mm'));
    assert.deepEqual([back.slot, back.trial, back.image.version], ['a', false, 1]);
    assert.equal(back.rolledBack?.version, 2);
    const d = boot.state().domains.mm!;
    assert.equal(d.minVersion, 1, 'a failed trial never raises the floor');
    assert.equal(d.active, 'a');
    assert.deepEqual(boot.report('mm'), {
      label: 'mm',
      version: 1,
      slot: 'a',
      phase: 'rolled-back',
      updateVersion: 2,
      detail: back.rolledBack!.detail,
    });
    const fs = new FaultFs();
    assert.equal(ok(slotBoot(dir, fs).open('mm')).slot, 'a');
    assert.equal(fs.renamesOnto(devicePaths(dir).state), 0, 'after the rollback, restarts are ordinary again');
  });

  it('commits only through commit; the floor rises there and downgrades are refused after', () => {
    const dir = freshDevice();
    withTrial(dir);
    assert.equal(slotBoot(dir).commit('mm'), false, 'the old image got a ticket: nothing to commit, the trial never booted');
    ok(slotBoot(dir).open('mm'));
    const again = slotBoot(dir);
    const o = ok(again.open('mm'));
    assert.equal(o.trial, true, 'booting twice does not commit');
    assert.equal(again.state().domains.mm!.minVersion, 1);
    assert.equal(again.report('mm').phase, 'trial');
    assert.equal(again.report('mm').version, 2);
    assert.equal(again.commit('mm'), true);
    assert.equal(again.state().domains.mm!.minVersion, 2);
    assert.equal(again.state().domains.mm!.active, 'b');
    assert.deepEqual(again.report('mm'), { label: 'mm', version: 2, slot: 'b', phase: 'committed', updateVersion: 2 });
    const fs = new FaultFs();
    const later = slotBoot(dir, fs);
    assert.deepEqual([ok(later.open('mm')).slot, later.commit('mm')], ['b', false]);
    assert.equal(fs.renamesOnto(devicePaths(dir).state), 0);
    assert.throws(() => later.beginUpdate('mm', 1), refused('downgrade'));
    assert.throws(() => later.beginUpdate('mm', 2), refused('already-running'));
  });

  it('the hub repeating UPDATE_REQUIRED for the download in flight costs one write, not one per request', () => {
    const dir = freshDevice();
    const fs = new FaultFs();
    for (let request = 0; request < 10; request++) assert.equal(slotBoot(dir, fs).beginUpdate('mm', 2), 'b');
    assert.equal(fs.renamesOnto(devicePaths(dir).state), 1);
  });

  it('failTrial takes no second try and rolls back at once after the last one', () => {
    const dir = freshDevice();
    const boot = slotBoot(dir, undefined, 2);
    boot.beginUpdate('mm', 2);
    boot.installUpdate('mm', image('mm', 2), 2);
    assert.equal(boot.failTrial('mm', 'the old image crashed'), false);
    assert.equal(boot.report('mm').phase, 'installed', 'a crash of the old image is not the trial’s');
    assert.equal(ok(boot.open('mm')).trial, true);
    assert.equal(boot.failTrial('mm', 'exit code 3'), false);
    assert.equal(boot.state().domains.mm!.trial!.triesLeft, 1);
    assert.equal(ok(boot.open('mm')).trial, true);
    assert.equal(boot.failTrial('mm', 'AWDT expired'), true);
    assert.equal(boot.report('mm').phase, 'rolled-back');
    assert.match(boot.report('mm').detail!, /AWDT expired/);
    const o = ok(slotBoot(dir).open('mm'));
    assert.deepEqual([o.slot, o.trial, o.rolledBack], ['a', false, undefined]);
    assert.equal(slotBoot(dir).state().domains.mm!.minVersion, 1);
  });

  it('refuses an update it did not begin, and records every refused image as failed', () => {
    const dir = freshDevice();
    const boot = slotBoot(dir);
    assert.throws(() => boot.installUpdate('mm', image('mm', 2), 2), refused('not-begun'));
    const cases: Array<[string, Parameters<typeof image>, SlotErrorCode]> = [
      ['another key', ['mm', 2, { key: releaseKey() }], 'bad-image'],
      ['another board', ['mm', 2, { board: 'rpi4' }], 'bad-image'],
      ['another label', ['sw', 2], 'bad-image'],
      ['too large', ['mm', 2, { bundle: new Uint8Array(MAX_BUNDLE + 1) }], 'bad-image'],
      ['another version', ['mm', 3], 'version-mismatch'],
    ];
    for (const [what, args, code] of cases) {
      boot.beginUpdate('mm', 2);
      assert.throws(() => boot.installUpdate('mm', image(...args), 2), refused(code), what);
      const report = slotBoot(dir).report('mm');
      assert.deepEqual([report.phase, report.updateVersion, report.slot], ['failed', 2, 'a'], what);
      assert.ok(report.detail !== undefined && report.detail.length <= 256, what);
    }
    const tampered = image('mm', 2);
    tampered.bundle[0] ^= 1;
    boot.beginUpdate('mm', 2);
    assert.throws(
      () => boot.installUpdate('mm', tampered, 2),
      (e: unknown) => e instanceof SlotError && e.cause?.code === 'digest-mismatch',
    );
    assert.deepEqual(ok(slotBoot(dir).open('mm')).slot, 'a');
  });

  it('a trial slot that does not verify is rolled back at once, in the same write as the boot', () => {
    const dir = freshDevice();
    withTrial(dir);
    tamper(dir, 'mm', 'b');
    const fs = new FaultFs();
    const boot = slotBoot(dir, fs);
    const o = ok(boot.open('mm'));
    assert.deepEqual([o.slot, o.trial, o.rolledBack?.version], ['a', false, 2]);
    assert.match(o.rolledBack!.detail, /trial slot b does not verify/);
    assert.equal(fs.renamesOnto(devicePaths(dir).state), 1);
    assert.equal(boot.state().domains.mm!.versions.b, undefined);
  });

  it('a tampered active slot: restore at the recorded version, which switches slots without a trial', () => {
    const dir = freshDevice();
    tamper(dir, 'mm', 'a');
    const boot = slotBoot(dir);
    const r = boot.open('mm');
    assert.equal(r.kind, 'restore');
    assert.equal(r.kind === 'restore' && r.version, 1);
    assert.match(r.kind === 'restore' ? r.reason : '', /does not match the signed manifest/);
    assert.equal(slotBoot(dir).open('mm').kind, 'restore', 'until restored, every start says so (and writes nothing)');
    assert.throws(() => boot.restore('mm', image('mm', 2)), refused('version-mismatch'), 'a restore is no way around a trial');
    assert.throws(() => boot.restore('mm', image('mm', 1, { key: releaseKey() })), refused('bad-image'));
    assert.deepEqual(boot.restore('mm', image('mm', 1)), { slot: 'b', version: 1 });
    const o = ok(slotBoot(dir).open('mm'));
    assert.deepEqual([o.slot, o.trial, o.image.version], ['b', false, 1]);
    assert.equal(slotBoot(dir).state().domains.mm!.trial, undefined);
    assert.deepEqual(slotBoot(dir).state().domains.mm!.versions, { b: 1 });
  });

  it('a swapped-in older image, validly signed, counts as tampering', () => {
    const dir = freshDevice();
    withTrial(dir);
    ok(slotBoot(dir).open('mm'));
    slotBoot(dir).commit('mm');
    // An intruder puts the signed version 1 into the active slot b.
    new SlotStore(devicePaths(dir).slots).install('mm', 'b', image('mm', 1));
    const r = slotBoot(dir).open('mm');
    assert.deepEqual(r.kind === 'restore' && [r.version, /holds version 1, the boot state says 2/.test(r.reason)], [2, true]);
  });

  it('a tampered active slot with a mirrored copy falls back to it; a tampered copy is no fallback', () => {
    const dir = freshDevice();
    withTrial(dir);
    ok(slotBoot(dir).open('mm'));
    slotBoot(dir).commit('mm');
    assert.throws(() => slotBoot(dir).beginUpdate('mm', 1), refused('downgrade'));
    assert.equal(slotBoot(dir).mirror('mm'), 'a');
    assert.deepEqual(slotBoot(dir).state().domains.mm!.versions, { a: 2, b: 2 });
    tamper(dir, 'mm', 'b');
    const boot = slotBoot(dir);
    const o = ok(boot.open('mm'));
    assert.deepEqual([o.slot, o.trial, o.image.version, o.fellBack?.from], ['a', false, 2, 'b']);
    assert.deepEqual(boot.state().domains.mm!.versions, { a: 2 }, 'the tampered slot is no longer vouched for');
    assert.equal(ok(slotBoot(dir).open('mm')).slot, 'a');
    // Mirror again into b, tamper both: restore.
    slotBoot(dir).mirror('mm');
    tamper(dir, 'mm', 'a');
    tamper(dir, 'mm', 'b');
    const r = slotBoot(dir).open('mm');
    assert.deepEqual(r.kind === 'restore' && r.version, 2);
    slotBoot(dir).beginUpdate('mm', 3);
    assert.throws(() => slotBoot(dir).mirror('mm'), refused('busy'));
  });

  it('a power cut at every step of the first install leaves a device that installs and boots', () => {
    // Two domains (one a service) keep the loop short; each is installed the same way.
    const images = factoryImages(1, ['mm', 'sm:sensor']);
    const dry = new FaultFs();
    slotBoot(join(root, 'first-dry'), dry).ensureInstalled(images);
    for (let cut = 1; cut <= dry.calls; cut++) {
      const dir = join(root, `first-cut${cut}`);
      assert.throws(() => slotBoot(dir, new FaultFs(cut)).ensureInstalled(images), PowerCut);
      const boot = slotBoot(dir);
      boot.ensureInstalled(images);
      for (const label of images.keys()) assert.equal(ok(boot.open(label)).image.version, 1, `cut ${cut}: ${label}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a power cut at every step of an update (begin, verify, slot write, state write) leaves a bootable verified slot', () => {
    const pristine = freshDevice();
    const update = (dir: string, fs?: FaultFs): void => {
      const boot = slotBoot(dir, fs);
      boot.beginUpdate('mm', 2);
      boot.installUpdate('mm', image('mm', 2), 2);
    };
    const dry = new FaultFs();
    update(copyOf(pristine, 'dry'), dry);
    const seen = new Set<string>();
    for (let cut = 1; cut <= dry.calls; cut++) {
      const dir = copyOf(pristine, `update-cut${cut}`);
      assert.throws(() => update(dir, new FaultFs(cut)), PowerCut);
      const o = ok(slotBoot(dir).open('mm'));
      assert.ok(
        (o.slot === 'a' && !o.trial && o.image.version === 1) || (o.slot === 'b' && o.trial && o.image.version === 2),
        `cut ${cut}: ${o.slot} ${o.trial} v${o.image.version}`,
      );
      assert.equal(o.rolledBack, undefined, `cut ${cut}: the state never named a slot the cut left incomplete`);
      seen.add(o.slot);
      assert.equal(slotBoot(dir).state().domains.mm!.minVersion, 1);
      if (o.slot === 'a') {
        // The update did not take: it can simply be done again.
        update(dir);
        const again = ok(slotBoot(dir).open('mm'));
        assert.deepEqual([again.slot, again.trial], ['b', true], `cut ${cut}`);
      }
      rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual([...seen].sort(), ['a', 'b']);
  });

  /** Runs `op` on a copy of `pristine` with the power cut at each of its steps in turn; `check` judges each result. */
  function cutEverywhere(pristine: string, op: (dir: string, fs?: FaultFs) => void, check: (dir: string, cut: number) => void): void {
    const dry = new FaultFs();
    op(copyOf(pristine, 'dry'), dry);
    assert.ok(dry.calls > 0);
    for (let cut = 1; cut <= dry.calls; cut++) {
      const dir = copyOf(pristine, `cut${cut}`);
      assert.throws(() => op(dir, new FaultFs(cut)), PowerCut);
      check(dir, cut);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('a power cut at every step of a trial boot takes its try once or not at all, and the trial still boots', () => {
    const pristine = freshDevice();
    withTrial(pristine);
    cutEverywhere(
      pristine,
      (dir, fs) => void slotBoot(dir, fs).open('mm'),
      (dir, cut) => {
        const tries = slotBoot(dir).state().domains.mm!.trial!.triesLeft;
        assert.ok(tries === 3 || tries === 2, `cut ${cut}: ${tries} tries left`);
        const o = ok(slotBoot(dir).open('mm'));
        assert.deepEqual([o.slot, o.trial, o.image.version], ['b', true, 2], `cut ${cut}`);
      },
    );
  });

  it('a power cut at every step of a commit leaves the trial or the commit, and version 2 boots', () => {
    const pristine = freshDevice();
    withTrial(pristine);
    ok(slotBoot(pristine).open('mm'));
    cutEverywhere(
      pristine,
      (dir, fs) => void slotBoot(dir, fs).commit('mm'),
      (dir, cut) => {
        const d = slotBoot(dir).state().domains.mm!;
        assert.ok(
          (d.active === 'a' && d.minVersion === 1 && d.trial !== undefined) || (d.active === 'b' && d.minVersion === 2),
          `cut ${cut}`,
        );
        const o = ok(slotBoot(dir).open('mm'));
        assert.deepEqual([o.slot, o.image.version], ['b', 2], `cut ${cut}`);
      },
    );
  });

  it('a power cut at every step of a restore leaves a restore to do again, or the restored slot', () => {
    const pristine = freshDevice();
    tamper(pristine, 'mm', 'a');
    cutEverywhere(
      pristine,
      (dir, fs) => void slotBoot(dir, fs).restore('mm', image('mm', 1)),
      (dir, cut) => {
        const o = slotBoot(dir).open('mm');
        if (o.kind === 'restore') {
          assert.equal(o.version, 1, `cut ${cut}`);
          slotBoot(dir).restore('mm', image('mm', 1));
        }
        const after = ok(slotBoot(dir).open('mm'));
        assert.deepEqual([after.slot, after.trial, after.image.version], ['b', false, 1], `cut ${cut}`);
      },
    );
  });

  it('a corrupt state file is a typed error; rebuild moves it aside and recovers from the slots', () => {
    const dir = freshDevice();
    withTrial(dir);
    writeFileSync(devicePaths(dir).state, '{"format": "dominion-boot-state/1", "domains": ');
    assert.throws(
      () => slotBoot(dir).open('mm'),
      (e: unknown) => e instanceof BootStateError && e.code === 'corrupt',
    );
    assert.throws(
      () => slotBoot(dir).ensureInstalled(factoryImages()),
      (e: unknown) => e instanceof BootStateError && e.code === 'corrupt',
      'never silently a first start',
    );
    tamper(dir, 'sw', 'a');
    const boot = slotBoot(dir);
    const rebuilt = boot.rebuild();
    assert.equal(rebuilt.movedAside, `${devicePaths(dir).state}.corrupt`);
    assert.deepEqual(Object.keys(rebuilt.state.domains).sort(), ['hypervisor', 'mm', 'sm:sensor'], 'sw has no valid slot left');
    assert.deepEqual(
      rebuilt.state.domains.mm!.trial,
      { slot: 'b', version: 2, triesLeft: 3 },
      'the higher version must prove itself again',
    );
    assert.equal(rebuilt.state.domains.mm!.minVersion, 1);
    assert.deepEqual(boot.ensureInstalled(factoryImages()).installed, [{ label: 'sw', version: 1 }]);
    assert.equal(ok(slotBoot(dir).open('sw')).image.version, 1);
    assert.deepEqual([ok(slotBoot(dir).open('mm')).slot, ok(slotBoot(dir).open('mm')).trial], ['b', true]);
    assert.equal(slotBoot(dir).rebuild().movedAside, undefined, 'a readable state is kept as it is');
  });
});
