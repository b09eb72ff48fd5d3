/**
 * Staged rollouts (`dominion rollout`): a deterministic cohort that only grows with the percent; its
 * devices asked for the release (UPDATE_REQUIRED, as require-update --release builds it), the others
 * given tickets, with no hold written per device; rollbacks and failures of cohort devices counted as
 * their reports are stored, and the rollout halted at --max-rollbacks; halt and resume by hand; the
 * status read off the stored slot reports; an explicit require-update or withhold winning.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bytesEqual } from '../../actors/crypto/index.ts';
import {
  cohortPoint,
  IH_ROLE,
  inCohort,
  rolloutFailure,
  rolloutProgress,
  type HubDecision,
  type SlotRecord,
} from '../../actors/hub/index.ts';
import {
  changeDeviceState,
  enrollKeys,
  haltRollouts,
  HubStoreError,
  publishArtifacts,
  readAudit,
  releaseTarget,
  requireInstanceUpdate,
  resumeRollout,
  rolloutStatus,
  setFleetPolicy,
  SqliteHubStore,
  startRollout,
  withholdInstance,
} from '../../actors/hub/sqlite/index.ts';
import { UpdateState, type Instance } from '../../proto/index.ts';
import {
  digestOf,
  ihRules,
  MM_ACTORS,
  newDevice,
  newSigner,
  openReply,
  signedRequest,
  stagedHub,
  tempDir,
  type DeviceKeys,
  type RuntimeInit,
  type StagedHub,
} from './fixtures.ts';
import { newReleaseKey, writeArtifacts } from './release-fixture.ts';

const T0 = 1_764_028_800_000;

/** mm's runtime: the allowed actors, and its slot at `version` with an update state for `updateVersion`. */
function mm(version: number, update = UpdateState.COMMITTED, updateVersion = version): RuntimeInit {
  const actors = MM_ACTORS.map((name) => ({ name, codeDigest: digestOf(name) }));
  return {
    report: {
      case: 'domain',
      value: { actors, slot: { label: 'mm', version: BigInt(version), slot: 'a', update, updateVersion: BigInt(updateVersion) } },
    },
  };
}

interface Fleet extends StagedHub {
  readonly path: string;
  readonly store: SqliteHubStore;
  readonly devices: readonly DeviceKeys[];
  /** The hub's public key, to open its replies. */
  readonly hubKey: Uint8Array;
  /** Asks for mm's ticket as `device`, and commits (as the server does before it answers). */
  askMm(device: DeviceKeys, runtime: RuntimeInit, nowMs?: number): HubDecision;
  /** The same for the `device` instance (K_I). */
  askDevice(device: DeviceKeys, runtime: RuntimeInit, nowMs?: number): HubDecision;
  close(): void;
}

/** An IH with `count` devices (ids fleet-000 …, so cohorts are the same on every run) and mm releases published. */
function fleet(count = 40, releases: readonly number[] = [4, 5, 6]): Fleet {
  const dir = tempDir('dominion-rollout-');
  const path = join(dir, 'ih.db');
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId: 'ih-test', role: IH_ROLE } });
  setFleetPolicy(store.db, ihRules());
  const key = newReleaseKey();
  for (const version of releases) {
    publishArtifacts(store.db, writeArtifacts(dir, { key, version }).dir, { releasePub: key.publicKey });
  }
  const devices = Array.from({ length: count }, (_, i) => newDevice(`fleet-${String(i).padStart(3, '0')}`));
  for (const d of devices) {
    enrollKeys(store.db, d.deviceId, [
      { instance: 'device', publicKey: d.device.publicKey },
      { instance: 'mm', publicKey: d.mm.publicKey },
    ]);
  }
  const signer = newSigner();
  const hub = stagedHub(store, signer);
  return {
    ...hub,
    hubKey: signer.publicKey,
    path,
    store,
    devices,
    askMm(device, runtime, nowMs = T0) {
      const d = hub.ask(signedRequest(device.mm, device.deviceId, 'mm', runtime).bytes, nowMs);
      hub.commit();
      return d;
    },
    askDevice(device, runtime, nowMs = T0) {
      const d = hub.ask(signedRequest(device.device, device.deviceId, 'device', runtime).bytes, nowMs);
      hub.commit();
      return d;
    },
    close: () => store.close(),
  };
}

/** The device instance's runtime: firmware above the policy's floor, sw and hypervisor slots. */
function firmware(sw: number, hypervisor: number, update?: UpdateState, updateVersion?: number): RuntimeInit {
  return {
    report: {
      case: 'device',
      value: {
        firmwareVersion: '2.1.0',
        manifestDigest: digestOf('manifest'),
        slots: [
          { label: 'sw', version: BigInt(sw), slot: 'a' },
          { label: 'hypervisor', version: BigInt(hypervisor), slot: 'a', update, updateVersion: BigInt(updateVersion ?? 0) },
        ],
      },
    },
  };
}

function cohortOf(devices: readonly DeviceKeys[], release: number, instance: Instance, percent: number): DeviceKeys[] {
  return devices.filter((d) => inCohort(release, instance, d.deviceId, percent));
}

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof HubStoreError && err.code === 'refused' && pattern.test(err.message));
}

describe('rollout cohort', () => {
  const ids = Array.from({ length: 2000 }, (_, i) => `board-${i}`);

  it('is deterministic, and monotone in the percent: widening never drops a device', () => {
    assert.equal(cohortPoint(5, 'mm', 'board-1'), cohortPoint(5, 'mm', 'board-1'));
    let previous = new Set<string>();
    for (let percent = 1; percent <= 100; percent++) {
      const members = new Set(ids.filter((id) => inCohort(5, 'mm', id, percent)));
      for (const id of previous) assert.ok(members.has(id), `${id} dropped at ${percent} %`);
      previous = members;
    }
    assert.equal(previous.size, ids.length, 'everyone at 100 %');
    const at10 = ids.filter((id) => inCohort(5, 'mm', id, 10)).length;
    assert.ok(at10 > 140 && at10 < 260, `about 10 % of 2000, got ${at10}`);
  });

  it('differs by release and instance, so each release starts on another slice of the fleet', () => {
    const slice = (release: number, instance: string): string => ids.filter((id) => inCohort(release, instance, id, 10)).join();
    assert.notEqual(slice(5, 'mm'), slice(6, 'mm'));
    assert.notEqual(slice(5, 'mm'), slice(5, 'device'));
  });

  it('progress and failures come from the slot reports (device: its least advanced label)', () => {
    const slot = (label: string, version: number, update?: SlotRecord['update'], updateVersion?: number): SlotRecord => ({
      label,
      version,
      ...(update !== undefined ? { update } : {}),
      ...(updateVersion !== undefined ? { updateVersion } : {}),
    });
    assert.equal(rolloutProgress('mm', 5, []), 'pending');
    assert.equal(rolloutProgress('mm', 5, [slot('mm', 4, 'committed', 4)]), 'pending');
    assert.equal(rolloutProgress('mm', 5, [slot('mm', 4, 'downloading', 5)]), 'downloading');
    assert.equal(rolloutProgress('mm', 5, [slot('mm', 5, 'trial', 5)]), 'trial');
    assert.equal(rolloutProgress('mm', 5, [slot('mm', 5, 'committed', 5)]), 'committed');
    assert.equal(rolloutProgress('mm', 5, [slot('mm', 6)]), 'committed', 'a later release meets it');
    assert.equal(rolloutProgress('mm', 5, [slot('mm', 4, 'rolled-back', 5)]), 'rolled-back');
    assert.equal(rolloutProgress('mm', 5, [slot('mm', 4, 'rolled-back', 3)]), 'pending', 'another release rolled back');
    assert.equal(rolloutProgress('device', 5, [slot('sw', 5, 'committed', 5), slot('hypervisor', 5, 'trial', 5)]), 'trial');
    assert.equal(rolloutProgress('device', 5, [slot('sw', 5, 'committed', 5)]), 'pending', 'no hypervisor report');
    assert.equal(rolloutFailure('device', 5, [slot('sw', 5, 'committed', 5), slot('hypervisor', 4, 'failed', 5)]), 'failed');
    assert.equal(rolloutFailure('mm', 5, [slot('mm', 4, 'rolled-back', 5)]), 'rolled-back');
    assert.equal(rolloutFailure('mm', 5, [slot('mm', 4, 'rolled-back', 6)]), undefined);
    assert.equal(rolloutFailure('mm', 5, [slot('sm:x', 4, 'rolled-back', 5)]), undefined);
  });
});

describe('dominion rollout on a hub database', () => {
  it('cohort devices get UPDATE_REQUIRED for the release, the others tickets; widening keeps the cohort; no hold per device', () => {
    const f = fleet();
    try {
      const started = startRollout(f.store.db, { instance: 'mm', release: 5, percent: 25, nowMs: T0 });
      assert.equal(started.change, 'started');
      const cohort25 = cohortOf(f.devices, 5, 'mm', 25);
      assert.ok(cohort25.length > 0 && cohort25.length < f.devices.length, `a strict subset, got ${cohort25.length}`);
      assert.deepEqual(started.size, { cohort: cohort25.length, activeDevices: 40 });
      const target = releaseTarget(f.store.db, 'mm', 5);
      for (const d of f.devices) {
        const decision = f.askMm(d, mm(4));
        if (cohort25.includes(d)) {
          assert.deepEqual([decision.outcome, decision.reason], ['update-required', 'rollout-update'], d.deviceId);
          const reply = openReply(decision.reply!.payload, f.hubKey);
          assert.ok(reply.outcome.case === 'updateRequired');
          const u = reply.outcome.value;
          assert.equal(u.releaseVersion, 5n);
          assert.equal(u.version, target.version);
          assert.equal(u.fetchTopic, target.fetchTopic);
          assert.equal(u.sizeBytes, BigInt(target.sizeBytes));
          assert.ok(bytesEqual(u.imageDigest, target.imageDigest), 'the target require-update --release builds');
        } else {
          assert.deepEqual([decision.outcome, decision.reason], ['ticket', 'granted'], d.deviceId);
        }
      }
      assert.equal(f.store.db.prepare('SELECT count(*) FROM operator_hold').pluck().get(), 0, 'no hold written per device');

      const widened = startRollout(f.store.db, { instance: 'mm', release: 5, percent: 60, nowMs: T0 + 1 });
      assert.deepEqual([widened.change, widened.fromPercent], ['widened', 25]);
      const cohort60 = cohortOf(f.devices, 5, 'mm', 60);
      assert.ok(cohort25.every((d) => cohort60.includes(d)) && cohort60.length > cohort25.length);
      for (const d of f.devices) {
        assert.equal(f.askMm(d, mm(4)).outcome, cohort60.includes(d) ? 'update-required' : 'ticket', d.deviceId);
      }
      // A cohort device that runs the release gets its ticket.
      assert.deepEqual([f.askMm(cohort25[0]!, mm(5)).reason], ['granted']);
      assert.equal(startRollout(f.store.db, { instance: 'mm', release: 5, percent: 60 }).change, 'unchanged');
      refuses(() => startRollout(f.store.db, { instance: 'mm', release: 5, percent: 30 }), /at 60 %; a rollout only widens/);

      const audit = readAudit(f.store.db).filter((e) => e.reason === 'rollout');
      assert.deepEqual(
        audit.map((e) => [e.outcome, e.instance, e.detail]),
        [
          ['operator', 'mm', 'release 5 to 25 % of devices, halts at 1 rollback(s) or failure(s)'],
          ['operator', 'mm', 'release 5 widened from 25 % to 60 %'],
        ],
      );
    } finally {
      f.close();
    }
  });

  it('halts when --max-rollbacks cohort devices roll back or fail: nobody newly asked, committed devices unaffected', () => {
    const f = fleet();
    try {
      startRollout(f.store.db, { instance: 'mm', release: 5, percent: 50, maxRollbacks: 2, nowMs: T0 });
      const cohort = cohortOf(f.devices, 5, 'mm', 50);
      const outside = f.devices.filter((d) => !cohort.includes(d));
      const [committed, rolled, failed, waiting] = cohort;
      assert.ok(waiting !== undefined && outside.length > 0);

      const invalidations = f.store.cache.invalidations;
      assert.equal(f.askMm(committed!, mm(5, UpdateState.COMMITTED, 5)).reason, 'granted');
      // An outside device that rolled back the release (say, by an explicit require-update) does not count.
      assert.equal(f.askMm(outside[0]!, mm(4, UpdateState.ROLLED_BACK, 5)).outcome, 'ticket');
      assert.equal(rolloutStatus(f.store.db)[0]!.failures, 0);

      const r1 = f.askMm(rolled!, mm(4, UpdateState.ROLLED_BACK, 5));
      assert.deepEqual([r1.outcome, r1.reason], ['ticket', 'update-rolled-back'], 'not asked again');
      f.askMm(rolled!, mm(4, UpdateState.ROLLED_BACK, 5), T0 + 1); // its reports repeat; it counts once
      let status = rolloutStatus(f.store.db)[0]!;
      assert.deepEqual([status.state, status.failures], ['active', 1]);
      assert.equal(f.askMm(waiting!, mm(4)).outcome, 'update-required', 'one of two: still rolling out');

      const written = (): unknown => f.store.db.prepare("SELECT count(*) FROM audit WHERE outcome = 'rollout'").pluck().get();
      assert.equal(written(), 1, 'repeated reports write nothing more');
      assert.equal(f.store.cache.invalidations, invalidations, 'requests and counts leave the config cache alone');
      f.askMm(failed!, mm(4, UpdateState.FAILED, 5), T0 + 2);
      assert.equal(f.store.cache.invalidations, invalidations + 1, 'the halt moves the config version');
      status = rolloutStatus(f.store.db)[0]!;
      assert.deepEqual([status.state, status.failures], ['halted', 2]);
      assert.match(
        status.haltReason!,
        /^automatic: 2 cohort device\(s\) rolled back or failed \(--max-rollbacks 2\); the last: fleet-\d+ failed$/,
      );
      assert.equal(status.haltedAtMs, T0 + 2);

      // Halted: no cohort device is asked for the release any more; the committed one keeps its tickets.
      for (const d of cohort.slice(3)) assert.deepEqual([f.askMm(d, mm(4)).reason], ['granted'], d.deviceId);
      assert.equal(f.askMm(committed!, mm(5)).reason, 'granted');
      assert.equal(f.store.db.prepare('SELECT count(*) FROM rollout_failure').pluck().get(), 2);

      const rows = readAudit(f.store.db).filter((e) => e.outcome === 'rollout');
      assert.deepEqual(
        rows.map((e) => [e.reason, e.deviceId, e.instance, e.hubId]),
        [
          ['rollout-failure', rolled!.deviceId, 'mm', 'ih-test'],
          ['rollout-failure', failed!.deviceId, 'mm', 'ih-test'],
          ['rollout-halt', failed!.deviceId, 'mm', 'ih-test'],
        ],
      );
      assert.equal(rows[0]!.detail, 'release 5: rolled-back (1 of 2 before the rollout halts)');
      assert.match(rows[2]!.detail!, /^release 5 halted at 50 %: automatic: /);

      // Resuming needs a limit above what was counted; widening a halted rollout is refused.
      refuses(() => resumeRollout(f.store.db, { instance: 'mm' }), /counted 2 rollback\(s\) or failure\(s\), at its limit of 2/);
      refuses(() => startRollout(f.store.db, { instance: 'mm', release: 5, percent: 80 }), /is halted .*resume it first/);
      const resumed = resumeRollout(f.store.db, { instance: 'mm', maxRollbacks: 3 });
      assert.deepEqual([resumed.state, resumed.maxRollbacks], ['active', 3]);
      assert.equal(f.askMm(waiting!, mm(4)).outcome, 'update-required');
    } finally {
      f.close();
    }
  });

  it('a rollout of the device instance asks for sw and hypervisor together; a failed hypervisor counts', () => {
    const f = fleet(10);
    try {
      startRollout(f.store.db, { instance: 'device', release: 5, percent: 100, maxRollbacks: 2, nowMs: T0 });
      const [a, b] = f.devices;
      const asked = f.askDevice(a!, firmware(4, 4));
      assert.deepEqual([asked.outcome, asked.reason], ['update-required', 'rollout-update']);
      const reply = openReply(asked.reply!.payload, f.hubKey);
      assert.equal(reply.outcome.case === 'updateRequired' && reply.outcome.value.sizeBytes, 120_000n, 'sw and hypervisor');
      assert.equal(f.askDevice(a!, firmware(5, 4)).outcome, 'update-required', 'both images must run it');
      assert.equal(f.askDevice(a!, firmware(5, 5, UpdateState.COMMITTED, 5)).reason, 'granted');
      // FAILED is not a rollback: the device may fetch again, and is still asked; it counts towards the halt.
      assert.equal(f.askDevice(b!, firmware(4, 4, UpdateState.FAILED, 5)).outcome, 'update-required');
      const s = rolloutStatus(f.store.db)[0]!;
      assert.deepEqual([s.state, s.failures, s.progress.committed, s.progress.failed, s.progress.pending], ['active', 1, 1, 1, 8]);
    } finally {
      f.close();
    }
  });

  it('another hub process on the database sees the halt at its next request', async () => {
    const f = fleet(20);
    const other = SqliteHubStore.open({ path: f.path });
    try {
      startRollout(f.store.db, { instance: 'mm', release: 5, percent: 100, nowMs: T0 });
      const hub2 = stagedHub(other, newSigner());
      const [a, b] = f.devices;
      assert.equal(hub2.ask(signedRequest(a!.mm, a!.deviceId, 'mm', mm(4)).bytes, T0).outcome, 'update-required');
      hub2.commit();
      f.askMm(b!, mm(4, UpdateState.ROLLED_BACK, 5));
      await new Promise((resolve) => setImmediate(resolve)); // the next socket read
      assert.deepEqual([hub2.ask(signedRequest(a!.mm, a!.deviceId, 'mm', mm(4)).bytes, T0).reason], ['granted']);
      hub2.commit();
    } finally {
      other.close();
      f.close();
    }
  });

  it('halt and resume by hand; --halt with no instance stops every active rollout', () => {
    const f = fleet(20);
    try {
      refuses(() => haltRollouts(f.store.db), /no rollout in place on this hub/);
      startRollout(f.store.db, { instance: 'mm', release: 5, percent: 100, nowMs: T0 });
      startRollout(f.store.db, { instance: 'device', release: 5, percent: 10, nowMs: T0 });
      const d = f.devices[0]!;
      assert.equal(f.askMm(d, mm(4)).outcome, 'update-required');

      const { halted, alreadyHalted } = haltRollouts(f.store.db, { reason: 'field reports', nowMs: T0 + 5 });
      assert.deepEqual(
        halted.map((r) => [r.instance, r.state, r.haltReason]),
        [
          ['device', 'halted', 'operator: field reports'],
          ['mm', 'halted', 'operator: field reports'],
        ],
      );
      assert.deepEqual(alreadyHalted, []);
      assert.equal(f.askMm(d, mm(4)).reason, 'granted');
      assert.deepEqual(haltRollouts(f.store.db, { instance: 'mm' }).alreadyHalted.length, 1);
      refuses(() => haltRollouts(f.store.db, { instance: 'sm:weather' as Instance }), /no rollout in place for sm:weather/);
      refuses(() => resumeRollout(f.store.db, { instance: 'mm', release: 6 }), /rollout in place for mm is of release 5, not 6/);

      resumeRollout(f.store.db, { instance: 'mm', nowMs: T0 + 6 });
      assert.equal(f.askMm(d, mm(4)).outcome, 'update-required');
      refuses(() => resumeRollout(f.store.db, { instance: 'mm' }), /is active, not halted/);
      assert.deepEqual(
        readAudit(f.store.db)
          .filter((e) => e.reason === 'rollout-halt' || e.reason === 'rollout-resume')
          .map((e) => [e.reason, e.instance]),
        [
          ['rollout-halt', 'device'],
          ['rollout-halt', 'mm'],
          ['rollout-resume', 'mm'],
        ],
      );
    } finally {
      f.close();
    }
  });

  it('an explicit require-update wins until met; a withhold wins always; quarantined devices are not asked', () => {
    const f = fleet(40);
    try {
      startRollout(f.store.db, { instance: 'mm', release: 6, percent: 30, nowMs: T0 });
      const cohort = cohortOf(f.devices, 6, 'mm', 30);
      const outside = f.devices.find((d) => !cohort.includes(d))!;
      const [pinned, withheld, quarantined] = cohort;

      requireInstanceUpdate(f.store.db, pinned!.deviceId, 'mm', releaseTarget(f.store.db, 'mm', 4));
      let d = f.askMm(pinned!, mm(3));
      assert.deepEqual([d.outcome, d.reason], ['update-required', 'operator-update']);
      let reply = openReply(d.reply!.payload, f.hubKey);
      assert.equal(reply.outcome.case === 'updateRequired' && reply.outcome.value.releaseVersion, 4n);
      d = f.askMm(pinned!, mm(4));
      assert.deepEqual([d.outcome, d.reason], ['update-required', 'rollout-update'], 'met: the rollout applies');
      reply = openReply(d.reply!.payload, f.hubKey);
      assert.equal(reply.outcome.case === 'updateRequired' && reply.outcome.value.releaseVersion, 6n);

      // Outside the cohort, a require-update of the rollout's release still asks for it.
      requireInstanceUpdate(f.store.db, outside.deviceId, 'mm', releaseTarget(f.store.db, 'mm', 6));
      assert.deepEqual([f.askMm(outside, mm(4)).reason], ['operator-update']);

      withholdInstance(f.store.db, withheld!.deviceId, 'mm', 'investigating');
      assert.deepEqual([f.askMm(withheld!, mm(4)).reason], ['operator-withheld']);

      changeDeviceState(f.store.db, quarantined!.deviceId, 'quarantine');
      assert.deepEqual([f.askMm(quarantined!, mm(4)).reason], ['held-in-recovery']);

      // Rollouts never hold boots: the boot controls name no required release.
      assert.equal(f.store.policy.bootControls(cohort[3]!.deviceId).required.size, 0);
      const status = rolloutStatus(f.store.db)[0]!;
      assert.equal(status.cohort, cohort.length - 1, 'the quarantined device is not active');
    } finally {
      f.close();
    }
  });

  it('a newer release supersedes the rollout in place; older or superseded releases are refused', () => {
    const f = fleet(20);
    try {
      startRollout(f.store.db, { instance: 'mm', release: 5, percent: 100, nowMs: T0 });
      haltRollouts(f.store.db, { instance: 'mm' });
      const six = startRollout(f.store.db, { instance: 'mm', release: 6, percent: 10, nowMs: T0 + 1 });
      assert.deepEqual([six.change, six.superseded], ['started', 5]);
      refuses(
        () => startRollout(f.store.db, { instance: 'mm', release: 4, percent: 10 }),
        /older than the rollout of mm in place \(release 6\)/,
      );
      refuses(() => startRollout(f.store.db, { instance: 'mm', release: 5, percent: 10 }), /rolled out before and superseded/);
      refuses(() => startRollout(f.store.db, { instance: 'mm', release: 9, percent: 10 }), /release 9 of mm is not published here/);
      refuses(() => startRollout(f.store.db, { instance: 'sm:weather', release: 6, percent: 10 }), /does not dominate sm:weather/);
      refuses(() => startRollout(f.store.db, { instance: 'mm', release: 6, percent: 0 }), /--percent must be an integer from 1 to 100/);
      assert.deepEqual(
        rolloutStatus(f.store.db).map((r) => [r.release, r.state]),
        [[6, 'active']],
      );
      assert.deepEqual(
        rolloutStatus(f.store.db, { all: true }).map((r) => [r.release, r.state]),
        [
          [6, 'active'],
          [5, 'superseded'],
        ],
      );
    } finally {
      f.close();
    }
  });

  it('status counts the cohort by update state from the stored reports; done at 100 % once all have settled', () => {
    const f = fleet(6);
    try {
      startRollout(f.store.db, { instance: 'mm', release: 5, percent: 100, maxRollbacks: 5, nowMs: T0 });
      const [a, b, c, d, e, g] = f.devices;
      f.askMm(a!, mm(5, UpdateState.COMMITTED, 5));
      f.askMm(b!, mm(5, UpdateState.TRIAL, 5));
      f.askMm(c!, mm(4, UpdateState.DOWNLOADING, 5));
      f.askMm(d!, mm(4, UpdateState.ROLLED_BACK, 5));
      f.askMm(e!, mm(4));
      void g; // never asked
      let s = rolloutStatus(f.store.db)[0]!;
      assert.deepEqual(
        { state: s.state, cohort: s.cohort, active: s.activeDevices, failures: s.failures },
        { state: 'active', cohort: 6, active: 6, failures: 1 },
      );
      assert.deepEqual(s.progress, { 'rolled-back': 1, failed: 0, pending: 2, downloading: 1, installed: 0, trial: 1, committed: 1 });
      for (const x of [b, c, e, g]) f.askMm(x!, mm(5, UpdateState.COMMITTED, 5));
      s = rolloutStatus(f.store.db)[0]!;
      assert.equal(s.state, 'done', 'every cohort device runs it or rolled back from it');
      assert.equal(s.progress.committed, 5);
    } finally {
      f.close();
    }
  });
});
