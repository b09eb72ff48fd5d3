/**
 * A door counter: a dominion service written outside the project tree. It polls a door switch,
 * counts each opening, and publishes the running count on its `visits` stream. The count lives in
 * the service's data directory, so a restart (or a reset of `sm:door-counter` by its hub) carries on
 * from where it was. Inbound `{"reset": true}` starts the count over.
 *
 * Build it into a board:  dominion build --board rpi4 --service ./door-counter.ts
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceInbound, ServiceSpec } from 'dominion/service';

type DoorMsg = { readonly type: 'poll' } | { readonly type: 'report' };

/** What goes out on `visits`. */
export interface Visits {
  readonly total: number;
  readonly atMs: number;
}

const POLL_MS = 200;
/** The count is sent on each opening, and at least this often while the door stays shut. */
const REPORT_MS = 60_000;

/**
 * The door switch. On a board this reads the reed switch's GPIO line; here a stand-in: the door
 * opens for 2 s at the start of every 15 s.
 */
function doorOpen(nowMs: number): boolean {
  return nowMs % 15_000 < 2_000;
}

function loadTotal(file: string): number {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { total?: unknown };
    return typeof v.total === 'number' && Number.isSafeInteger(v.total) && v.total >= 0 ? v.total : 0;
  } catch {
    return 0; // first start, or a damaged file: start over rather than crash
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const doorCounter: ServiceSpec<DoorMsg> = {
  name: 'door-counter',
  version: '1.0.0',
  capacity: 16,
  start(ctx) {
    mkdirSync(ctx.dataDir, { recursive: true });
    const file = join(ctx.dataDir, 'visits.json');
    let total = loadTotal(file);
    let wasOpen = doorOpen(ctx.actor.now());
    let unsent = false; // a refused count is resent when mm can take it again
    ctx.actor.timer({ type: 'poll' }).arm(POLL_MS, POLL_MS);
    ctx.actor.timer({ type: 'report' }).arm(REPORT_MS, REPORT_MS);

    const save = (): void => {
      // Write then rename: a power cut leaves the old count or the new one, never half a file.
      writeFileSync(`${file}.tmp`, JSON.stringify({ total }));
      renameSync(`${file}.tmp`, file);
    };
    const send = (): void => {
      const visits: Visits = { total, atMs: ctx.actor.now() };
      unsent = !ctx.publish('visits', encoder.encode(JSON.stringify(visits)));
    };

    return {
      receive(msg: DoorMsg | ServiceInbound): void {
        switch (msg.type) {
          case 'poll': {
            const open = doorOpen(ctx.actor.now());
            if (open && !wasOpen) {
              total++;
              save();
              send();
            }
            wasOpen = open;
            return;
          }
          case 'report':
            send();
            return;
          case 'refused':
            unsent = true;
            return;
          case 'resume':
            if (unsent) send();
            return;
          case 'inbound': {
            let cmd: { reset?: unknown };
            try {
              cmd = JSON.parse(decoder.decode(msg.payload)) as { reset?: unknown };
            } catch {
              return; // not a command: ignore it, never crash on input
            }
            if (cmd.reset === true) {
              total = 0;
              save();
              send();
            }
            return;
          }
        }
      },
    };
  },
};

export default doorCounter;
