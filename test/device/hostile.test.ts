import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cryptoBackend, CONTEXTS, generateSecretKey, keyIdOf } from '../../actors/crypto/index.ts';
import { AwdtCore, REPLY_VERIFY_BURST, seal } from '../../actors/tickets/index.ts';
import { create, RuntimeInfoSchema, SignedEnvelopeSchema, TicketReplySchema, toBinary, ResetReason } from '../../proto/index.ts';
import { DEVICE_ID, eventsOf, simFleet, type Fleet } from '../support/fleet.ts';

type Deliver = (instance: string, envelope: Uint8Array) => void;

/** Checks the guarantee: no accepted ticket pushes a deadline past what the hub itself granted. */
function assertNeverExtended(f: Fleet): void {
  for (const t of eventsOf(f.events, 'ticket')) {
    const granted = f.issued.filter((x) => x.instance === t.instance && x.at <= t.at);
    assert.ok(granted.length > 0, `${t.instance} accepted a ticket at ${t.at} the hub never issued`);
    const latest = Math.max(...granted.map((x) => x.at + x.deferralMs));
    assert.ok(t.deadline <= latest, `${t.instance} deadline ${t.deadline} beyond the hub's grant ${latest}`);
  }
  for (const r of eventsOf(f.events, 'expired')) {
    const granted = f.issued.filter((x) => x.instance === r.instance && x.at <= r.at);
    const bound = granted.length > 0 ? Math.max(...granted.map((x) => x.at + x.deferralMs)) : Infinity;
    assert.ok(r.at <= Math.max(bound, initialBound(f, r.instance)), `${r.instance} expired at ${r.at}, later than ${bound}`);
  }
}

function initialBound(f: Fleet, instance: string): number {
  // Before any ticket, the bound is the boot's initial timeout.
  const boots = eventsOf(f.events, 'armed', instance).map((a) => a.deadline);
  return boots.length > 0 ? Math.max(...boots) : 0;
}

test('a hostile mm that drops every reply only brings the reset sooner', () => {
  let drop = false;
  const f = simFleet({ tamper: (i, e, deliver) => (drop ? undefined : deliver(i, e)) });
  f.device.boot();
  f.clock.advance(5 * f.intervalMs);
  drop = true;
  const t = f.clock.now();
  f.clock.advance(5 * f.intervalMs);
  const reset = eventsOf(f.events, 'reset')[0]!;
  assert.ok(reset.at <= t + f.deferralMs);
  assert.equal(reset.reason, ResetReason.TICKET_TIMEOUT);
  assertNeverExtended(f);
});

test('duplicated replies are refused after the first: a ticket is never usable twice', () => {
  const f = simFleet({ tamper: (i, e, deliver) => (deliver(i, e), deliver(i, e)) });
  f.device.boot();
  f.clock.advance(10 * f.intervalMs);
  const refused = eventsOf(f.events, 'refused');
  assert.ok(refused.length >= 20);
  assert.ok(refused.every((r) => r.code === 'no-outstanding-nonce'));
  assert.deepEqual(eventsOf(f.events, 'expired'), []);
  assertNeverExtended(f);
});

test('delayed replies count from the request: delay past the deferral and the device resets', () => {
  const f = simFleet({ tamper: (i, e, deliver) => void f.clock.schedule(f.clock.now() + delay, () => deliver(i, e)) });
  let delay = 0;
  f.device.boot();
  f.clock.advance(3 * f.intervalMs);
  delay = f.deferralMs + 1;
  const t = f.clock.now();
  f.clock.advance(6 * f.intervalMs);
  const reset = eventsOf(f.events, 'reset')[0]!;
  assert.ok(reset && reset.at <= t + f.deferralMs);
  assertNeverExtended(f);
});

test('replayed, swapped and forged replies are refused with the reason', () => {
  const attacker = cryptoBackend('node').signer(generateSecretKey());
  let mode: 'honest' | 'replay' | 'swap' | 'forge' | 'wrong-hub' = 'honest';
  const first = new Map<string, Uint8Array>();
  const last = new Map<string, Uint8Array>();
  const f = simFleet({
    tamper: (instance, envelope, deliver) => {
      if (!first.has(instance)) first.set(instance, envelope);
      last.set(instance, envelope);
      if (mode === 'honest') deliver(instance, envelope);
      else if (mode === 'replay') deliver(instance, first.get(instance)!);
      else if (mode === 'swap') deliver(instance === 'device' ? 'mm' : 'device', envelope);
      else if (mode === 'forge') {
        const reply = create(TicketReplySchema, {
          deviceId: DEVICE_ID,
          instance,
          nonce: new Uint8Array(32),
          outcome: { case: 'ticket', value: { deviceId: DEVICE_ID, instance, nonce: new Uint8Array(32), deferralMs: 3_600_000 } },
        });
        deliver(instance, seal(attacker, CONTEXTS.ticketReply, toBinary(TicketReplySchema, reply)));
      } else if (mode === 'wrong-hub' && instance === 'device') deliver(instance, last.get('sm:sensor') ?? envelope);
    },
  });
  f.device.boot();
  f.clock.advance(2 * f.intervalMs);
  const codes = (from: number) =>
    eventsOf(f.events, 'refused')
      .slice(from)
      .map((r) => `${r.instance}:${r.code}`);
  for (const [m, expected] of [
    ['replay', 'device:wrong-nonce'],
    ['swap', 'device:wrong-instance'],
    ['forge', 'device:unknown-signer'],
    ['wrong-hub', 'device:unknown-signer'],
  ] as const) {
    mode = 'honest';
    f.clock.advance(2 * f.intervalMs);
    const from = eventsOf(f.events, 'refused').length;
    mode = m;
    f.clock.advance(f.intervalMs);
    assert.ok(codes(from).includes(expected), `${m}: got ${codes(from).join(', ')}`);
  }
  assertNeverExtended(f);
});

test('a ticket the hub signed for another device is refused', () => {
  const f = simFleet();
  // A second device, enrolled at the same IH, obtains a genuine ticket...
  const other = { device: generateSecretKey() };
  const node = cryptoBackend('node');
  const core = new AwdtCore({
    deviceId: 'pi-0002',
    instance: 'device',
    signer: node.signer(other.device),
    hub: node.verifier(f.ihKey.publicKey),
    maxDeferralMs: 1e9,
  });
  const request = core.request(
    create(RuntimeInfoSchema, {
      report: {
        case: 'device',
        value: { firmwareVersion: '1.0.0', manifestDigest: new Uint8Array(64), hypervisorImageDigest: new Uint8Array(64) },
      },
    }),
    0,
  );
  const decision = f.ih.handleRequest(request, 0);
  // pi-0002 is not enrolled: the hub refuses to even answer, so the attacker has nothing to relay.
  assert.equal(decision.reply?.payload === undefined || decision.outcome !== 'ticket', true);
  // ...so forge the situation directly: relay a reply for pi-0002 to pi-0001's AWDT.
  const mine = new AwdtCore({
    deviceId: DEVICE_ID,
    instance: 'device',
    signer: node.signer(f.keys.device),
    hub: node.verifier(f.ihKey.publicKey),
    maxDeferralMs: 1e9,
  });
  mine.request(create(RuntimeInfoSchema, {}), 0);
  const foreign = create(TicketReplySchema, {
    deviceId: 'pi-0002',
    instance: 'device',
    nonce: new Uint8Array(32),
    outcome: { case: 'ticket', value: { deviceId: 'pi-0002', instance: 'device', nonce: new Uint8Array(32), deferralMs: 1000 } },
  });
  const outcome = mine.reply(seal(f.ihKey, CONTEXTS.ticketReply, toBinary(TicketReplySchema, foreign)), 0);
  assert.equal(outcome.kind, 'refused');
  assert.equal(outcome.kind === 'refused' && outcome.error.code, 'wrong-device');
});

test('property: whatever a hostile mm does to replies, no deadline ever passes what the hub granted', () => {
  const action = fc.oneof(
    fc.constant({ kind: 'deliver' as const }),
    fc.constant({ kind: 'drop' as const }),
    fc.constant({ kind: 'duplicate' as const }),
    fc.record({ kind: fc.constant('delay' as const), ms: fc.integer({ min: 1, max: 5000 }) }),
    fc.constant({ kind: 'replay' as const }),
    fc.constant({ kind: 'swap' as const }),
  );
  fc.assert(
    fc.property(fc.array(action, { minLength: 10, maxLength: 120 }), (actions) => {
      let n = 0;
      const seen: Array<[string, Uint8Array]> = [];
      const f: Fleet = simFleet({
        tamper: (instance, envelope, deliver: Deliver) => {
          const a = actions[n++ % actions.length]!;
          seen.push([instance, envelope]);
          switch (a.kind) {
            case 'deliver':
              return deliver(instance, envelope);
            case 'drop':
              return;
            case 'duplicate':
              deliver(instance, envelope);
              return deliver(instance, envelope);
            case 'delay':
              return void f.clock.schedule(f.clock.now() + a.ms, () => deliver(instance, envelope));
            case 'replay': {
              const [i, e] = seen[Math.floor(seen.length / 2)]!;
              return deliver(i, e);
            }
            case 'swap': {
              const other = seen.findLast(([i]) => i !== instance);
              return other ? deliver(instance, other[1]) : undefined;
            }
          }
        },
      });
      f.device.boot();
      f.clock.advance(20 * f.intervalMs);
      assertNeverExtended(f);
    }),
    { numRuns: 25 },
  );
});

test('replies slower than the retry timeout still count: a retry asks afresh, and the earlier nonces stay outstanding', () => {
  // Every reply arrives 600 ms late, past the receiver's 250 ms retry timeout but well inside D.
  const f: Fleet = simFleet({ tamper: (i, e, deliver) => void f.clock.schedule(f.clock.now() + 600, () => deliver(i, e)) });
  f.device.boot();
  f.clock.advance(20 * f.intervalMs);
  assert.deepEqual(eventsOf(f.events, 'expired'), [], 'late but valid tickets keep every instance alive');
  assert.ok(eventsOf(f.events, 'ticket', 'device').length >= 15);
  assert.ok(f.device.receiverCounters.retries > 0, 'the receiver did retry');
  const late = eventsOf(f.events, 'ticket', 'device').filter((t) => t.at - (t.deadline - f.deferralMs) >= 600);
  assert.ok(late.length >= 15, 'the tickets that counted answered the try made 600 ms before, not a retry after it');
  assertNeverExtended(f);
});

test('a stale but genuine ticket injected ahead of each reply does not starve the device', () => {
  // The attacker can publish on the reply topic: it keeps each instance's first genuine reply and
  // injects it just before every later genuine one. It verifies (the hub signed it) but answers an
  // old nonce, so it must not consume the outstanding one.
  const stale = new Map<string, Uint8Array>();
  const f = simFleet({
    tamper: (instance, envelope, deliver) => {
      const old = stale.get(instance);
      if (old === undefined) stale.set(instance, envelope);
      else deliver(instance, old);
      deliver(instance, envelope);
    },
  });
  f.device.boot();
  f.clock.advance(30 * f.intervalMs);
  assert.deepEqual(eventsOf(f.events, 'expired'), [], 'nothing expired');
  for (const instance of ['device', 'mm', 'sm:sensor'])
    assert.ok(eventsOf(f.events, 'ticket', instance).length >= 25, `${instance} renewed every interval`);
  assert.ok(
    eventsOf(f.events, 'refused').some((r) => r.code === 'wrong-nonce'),
    'the stale tickets were refused',
  );
  assertNeverExtended(f);
});

test('a flood of replies to check costs a bounded number of signature checks, then is dropped unchecked', () => {
  let inject: Deliver | undefined;
  const f = simFleet({ tamper: (i, e, deliver) => ((inject = deliver), deliver(i, e)) });
  f.device.boot();
  f.clock.advance(3 * f.intervalMs);
  // Junk that names the IH's key id, so only a signature check can refuse it.
  const junk = (i: number) =>
    toBinary(
      SignedEnvelopeSchema,
      create(SignedEnvelopeSchema, {
        payload: new Uint8Array([i & 0xff, 1, 2, 3]),
        signature: new Uint8Array(64).fill(i & 0xff),
        signerKeyId: keyIdOf(cryptoBackend('node'), f.ihKey.publicKey),
        context: CONTEXTS.ticketReply,
      }),
    );
  const before = eventsOf(f.events, 'refused', 'device').length;
  // In batches the mailboxes hold, with no time passing: the budget does not refill meanwhile.
  for (let i = 0; i < 200; i++) {
    inject!('device', junk(i));
    if (i % 8 === 7) f.device.settle();
  }
  f.device.settle();
  const refused = eventsOf(f.events, 'refused', 'device').slice(before);
  const checked = refused.filter((r) => r.code === 'bad-signature').length;
  const dropped = refused.filter((r) => r.code === 'flood').length;
  assert.ok(checked <= REPLY_VERIFY_BURST + 1, `${checked} signature checks for 200 junk replies`);
  assert.ok(dropped > 0 && checked + dropped <= 200, `dropped ${dropped} unchecked`);
  // The flood stops; the budget refills and the genuine replies count again.
  f.clock.advance(5 * f.intervalMs);
  assert.deepEqual(eventsOf(f.events, 'expired'), []);
  assert.ok(eventsOf(f.events, 'ticket', 'device').at(-1)!.at > f.clock.now() - 2 * f.intervalMs, 'device tickets again');
});
