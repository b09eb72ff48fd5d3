/**
 * `dominion rollout --db postgres://…` (docs/ARCHITECTURE.md §7.5): started through the CLI, the
 * cohort asked for the release by a real HubCore on a PgHubStore worker, rollbacks and failures
 * counted in the transaction that stores the reports (one worker's count, another's halt), the halt
 * reaching the other worker within a second by NOTIFY, status, and resume. Skipped without DATABASE_URL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hex } from '../../../actors/crypto/index.ts';
import { HubCore, IH_ROLE, inCohort, PendingBatch, type HubDecision } from '../../../actors/hub/index.ts';
import { pgEnrollKeys, pgReadAudit, type PgHubStore } from '../../../actors/hub/postgres/index.ts';
import { UpdateState } from '../../../proto/index.ts';
import { publishCommand } from '../../../cli/publish.ts';
import { rolloutCommand } from '../../../cli/rollout.ts';
import { digestOf, MM_ACTORS, newDevice, newSigner, signedRequest, tempDir, type DeviceKeys, type RuntimeInit } from '../fixtures.ts';
import { newReleaseKey, writeArtifacts } from '../release-fixture.ts';
import { captureIo, changeApplied, needDatabase, pgIhFixture, schemaUrl } from './pg-fixture.ts';

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

/** Decides one mm request on `store`'s worker and commits it, as the server does before it replies. */
async function askMm(core: HubCore, store: PgHubStore, d: DeviceKeys, runtime: RuntimeInit, nowMs = T0): Promise<HubDecision> {
  const batch = new PendingBatch();
  const { decision } = core.handle(signedRequest(d.mm, d.deviceId, 'mm', runtime).bytes, nowMs, batch);
  await store.commitAsync(batch.take().map((x) => x.effects));
  return decision;
}

async function rollout(args: string[]): Promise<{ code: number; lines: string[]; errors: string[] }> {
  const io = captureIo();
  const code = await rolloutCommand(args, io);
  return { code, lines: io.lines, errors: io.errors };
}

describe('dominion rollout on PostgreSQL', () => {
  it('start through the CLI; the cohort is asked by a worker; failures counted on two workers halt it; the halt reaches both; status; resume', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const fx = await pgIhFixture(t, base);
    const url = schemaUrl(base, fx.schema);
    const devices = Array.from({ length: 10 }, (_, i) => newDevice(`fleet-${String(i).padStart(3, '0')}`));
    for (const d of devices) await pgEnrollKeys(fx.store.pool, d.deviceId, [{ instance: 'mm', publicKey: d.mm.publicKey }]);
    const key = newReleaseKey();
    const io = captureIo();
    assert.equal(
      await publishCommand([writeArtifacts(tempDir(), { key, version: 5 }).dir, '--db', url, '--release-pub', hex(key.publicKey)], io),
      0,
    );
    const other = await fx.worker();
    const workers = [fx.store, other];
    const signer = newSigner();
    const [core1, core2] = workers.map((store) => new HubCore({ role: IH_ROLE, signer, store }));
    const cohort = devices.filter((d) => inCohort(5, 'mm', d.deviceId, 50)); // fleet-002, -003, -005, -009
    const outside = devices.filter((d) => !cohort.includes(d));
    const cohortSize = [...devices, fx.dev].filter((d) => inCohort(5, 'mm', d.deviceId, 50)).length;
    assert.ok(cohort.length >= 3 && outside.length > 0);

    const active = (store: PgHubStore): boolean => store.snapshot.rollout('mm')?.state === 'active';
    const seen = workers.map((w, i) => changeApplied(w, () => active(w), `worker ${i} sees the rollout`));
    let r = await rollout(['--db', url, '--release', '5', '--instance', 'mm', '--percent', '50', '--max-rollbacks', '2']);
    assert.equal(r.code, 0, r.errors.join('\n'));
    assert.deepEqual(r.lines, [
      `mm: rollout of release 5 started at 50 %: cohort ${cohortSize} of 11 active device(s), halts at 2 rollback(s) or failure(s); audited`,
    ]);
    await Promise.all(seen); // NOTIFY: each worker within a second

    for (const d of devices) {
      const decision = await askMm(core1, fx.store, d, mm(4));
      const expected = cohort.includes(d) ? ['update-required', 'rollout-update'] : ['ticket', 'granted'];
      assert.deepEqual([decision.outcome, decision.reason], expected, d.deviceId);
    }
    assert.equal((await fx.store.pool.query('SELECT count(*)::int AS n FROM operator_hold')).rows[0].n, 0, 'no hold per device');

    const [rolled, failed, waiting] = cohort;
    // An outside device rolling back the release does not count; a cohort device counts once, however often it reports.
    await askMm(core1, fx.store, outside[0]!, mm(4, UpdateState.ROLLED_BACK, 5));
    const first = await askMm(core1, fx.store, rolled!, mm(4, UpdateState.ROLLED_BACK, 5));
    assert.deepEqual([first.outcome, first.reason], ['ticket', 'update-rolled-back']);
    await askMm(core1, fx.store, rolled!, mm(4, UpdateState.ROLLED_BACK, 5), T0 + 1);
    r = await rollout(['--db', url, '--status', '--json']);
    let status = JSON.parse(r.lines[0]!) as { state: string; failures: number; progress: Record<string, number> };
    assert.deepEqual([status.state, status.failures, status.progress['rolled-back']], ['active', 1, 1]);
    assert.equal((await askMm(core2, other, waiting!, mm(4))).outcome, 'update-required', 'one of two: still rolling out');

    // The second failure, stored by the other worker, halts the rollout in its transaction; the first worker hears of it.
    const halted = workers.map((w, i) => changeApplied(w, () => w.snapshot.rollout('mm')?.state === 'halted', `worker ${i} sees the halt`));
    await askMm(core2, other, failed!, mm(4, UpdateState.FAILED, 5), T0 + 2);
    await Promise.all(halted);
    assert.deepEqual([(await askMm(core1, fx.store, waiting!, mm(4))).reason], ['granted'], 'halted: nobody is asked');

    const rows = (await pgReadAudit(fx.store.pool)).filter((e) => e.outcome === 'rollout');
    assert.deepEqual(
      rows.map((e) => [e.reason, e.deviceId, e.instance, e.hubId]),
      [
        ['rollout-failure', rolled!.deviceId, 'mm', 'ih-pg'],
        ['rollout-failure', failed!.deviceId, 'mm', 'ih-pg'],
        ['rollout-halt', failed!.deviceId, 'mm', 'ih-pg'],
      ],
    );
    assert.equal(rows[0]!.detail, 'release 5: rolled-back (1 of 2 before the rollout halts)');
    assert.equal(rows[1]!.detail, 'release 5: failed (2 of 2 before the rollout halts)');

    r = await rollout(['--db', url, '--status']);
    assert.equal(r.code, 0);
    assert.equal(r.lines[0], `mm release 5: halted at 50 %, cohort ${cohortSize} of 11 active device(s)`);
    assert.equal(r.lines[2], '  rollbacks or failures counted: 2 (halts at 2)');
    assert.match(
      r.lines[4]!,
      new RegExp(
        `^ {2}halted \\S+: automatic: 2 cohort device\\(s\\) rolled back or failed \\(--max-rollbacks 2\\); the last: ${failed!.deviceId} failed$`,
      ),
    );
    status = JSON.parse((await rollout(['--db', url, '--status', '--json'])).lines[0]!);
    assert.deepEqual([status.progress['rolled-back'], status.progress.failed], [1, 1]);

    r = await rollout(['--db', url, '--resume', '--instance', 'mm']);
    assert.equal(r.code, 1);
    assert.match(
      r.errors[0]!,
      /^dominion rollout: the rollout of release 5 for mm has counted 2 rollback\(s\) or failure\(s\), at its limit of 2/,
    );
    const resumed = workers.map((w, i) => changeApplied(w, () => active(w), `worker ${i} sees the resume`));
    r = await rollout(['--db', url, '--resume', '--instance', 'mm', '--max-rollbacks', '3']);
    assert.deepEqual(r.lines, ['mm: rollout of release 5 resumed at 50 % (halts at 3 rollback(s) or failure(s), 2 counted); audited']);
    await Promise.all(resumed);
    assert.equal((await askMm(core2, other, waiting!, mm(4))).outcome, 'update-required');
    const operator = (await pgReadAudit(fx.store.pool)).filter((e) => e.outcome === 'operator' && e.reason.startsWith('rollout'));
    assert.deepEqual(
      operator.map((e) => e.reason),
      ['rollout', 'rollout-resume'],
    );
  });

  it('widen, halt by hand and the refusals, on PostgreSQL as on SQLite', async (t) => {
    const base = needDatabase(t);
    if (base === undefined) return;
    const fx = await pgIhFixture(t, base);
    const url = schemaUrl(base, fx.schema);
    const key = newReleaseKey();
    const io = captureIo();
    assert.equal(
      await publishCommand([writeArtifacts(tempDir(), { key, version: 5 }).dir, '--db', url, '--release-pub', hex(key.publicKey)], io),
      0,
    );

    let r = await rollout(['--db', url, '--status']);
    assert.deepEqual([r.code, r.lines], [0, ['no rollouts in place (dominion rollout --release <n> --instance <i> --percent <p> …)']]);
    r = await rollout(['--db', url, '--release', '9', '--instance', 'mm', '--percent', '10']);
    assert.deepEqual(
      [r.code, r.errors[0]],
      [1, 'dominion rollout: release 9 of mm is not published here (dominion publish; dominion releases lists what is)'],
    );
    assert.equal((await rollout(['--db', url, '--release', '5', '--instance', 'mm', '--percent', '10'])).code, 0);
    r = await rollout(['--db', url, '--release', '5', '--instance', 'mm', '--percent', '40']);
    assert.match(
      r.lines[0]!,
      /^mm: rollout of release 5 widened from 10 % to 40 %: cohort \d of 1 active device\(s\), halts at 1 rollback/,
    );
    r = await rollout(['--db', url, '--release', '5', '--instance', 'mm', '--percent', '20']);
    assert.match(r.errors[0]!, /the rollout of release 5 for mm is at 40 %; a rollout only widens/);
    r = await rollout(['--db', url, '--release', '5', '--instance', 'mm', '--percent', '40']);
    assert.match(r.lines[0]!, /is at 40 % already: .*; nothing changed$/);

    const halted = changeApplied(fx.store, () => fx.store.snapshot.rollout('mm')?.state === 'halted', 'the worker sees the halt');
    r = await rollout(['--db', url, '--halt', '--reason', 'drill']);
    assert.deepEqual(r.lines, ['mm: rollout of release 5 halted at 40 % (audited)']);
    await halted;
    r = await rollout(['--db', url, '--halt']);
    assert.deepEqual(r.lines, ['mm: rollout of release 5 was halted already (operator: drill)']);
    r = await rollout(['--db', url, '--release', '5', '--instance', 'mm', '--percent', '80']);
    assert.match(r.errors[0]!, /is halted \(operator: drill\); resume it first/);
    r = await rollout(['--db', url, '--halt', '--instance', 'device']);
    assert.deepEqual([r.code, r.errors[0]], [1, 'dominion rollout: no rollout in place for device']);
    const audit = (await pgReadAudit(fx.store.pool)).filter((e) => e.outcome === 'operator' && e.reason.startsWith('rollout'));
    assert.deepEqual(
      audit.map((e) => [e.reason, e.detail]),
      [
        ['rollout', 'release 5 to 10 % of devices, halts at 1 rollback(s) or failure(s)'],
        ['rollout', 'release 5 widened from 10 % to 40 %'],
        ['rollout-halt', 'release 5 halted at 40 %: operator: drill'],
      ],
    );
  });
});
