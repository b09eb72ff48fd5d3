/**
 * How a hub treats a device in its recovery path: quarantine holds the device in recovery mode
 * without resetting it again and again (its `device` instance in recovery and its `mm` keep their
 * tickets; a device running its services is withheld), and an update the instance tried and rolled
 * back is not demanded again (it would loop: reboot, refetch, roll back).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UpdateState, WithholdReason, type MessageInitShape, type RuntimeInfoSchema } from '../../proto/index.ts';
import type { UpdateTarget } from '../../actors/hub/index.ts';
import { deviceRuntime, digestOf, domainRuntime, ihFixture, openReply, signedRequest } from './fixtures.ts';

type RuntimeInit = MessageInitShape<typeof RuntimeInfoSchema>;
const NOW = 1_764_028_800_000;
const MM_OK = domainRuntime([{ name: 'receiver' }, { name: 'forwarder' }]);

function inRecovery(recovery: boolean): RuntimeInit {
  const r = deviceRuntime('2.1.0');
  if (r.report?.case === 'device') return { report: { case: 'device', value: { ...r.report.value, recovery } } };
  return r;
}

function mmWithSlot(version: bigint, update: UpdateState, updateVersion: bigint): RuntimeInit {
  const actors = [{ name: 'receiver' }, { name: 'forwarder' }].map((a) => ({ name: a.name, codeDigest: digestOf(a.name) }));
  return { report: { case: 'domain', value: { actors, slot: { label: 'mm', version, slot: 'a', update, updateVersion } } } };
}

const TARGET: UpdateTarget = {
  version: '5',
  imageDigest: digestOf('manifest-5'),
  fetchTopic: 'dominion/v1/hub/ih-1/request',
  sizeBytes: 1000,
  releaseVersion: 5,
};

describe('quarantine holds a device in recovery mode', () => {
  it('a device running its services is withheld; in recovery mode it and its mm keep their tickets', () => {
    const fx = ihFixture();
    fx.registry.setState(fx.dev.deviceId, 'quarantined');
    const ask = (instance: 'device' | 'mm', runtime: RuntimeInit) =>
      fx.core.handleRequest(
        signedRequest(instance === 'device' ? fx.dev.device : fx.dev.mm, fx.dev.deviceId, instance, runtime).bytes,
        NOW,
      );

    const running = ask('device', inRecovery(false));
    assert.deepEqual([running.outcome, running.reason], ['withheld', 'quarantined']);
    const reply = openReply(running.reply!.payload, fx.hub.publicKey);
    assert.equal(reply.outcome.case === 'withheld' && reply.outcome.value.reason, WithholdReason.QUARANTINED);

    const held = ask('device', inRecovery(true));
    assert.deepEqual([held.outcome, held.reason], ['ticket', 'held-in-recovery']);
    const mm = ask('mm', MM_OK);
    assert.deepEqual([mm.outcome, mm.reason], ['ticket', 'held-in-recovery']);
    // Policy still applies in recovery mode: an intruder in mm is not held, it is withheld.
    const intruded = ask('mm', domainRuntime([{ name: 'receiver' }, { name: 'miner' }]));
    assert.deepEqual([intruded.outcome, intruded.reason], ['withheld', 'foreign-actor']);
  });

  it('a device that is not quarantined is not asked about recovery', () => {
    const fx = ihFixture();
    const d = fx.core.handleRequest(signedRequest(fx.dev.device, fx.dev.deviceId, 'device', inRecovery(true)).bytes, NOW);
    assert.deepEqual([d.outcome, d.reason], ['ticket', 'granted']);
  });
});

describe('a rolled-back update is not demanded again', () => {
  it('UPDATE_REQUIRED until the instance reports the rollback, then tickets (reason update-rolled-back); met once it runs it', () => {
    const fx = ihFixture();
    fx.policy.requireUpdate(fx.dev.deviceId, 'mm', TARGET);
    const ask = (runtime: RuntimeInit) => fx.core.handleRequest(signedRequest(fx.dev.mm, fx.dev.deviceId, 'mm', runtime).bytes, NOW);
    assert.equal(ask(mmWithSlot(4n, UpdateState.COMMITTED, 4n)).outcome, 'update-required');
    assert.equal(ask(mmWithSlot(4n, UpdateState.TRIAL, 5n)).outcome, 'update-required', 'a trial still under way');
    assert.equal(ask(mmWithSlot(4n, UpdateState.ROLLED_BACK, 3n)).outcome, 'update-required', 'an older rollback does not count');
    const rolled = ask(mmWithSlot(4n, UpdateState.ROLLED_BACK, 5n));
    assert.deepEqual([rolled.outcome, rolled.reason], ['ticket', 'update-rolled-back']);
    assert.deepEqual([ask(mmWithSlot(5n, UpdateState.COMMITTED, 5n)).reason], ['granted']);
  });
});
