/**
 * The default scenario of `dominion up`, step by step: gated boot and normal operation → a foreign
 * actor appears in the `sm` → the SH withholds → the `sm` restarts clean within the bound → tickets
 * resume → a persistent compromise (the sm's image rewritten on disk) is restored from the SH at the
 * VM's next boot → mm is updated to release 2 on trial and committed → a broken sensor release
 * rolls back to the last good one → quarantine holds the device in recovery mode → release → normal
 * boot. Each step waits for what the device does, with a bound; a step that does not happen in time
 * fails the run.
 */
import type { DemoFleet, DeviceEvent } from '../actors/device/index.ts';
import type { LiveDisplay } from './display.ts';
import type { WatchedDevice } from './up-device.ts';

export interface ScenarioResult {
  readonly ok: boolean;
  readonly steps: Array<{ step: string; ok: boolean; tookMs: number; note: string }>;
}

type Pred = (e: DeviceEvent) => boolean;

/** Boots a trial gets before it rolls back (actors/slots DEFAULT_TRIES). */
const TRIES = 3;

/** What the scenario does to the hubs and the device's disk (an operator, an attacker). */
export interface ScenarioActions {
  /** The attacker rewrites the active image of `sm:sensor` on the device's disk. */
  tamperServiceImage(): void;
  /** `dominion require-update <device> --instance <i> --release <v>` on the hub that dominates it. */
  requireUpdate(instance: 'mm' | 'sm:sensor', release: number): void;
  clearUpdate(instance: 'mm' | 'sm:sensor'): void;
  /** `dominion quarantine` / `dominion release` on the IH. */
  quarantine(): void;
  release(): void;
}

export async function runScenario(
  device: WatchedDevice,
  fleet: DemoFleet,
  display: LiveDisplay,
  actions: ScenarioActions,
  o: { intervalMs: number; deferralMs: number; bootMs: number },
): Promise<ScenarioResult> {
  const steps: ScenarioResult['steps'] = [];
  const bound = 4 * o.deferralMs + 2 * o.bootMs + 5 * o.intervalMs;
  const step = async (name: string, act: () => void, pred: Pred, note: (e: DeviceEvent) => string, within = bound): Promise<boolean> => {
    display.setPhase(name);
    const start = device.clock.now();
    const waiting = device.nextEvent(pred, within);
    act();
    const e = await waiting;
    steps.push({
      step: name,
      ok: e !== undefined,
      tookMs: Math.round(device.clock.now() - start),
      note: e ? note(e) : `did not happen within ${within} ms`,
    });
    return e !== undefined;
  };
  const ticketsFor = (instance: string, n: number): Pred => {
    let seen = 0;
    return (e) => e.type === 'ticket' && e.instance === instance && ++seen >= n;
  };

  const slot =
    (label: string, what: string): Pred =>
    (e) =>
      e.type === 'slot' && e.label === label && e.what === what;

  const plan: Array<() => Promise<boolean>> = [
    () =>
      step(
        'gated boot: the IH grants the boot, the services start',
        () => {},
        (e) => e.type === 'boot-granted',
        () => 'boot ticket for this boot and its images: recovery mode left',
      ),
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
        'persistent compromise: the sm image is rewritten on disk',
        () => {
          actions.tamperServiceImage();
          device.system?.getDomain('sm:sensor')?.spawn<string>({ name: 'miner', capacity: 4, start: () => ({ receive: () => {} }) });
        },
        (e) => e.type === 'vm-boot' && e.instance === 'sm:sensor' && e.held !== undefined,
        (e) => (e.type === 'vm-boot' ? `at its next boot the image does not verify: sm:sensor held down (${e.held})` : ''),
      ),
    () =>
      step(
        'the sm image is restored from the SH',
        () => {},
        (e) => e.type === 'image' && e.instance === 'sm:sensor' && e.phase === 'restored',
        (e) => (e.type === 'image' ? `release ${e.version} fetched from the SH, verified, installed` : ''),
      ),
    () =>
      step(
        'tickets resume on the restored image',
        () => {},
        ticketsFor('sm:sensor', 1),
        () => 'SH issues tickets again',
      ),
    () =>
      step(
        'update: the IH requires mm release 2',
        () => actions.requireUpdate('mm', 2),
        slot('mm', 'trial'),
        () => 'fetched, verified, installed into the inactive slot, booted on trial',
      ),
    () =>
      step(
        'the mm trial commits at its first ticket',
        () => {},
        slot('mm', 'committed'),
        (e) => (e.type === 'slot' ? `mm release ${e.version} committed; its minimum version raised` : ''),
      ),
    () =>
      step(
        'a broken sensor release 3 is required',
        () => {
          actions.clearUpdate('mm');
          actions.requireUpdate('sm:sensor', 3);
        },
        slot('sm:sensor', 'trial'),
        () => 'installed and booted on trial; it crashes at start',
      ),
    () =>
      step(
        'the broken release rolls back to the last good one',
        () => {},
        slot('sm:sensor', 'rolled-back'),
        (e) => (e.type === 'slot' ? `release ${e.version} rolled back (${e.detail ?? ''}); see dominion devices` : ''),
        // Each of its tries boots and waits out the VM's initial timeout (6 × interval) for a ticket.
        TRIES * (6 * o.intervalMs + o.bootMs) + bound,
      ),
    () =>
      step(
        'the sensor runs its last good release again',
        () => {},
        ticketsFor('sm:sensor', 1),
        () => 'the SH sees the rollback and issues tickets (update-rolled-back)',
      ),
    () =>
      step(
        'quarantine: the IH withholds the device',
        () => {
          actions.clearUpdate('sm:sensor');
          actions.quarantine();
        },
        (e) => e.type === 'reset',
        (e) => (e.type === 'reset' ? `device reset: ${e.detail}` : ''),
      ),
    () =>
      step(
        'the device is held in recovery mode',
        () => {},
        (e) => e.type === 'boot-withheld',
        () => 'boot withheld (QUARANTINED): mm only, no services, no reset loop',
      ),
    () =>
      step(
        'release: the IH grants the boot again',
        () => actions.release(),
        (e) => e.type === 'boot-granted',
        () => `boot #${device.status.bootCount} granted: the services start`,
      ),
    () =>
      step(
        'the device is dominated again',
        () => {},
        ticketsFor('sm:sensor', 2),
        () => 'every instance renewed',
      ),
  ];
  for (const run of plan) if (!(await run())) return { ok: false, steps };
  return { ok: true, steps };
}
