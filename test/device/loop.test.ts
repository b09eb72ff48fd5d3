import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBinary, ResetReason, ServiceMessageSchema } from '../../proto/index.ts';
import type { ServiceInbound, ServiceSpec } from '../../actors/sm/index.ts';
import { DEVICE_ID, eventsOf, simFleet } from '../support/fleet.ts';

test('while valid tickets keep coming, nothing expires and every instance is renewed', () => {
  const f = simFleet();
  f.device.boot();
  f.clock.advance(30 * f.intervalMs);
  for (const instance of ['device', 'mm', 'sm:sensor']) {
    assert.ok(eventsOf(f.events, 'ticket', instance).length >= 25, `${instance} renewed every interval`);
  }
  assert.deepEqual(eventsOf(f.events, 'expired'), []);
  assert.equal(f.device.status.bootCount, 1);
  assert.ok(f.service.length >= 25, 'the sensor published through mm');
});

test('when the IH stops issuing device tickets at t, the device resets by t + D_last and boots again', () => {
  const f = simFleet();
  f.device.boot();
  f.clock.advance(10 * f.intervalMs);
  const t = f.clock.now();
  f.ihPolicy.withhold(DEVICE_ID, 'device', 'scenario');
  f.clock.advance(10 * f.intervalMs);
  const reset = eventsOf(f.events, 'reset')[0];
  assert.ok(reset, 'the device reset');
  const lastIssued = f.issued.filter((x) => x.instance === 'device' && x.at <= t).at(-1)!;
  assert.ok(reset.at <= lastIssued.at + f.deferralMs, `reset at ${reset.at}, bound ${lastIssued.at + f.deferralMs}`);
  assert.ok(reset.at > t, 'not before the deadline the last valid ticket set');
  assert.equal(reset.reason, ResetReason.OPERATOR, 'an operator withhold, not a failed check');
  const boots = eventsOf(f.events, 'boot');
  assert.equal(boots.length, 2);
  assert.ok(boots[1]!.at <= reset.at + f.timing.bootMs);
  assert.equal(boots[1]!.bootCount, 2, 'boot count survived the reset');
  assert.equal(boots[1]!.lastResetReason, ResetReason.OPERATOR, 'the device knows why it reset');
  // the hub resumes; the device is dominated again
  f.ihPolicy.resume(DEVICE_ID, 'device');
  const before = eventsOf(f.events, 'ticket', 'device').length;
  f.clock.advance(10 * f.intervalMs);
  assert.ok(eventsOf(f.events, 'ticket', 'device').length > before);
  assert.equal(eventsOf(f.events, 'reset').length, 1);
});

test('a silent hub (outage) resets the device with reason TICKET_TIMEOUT', () => {
  let online = true;
  const f = simFleet({ online: () => online });
  f.device.boot();
  f.clock.advance(5 * f.intervalMs);
  online = false;
  const t = f.clock.now();
  f.clock.advance(10 * f.intervalMs);
  const reset = eventsOf(f.events, 'reset')[0]!;
  assert.ok(reset.at <= t + f.deferralMs);
  assert.equal(reset.reason, ResetReason.TICKET_TIMEOUT);
});

test('the SH withholding restarts sm:sensor alone: the device and mm are untouched', () => {
  const f = simFleet();
  f.device.boot();
  f.clock.advance(5 * f.intervalMs);
  const t = f.clock.now();
  f.shPolicy.withhold(DEVICE_ID, 'sm:sensor');
  f.clock.advance(5 * f.intervalMs);
  const expired = eventsOf(f.events, 'expired', 'sm:sensor')[0]!;
  assert.ok(expired && expired.at <= t + f.deferralMs);
  const boots = eventsOf(f.events, 'vm-boot', 'sm:sensor');
  assert.equal(boots.at(-1)!.boots, 2, 'sm:sensor rebooted');
  assert.equal(eventsOf(f.events, 'vm-boot', 'mm').length, 1, 'mm was not restarted');
  assert.deepEqual(eventsOf(f.events, 'reset'), [], 'an SH cannot reset the device');
  assert.equal(eventsOf(f.events, 'expired', 'mm').length, 0);
});

test('a foreign actor in the sm is reported by the inspector, withheld by the SH and gone after the restart', () => {
  const f = simFleet();
  f.device.boot();
  f.clock.advance(3 * f.intervalMs);
  const sm = f.device.system!.getDomain('sm:sensor')!;
  sm.spawn<string>({ name: 'miner', capacity: 4, start: () => ({ receive: () => {} }) });
  const t = f.clock.now();
  f.clock.advance(2 * f.intervalMs);
  const withheld = eventsOf(f.events, 'withheld', 'sm:sensor')[0]!;
  assert.match(withheld.detail, /miner/);
  f.clock.advance(f.deferralMs);
  assert.ok(eventsOf(f.events, 'expired', 'sm:sensor')[0]!.at <= t + f.deferralMs + f.intervalMs);
  const paths = f.device.system!.stats().map((s) => s.path);
  assert.ok(!paths.some((p) => p.includes('miner')), 'the intruder is gone');
  const before = eventsOf(f.events, 'ticket', 'sm:sensor').length;
  f.clock.advance(5 * f.intervalMs);
  assert.ok(eventsOf(f.events, 'ticket', 'sm:sensor').length > before, 'tickets resume after the clean restart');
});

test('the sensor keeps its data directory across restarts', () => {
  const f = simFleet();
  f.device.boot();
  f.clock.advance(25 * f.intervalMs);
  // What mm publishes is the hypervisor's record of each reading (docs/PROTOCOL.md "Sealed service data").
  const reading = (): { seq: number } => {
    const last = f.service.filter((s) => s.payload[0] === 0x0a).at(-1)!.payload;
    const message = fromBinary(ServiceMessageSchema, last);
    assert.equal(message.kind.case, 'record');
    return JSON.parse(new TextDecoder().decode(message.kind.value!.payload as Uint8Array)) as { seq: number };
  };
  const lastBefore = reading();
  f.device.restartVm('sm:sensor');
  f.device.settle();
  f.clock.advance(3 * f.intervalMs);
  const after = reading();
  assert.ok(after.seq > lastBefore.seq, `sequence continues (${lastBefore.seq} → ${after.seq})`);
});

test('SH_k dominates sm:k alone: another service and mm keep their tickets', () => {
  const quiet: ServiceSpec<never> = { name: 'quiet', version: '1.0.0', capacity: 4, start: () => ({ receive: () => {} }) };
  const f = simFleet({ extraServices: [quiet] });
  f.device.boot();
  f.clock.advance(5 * f.intervalMs);
  f.demo.sh.get('quiet')!.policy.withhold(DEVICE_ID, 'sm:quiet');
  const sensorBefore = eventsOf(f.events, 'ticket', 'sm:sensor').length;
  f.clock.advance(6 * f.intervalMs);
  assert.ok(eventsOf(f.events, 'expired', 'sm:quiet').length >= 1, 'sm:quiet was restarted by its own hub');
  assert.deepEqual(eventsOf(f.events, 'expired', 'sm:sensor'), []);
  assert.deepEqual(eventsOf(f.events, 'expired', 'mm'), []);
  assert.deepEqual(eventsOf(f.events, 'reset'), []);
  assert.ok(eventsOf(f.events, 'ticket', 'sm:sensor').length >= sensorBefore + 5, 'the other service kept renewing');
});

test('a service hears when mm could not send what it published, and when it may send again; nothing is refused while the link works', () => {
  type ChattyMsg = { type: 'say' };
  const heard: Array<{ type: string; stream?: string }> = [];
  let sent = 0;
  const chatty: ServiceSpec<ChattyMsg> = {
    name: 'chatty',
    version: '1.0.0',
    capacity: 16,
    start: (ctx) => {
      ctx.actor.timer({ type: 'say' }).arm(100, 100);
      return {
        receive: (msg: ChattyMsg | ServiceInbound) => {
          if (msg.type === 'say') ctx.publish('news', new TextEncoder().encode(String(++sent)));
          else if (msg.type === 'refused') heard.push({ type: 'refused', stream: msg.stream });
          else heard.push({ type: msg.type });
        },
      };
    },
  };
  let online = true;
  const f = simFleet({ extraServices: [chatty as ServiceSpec<never>], online: () => online });
  f.device.boot();
  f.clock.advance(1000);
  assert.equal(heard.length, 0, 'nothing refused while the link works');
  assert.ok(f.service.some((s) => s.service === 'chatty' && s.stream === 'news'));

  online = false; // the link cannot reach the broker: mm takes the messages but cannot send them
  f.clock.advance(500);
  const refused = heard.filter((h) => h.type === 'refused');
  assert.ok(refused.length >= 4, `the service heard of each unsent message (${refused.length})`);
  assert.ok(refused.every((h) => h.stream === 'news'));

  online = true;
  heard.length = 0;
  f.clock.advance(500);
  assert.deepEqual(heard, [{ type: 'resume' }], 'once the link is back: one resume, no refusal');
});
