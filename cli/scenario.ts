/**
 * The default scenario of `dominion up`, step by step: normal operation → a foreign actor appears in
 * the `sm` → the SH withholds → the `sm` restarts clean within the bound → tickets resume → the IH
 * withholds device tickets → device reset → recovery. Each step waits for what the device does, with
 * a bound; a step that does not happen in time fails the run.
 */
import type { DemoFleet, Device, DeviceEvent } from '../actors/device/index.ts';
import type { LiveDisplay } from './display.ts';

export interface ScenarioResult {
  readonly ok: boolean;
  readonly steps: Array<{ step: string; ok: boolean; tookMs: number; note: string }>;
}

type Pred = (e: DeviceEvent) => boolean;

export async function runScenario(
  device: Device,
  fleet: DemoFleet,
  display: LiveDisplay,
  o: { intervalMs: number; deferralMs: number; bootMs: number },
): Promise<ScenarioResult> {
  const steps: ScenarioResult['steps'] = [];
  const bound = 4 * o.deferralMs + 2 * o.bootMs + 5 * o.intervalMs;
  const step = async (name: string, act: () => void, pred: Pred, note: (e: DeviceEvent) => string): Promise<boolean> => {
    display.setPhase(name);
    const start = device.clock.now();
    const waiting = device.nextEvent(pred, bound);
    act();
    const e = await waiting;
    steps.push({
      step: name,
      ok: e !== undefined,
      tookMs: Math.round(device.clock.now() - start),
      note: e ? note(e) : `did not happen within ${bound} ms`,
    });
    return e !== undefined;
  };
  const ticketsFor = (instance: string, n: number): Pred => {
    let seen = 0;
    return (e) => e.type === 'ticket' && e.instance === instance && ++seen >= n;
  };

  const plan: Array<() => Promise<boolean>> = [
    () =>
      step(
        'normal operation: tickets for every instance',
        () => {},
        ticketsFor('sm:sensor', 3),
        () => 'device, mm and sm:sensor renewed',
      ),
    () =>
      step(
        'intrusion: a foreign actor appears in sm:sensor',
        () => device.system?.getDomain('sm:sensor')?.spawn<string>({ name: 'miner', capacity: 4, start: () => ({ receive: () => {} }) }),
        (e) => e.type === 'withheld' && e.instance === 'sm:sensor',
        (e) => (e.type === 'withheld' ? `SH withheld: ${e.detail}` : ''),
      ),
    () =>
      step(
        'the sm is restarted clean within its bound',
        () => {},
        (e) => e.type === 'vm-boot' && e.instance === 'sm:sensor' && e.boots > 1,
        (e) => (e.type === 'vm-boot' ? `sm:sensor boot ${e.boots}, intruder gone` : ''),
      ),
    () =>
      step(
        'tickets resume for sm:sensor',
        () => {},
        ticketsFor('sm:sensor', 1),
        () => 'SH issues tickets again',
      ),
    () =>
      step(
        'the IH withholds device tickets',
        () => fleet.ih.policy.withhold(fleet.deviceId, 'device', 'operator forces a recovery'),
        (e) => e.type === 'reset',
        (e) => (e.type === 'reset' ? `device reset: ${e.detail}` : ''),
      ),
    () =>
      step(
        'recovery: the device boots and is dominated again',
        () => fleet.ih.policy.resume(fleet.deviceId, 'device'),
        ticketsFor('device', 2),
        () => `boot #${device.status.bootCount}, device tickets flowing`,
      ),
  ];
  for (const run of plan) if (!(await run())) return { ok: false, steps };
  return { ok: true, steps };
}
