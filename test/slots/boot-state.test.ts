/**
 * The boot state's pure transitions (actors/slots/boot-state.ts): ordinary restarts change nothing,
 * tries are taken before a trial boots, only `commit` commits, the floor rises at commit and only
 * there, downgrades are refused, rollback and fallback never go below the floor.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addDomain,
  beginDownload,
  bootStateProblem,
  commit,
  failTrial,
  failUpdate,
  fallback,
  fellBack,
  inactiveSlot,
  initialState,
  installedTrial,
  rebuiltDomain,
  restored,
  SlotError,
  startBoot,
  type BootState,
  type SlotErrorCode,
} from '../../actors/slots/index.ts';

const refused = (code: SlotErrorCode) => (e: unknown) => e instanceof SlotError && e.code === code;

/** mm at version 4 in slot a, with version 5 installed as a trial in slot b. */
function withTrial(tries = 3): BootState {
  const s = beginDownload(initialState({ mm: 4 }), 'mm', 5);
  return installedTrial(s, 'mm', inactiveSlot(s, 'mm'), 5, tries);
}

describe('boot state transitions', () => {
  it('starts each domain in slot a with the floor at its version, and refuses bad labels and versions', () => {
    const s = initialState({ sw: 2, 'sm:sensor': 1 });
    assert.deepEqual(s.domains.sw, { active: 'a', versions: { a: 2 }, minVersion: 2 });
    assert.deepEqual(s.domains['sm:sensor'], { active: 'a', versions: { a: 1 }, minVersion: 1 });
    assert.throws(() => initialState({ device: 1 }), refused('bad-label'));
    assert.throws(() => initialState({ 'sm:Bad Name': 1 }), refused('bad-label'));
    assert.throws(() => initialState({ mm: 0 }), refused('bad-version'));
    assert.throws(() => initialState({ mm: 1.5 }), refused('bad-version'));
    assert.throws(() => addDomain(s, 'sw', 3), refused('domain-exists'));
    assert.deepEqual(addDomain(s, 'mm', 7).domains.mm, { active: 'a', versions: { a: 7 }, minVersion: 7 });
    assert.throws(() => startBoot(s, 'mm'), refused('unknown-domain'));
  });

  it('an ordinary restart boots the active slot and returns the very same state object', () => {
    const s = initialState({ mm: 4 });
    const boot = startBoot(s, 'mm');
    assert.equal(boot.state, s);
    assert.equal(boot.slot, 'a');
    assert.equal(boot.trial, false);
  });

  it('takes a try before each trial boot, and rolls back after all tries without changing the floor', () => {
    let s = withTrial(3);
    assert.deepEqual(s.domains.mm!.update, { phase: 'installed', version: 5 });
    assert.equal(s.domains.mm!.minVersion, 4, 'install does not raise the floor');
    for (const left of [2, 1, 0]) {
      const boot = startBoot(s, 'mm');
      assert.equal(boot.trial, true);
      assert.equal(boot.slot, 'b');
      assert.notEqual(boot.state, s);
      s = boot.state;
      assert.equal(s.domains.mm!.trial!.triesLeft, left, 'the try is taken in the state written before the boot');
      assert.equal(s.domains.mm!.update!.phase, 'trial');
      assert.equal(s.domains.mm!.active, 'a', 'booting a trial does not commit it');
      assert.equal(s.domains.mm!.minVersion, 4, 'booting does not raise the floor');
    }
    const last = startBoot(s, 'mm');
    assert.equal(last.trial, false);
    assert.equal(last.slot, 'a');
    assert.equal(last.rolledBack?.version, 5);
    const d = last.state.domains.mm!;
    assert.equal(d.trial, undefined);
    assert.equal(d.update!.phase, 'rolled-back');
    assert.equal(d.minVersion, 4);
    assert.deepEqual(d.versions, { a: 4 }, 'the failed trial slot is nobody’s fallback');
    assert.equal(fallback(last.state, 'mm'), undefined);
    assert.equal(startBoot(last.state, 'mm').state, last.state, 'after the rollback, restarts are ordinary again');
  });

  it('commits only through commit, only a booted trial, and raises the floor there', () => {
    const installed = withTrial();
    assert.equal(commit(installed, 'mm'), installed, 'a trial that never booted cannot be committed');
    const booted = startBoot(installed, 'mm').state;
    const c = commit(booted, 'mm');
    assert.deepEqual(c.domains.mm, { active: 'b', versions: { a: 4, b: 5 }, minVersion: 5, update: { phase: 'committed', version: 5 } });
    assert.equal(commit(c, 'mm'), c, 'no trial: commit changes nothing');
    assert.equal(startBoot(c, 'mm').slot, 'b');
    assert.equal(fallback(c, 'mm'), undefined, 'the previous version is below the new floor: no fallback to it');
  });

  it('failTrial records why, takes no second try, and rolls back at once after the last try', () => {
    const installed = withTrial(2);
    assert.equal(failTrial(installed, 'mm', 'crashed'), installed, 'the old image still runs: a failure is not the trial’s');
    let s = startBoot(installed, 'mm').state;
    s = failTrial(s, 'mm', 'exit code 1');
    assert.equal(s.domains.mm!.trial!.triesLeft, 1, 'the try was taken at boot, not again here');
    assert.deepEqual(s.domains.mm!.update, { phase: 'trial', version: 5, detail: 'exit code 1' });
    s = startBoot(s, 'mm').state;
    assert.equal(s.domains.mm!.update!.detail, 'exit code 1', 'the last failure is kept while the trial runs');
    s = failTrial(s, 'mm', 'AWDT expired');
    const d = s.domains.mm!;
    assert.equal(d.trial, undefined);
    assert.equal(d.active, 'a');
    assert.equal(d.minVersion, 4, 'a failed trial never raises the floor');
    assert.equal(d.update!.phase, 'rolled-back');
    assert.match(d.update!.detail!, /last try: AWDT expired/);
  });

  it('the rollback after all tries names the last failure recorded', () => {
    let s = startBoot(withTrial(2), 'mm').state;
    s = failTrial(s, 'mm', 'segfault');
    s = startBoot(s, 'mm').state; // the last try: this boot is cut before it can report anything
    const boot = startBoot(s, 'mm');
    assert.equal(boot.slot, 'a');
    assert.match(boot.rolledBack!.detail, /trial of version 5 in slot b used all its tries without a commit; last failure: segfault/);
    assert.equal(boot.state.domains.mm!.update!.detail, boot.rolledBack!.detail);
  });

  it('refuses a downgrade below the floor and the version already running; a restore must be the last good version', () => {
    const s = initialState({ mm: 4 });
    assert.throws(() => beginDownload(s, 'mm', 3), refused('downgrade'));
    assert.throws(() => beginDownload(s, 'mm', 4), refused('already-running'));
    assert.throws(() => beginDownload(s, 'mm', 5, { restore: true }), refused('version-mismatch'));
    const r = beginDownload(s, 'mm', 4, { restore: true });
    assert.deepEqual(r.domains.mm!.update, { phase: 'downloading', version: 4 });
    assert.throws(() => installedTrial(s, 'mm', 'a', 5), refused('active-slot'));
    assert.throws(() => installedTrial(s, 'mm', 'b', 3), refused('downgrade'));
    assert.throws(() => installedTrial(s, 'mm', 'b', 5, 0), refused('bad-tries'));
    const committed = commit(startBoot(withTrial(), 'mm').state, 'mm');
    assert.throws(() => beginDownload(committed, 'mm', 4), refused('downgrade'), 'after the commit, 4 is a downgrade');
  });

  it('a download drops what the inactive slot held and any pending trial; failUpdate switches nothing', () => {
    const booted = startBoot(withTrial(), 'mm').state;
    assert.throws(() => beginDownload(booted, 'mm', 5), refused('already-running'), 'the booted trial runs 5');
    const d6 = beginDownload(booted, 'mm', 6);
    assert.deepEqual(d6.domains.mm, { active: 'a', versions: { a: 4 }, minVersion: 4, update: { phase: 'downloading', version: 6 } });
    assert.equal(beginDownload(d6, 'mm', 6), d6, 'asking again for the download in flight changes nothing');
    assert.notEqual(beginDownload(d6, 'mm', 7), d6);
    const failed = failUpdate(d6, 'mm', 'digest mismatch\n');
    assert.deepEqual(failed.domains.mm!.update, { phase: 'failed', version: 6, detail: 'digest mismatch\ufffd' });
    assert.equal(failed.domains.mm!.active, 'a');
    assert.equal(failUpdate(failed, 'mm', 'again'), failed, 'no download in flight: nothing to fail');
    assert.equal(startBoot(failed, 'mm').state, failed);
  });

  it('a restore switches the active slot at once, without a trial; fallback only to a vouched slot at the floor', () => {
    const s = initialState({ mm: 4 });
    assert.throws(() => restored(s, 'mm', 'b', 5), refused('version-mismatch'));
    assert.throws(() => restored(s, 'mm', 'a', 4), refused('active-slot'));
    const r = restored(s, 'mm', 'b', 4);
    assert.deepEqual(r.domains.mm, {
      active: 'b',
      versions: { b: 4 },
      minVersion: 4,
      update: { phase: 'committed', version: 4, detail: 'restored into slot b' },
    });
    assert.equal(startBoot(r, 'mm').state, r);
    // Both slots at the floor (a restore, then the same version restored again): the other one is a fallback.
    const both: BootState = { format: r.format, domains: { mm: { active: 'b', versions: { a: 4, b: 4 }, minVersion: 4 } } };
    assert.equal(fallback(both, 'mm'), 'a');
    assert.deepEqual(fellBack(both, 'mm').domains.mm, { active: 'a', versions: { a: 4 }, minVersion: 4 });
    assert.throws(() => fellBack(s, 'mm'), refused('no-fallback'));
    assert.equal(fallback(withTrial(), 'mm'), undefined, 'a pending trial is not a fallback: it has not proved itself');
  });

  it('every transition keeps the invariants the state file checks', () => {
    const states: BootState[] = [withTrial(), startBoot(withTrial(), 'mm').state, initialState({ sw: 1 })];
    const booted = startBoot(withTrial(1), 'mm').state;
    states.push(booted, commit(booted, 'mm'), failTrial(booted, 'mm', 'x'), startBoot(startBoot(booted, 'mm').state, 'mm').state);
    states.push(restored(initialState({ mm: 2 }), 'mm', 'b', 2), failUpdate(beginDownload(initialState({ mm: 2 }), 'mm', 3), 'mm', 'x'));
    states.push(rebuiltDomain(initialState({}), 'mm', { a: 6, b: 5 }), rebuiltDomain(initialState({}), 'mm', { b: 5 }));
    for (const s of states) assert.equal(bootStateProblem(s), undefined, JSON.stringify(s));
  });

  it('a rebuilt domain makes the lower valid version active and the floor, and a higher one a trial', () => {
    const s = rebuiltDomain(initialState({}), 'mm', { a: 6, b: 5 });
    assert.deepEqual(s.domains.mm, {
      active: 'b',
      versions: { a: 6, b: 5 },
      minVersion: 5,
      trial: { slot: 'a', version: 6, triesLeft: 3 },
      update: { phase: 'installed', version: 6 },
    });
    assert.deepEqual(rebuiltDomain(initialState({}), 'mm', { a: 5, b: 5 }).domains.mm, {
      active: 'a',
      versions: { a: 5, b: 5 },
      minVersion: 5,
    });
    assert.throws(() => rebuiltDomain(initialState({}), 'mm', {}), refused('no-fallback'));
  });
});
