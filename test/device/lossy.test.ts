/**
 * The ticket loop on a lossy network (docs/ARCHITECTURE.md §2.2): with the default deferral of
 * DEFERRAL_ROUNDS intervals, DEFERRAL_ROUNDS − 2 whole rounds of lost replies are survived, and one
 * more is not; a lost reply is made good by the retry, which asks for a fresh nonce the hub has not
 * answered yet. Replies are lost after the hub answered — the case a resent request cannot mend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFERRAL_ROUNDS, defaultDeferralMs } from '../../actors/device/index.ts';
import { ResetReason } from '../../proto/index.ts';
import { eventsOf, simFleet } from '../support/fleet.ts';

const INTERVAL_MS = 1000;

/** A fleet at the default deferral whose replies (to every instance) are lost while `lost(now)`. */
function lossyFleet(lost: (nowMs: number) => boolean) {
  const f = simFleet({
    intervalMs: INTERVAL_MS,
    deferralMs: defaultDeferralMs(INTERVAL_MS),
    tamper: (instance, envelope, deliver) => (lost(f.clock.now()) ? undefined : deliver(instance, envelope)),
  });
  return f;
}

function lastTicketBefore(f: ReturnType<typeof lossyFleet>, instance: string, atMs: number) {
  return eventsOf(f.events, 'ticket', instance)
    .filter((t) => t.at < atMs)
    .at(-1)!;
}

test(`the default deferral (${DEFERRAL_ROUNDS} rounds) survives ${DEFERRAL_ROUNDS - 2} consecutive rounds with every reply lost`, () => {
  const from = 5 * INTERVAL_MS;
  const until = from + (DEFERRAL_ROUNDS - 2) * INTERVAL_MS;
  const f = lossyFleet((now) => now >= from && now < until);
  f.device.boot();
  f.clock.advance(until + 3 * INTERVAL_MS);

  assert.deepEqual(eventsOf(f.events, 'expired'), [], 'no instance expired');
  assert.deepEqual(eventsOf(f.events, 'reset'), [], 'the device never reset');
  for (const instance of ['device', 'mm', 'sm:sensor']) {
    const during = eventsOf(f.events, 'ticket', instance).filter((t) => t.at >= from && t.at < until);
    assert.equal(during.length, 0, `${instance} got no ticket while replies were lost`);
    assert.ok(
      eventsOf(f.events, 'ticket', instance).some((t) => t.at >= until),
      `${instance} renewed once replies came through again`,
    );
  }
  assert.ok(f.device.receiverCounters.retries >= 3 * (DEFERRAL_ROUNDS - 2), 'the receiver retried within each lost round');
});

test(`one more lost round (${DEFERRAL_ROUNDS - 1}) resets the device, by its last ticket's deadline`, () => {
  const from = 5 * INTERVAL_MS;
  const until = from + (DEFERRAL_ROUNDS - 1) * INTERVAL_MS + INTERVAL_MS / 2;
  const f = lossyFleet((now) => now >= from && now < until);
  f.device.boot();
  f.clock.advance(until + INTERVAL_MS);

  const reset = eventsOf(f.events, 'reset')[0];
  assert.ok(reset !== undefined, 'the device reset');
  assert.equal(reset.reason, ResetReason.TICKET_TIMEOUT);
  const last = lastTicketBefore(f, 'device', from);
  assert.ok(reset.at <= last.deadline, `reset at ${reset.at}, after the last ticket's deadline ${last.deadline}`);
});

test('a reply lost after the hub answered is made good by the retry: a fresh nonce, never a replay', () => {
  // Every instance's first reply of each round is lost; the retry's reply gets through.
  const answered = new Map<string, number>();
  const f = simFleet({
    intervalMs: INTERVAL_MS,
    deferralMs: defaultDeferralMs(INTERVAL_MS),
    tamper: (instance, envelope, deliver) => {
      const round = Math.floor(f.clock.now() / INTERVAL_MS);
      const key = `${instance}@${round}`;
      const n = (answered.get(key) ?? 0) + 1;
      answered.set(key, n);
      if (n > 1) deliver(instance, envelope);
    },
  });
  f.device.boot();
  f.clock.advance(20 * INTERVAL_MS);

  assert.deepEqual(eventsOf(f.events, 'expired'), [], 'nothing expired');
  for (const instance of ['device', 'mm', 'sm:sensor'])
    assert.ok(eventsOf(f.events, 'ticket', instance).length >= 18, `${instance} renewed every round through its retry`);
  const ih = f.ih.counters();
  assert.equal(ih.reasons.refused.replayed ?? 0, 0, 'no retry was refused as a replay');
  assert.ok((ih.reasons.ticket.granted ?? 0) >= 2 * 18, 'the IH answered both the lost try and its retry');
});
