/** Flags of `npm run bench -- paper`. */
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PAPER_DEFAULTS, type PaperOptions } from './index.ts';
import { DEFAULT_SETUPS, SETUPS, WORKLOADS, type Setup, type Workload } from './setups.ts';

export const PAPER_USAGE = `paper: npm run bench -- paper [--reps N] [--seconds S] [--quick] [--whole-intervals] [--setups A,B] [--workloads A,B] [--chunk N]
  --reps N            repetitions per setup and workload, each in a fresh process (default ${PAPER_DEFAULTS.reps})
  --seconds S         measured window per run (default ${PAPER_DEFAULTS.seconds}; a multiple of 5 keeps DOM5 windows whole)
  --quick             ${PAPER_DEFAULTS.quickReps} reps of ${PAPER_DEFAULTS.quickSeconds} s: a smoke run, not for RESULTS.md
  --whole-intervals   stretch DOM windows to whole ticket intervals (DOM60: 60 s, so a round falls inside; ~+8 min)
  --setups, --workloads  subsets of ${SETUPS.join(',')} and ${WORKLOADS.join(',')}
                      (default: all but UNSEALED, which is VM with service data unsealed: what sealing costs)
  --chunk N           kernel iterations per service message (default ${PAPER_DEFAULTS.chunk})`;

function list<T extends string>(raw: string | undefined, all: readonly T[], what: string, defaults: readonly T[] = all): readonly T[] {
  if (raw === undefined) return defaults;
  const xs = raw.split(',').map((x) => x.trim()) as T[];
  for (const x of xs) if (!all.includes(x)) throw new Error(`unknown ${what} "${x}" (one of ${all.join(', ')})`);
  return xs;
}

export function paperOptions(
  v: { reps?: string; seconds?: string; quick?: boolean; 'whole-intervals'?: boolean; setups?: string; workloads?: string; chunk?: string },
  command: string,
): PaperOptions {
  const reps = Number(v.reps ?? (v.quick ? PAPER_DEFAULTS.quickReps : PAPER_DEFAULTS.reps));
  const seconds = Number(v.seconds ?? (v.quick ? PAPER_DEFAULTS.quickSeconds : PAPER_DEFAULTS.seconds));
  const chunk = Number(v.chunk ?? PAPER_DEFAULTS.chunk);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be an integer >= 1\n${PAPER_USAGE}`);
  if (!(seconds > 0)) throw new Error(`--seconds must be > 0\n${PAPER_USAGE}`);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`--chunk must be an integer >= 1\n${PAPER_USAGE}`);
  return {
    reps,
    seconds,
    warmupSeconds: v.quick ? 0.5 : PAPER_DEFAULTS.warmupSeconds,
    wholeIntervals: v['whole-intervals'] ?? false,
    setups: list<Setup>(v.setups, SETUPS, 'setup', DEFAULT_SETUPS),
    workloads: list<Workload>(v.workloads, WORKLOADS, 'workload'),
    chunk,
    workers: cpus().length,
    payloadBytes: PAPER_DEFAULTS.payloadBytes,
    windowBytes: PAPER_DEFAULTS.windowBytes,
    // Only a full run redraws the chart of RESULTS.md: a partial or quick one would overwrite it with less.
    ...(v.quick !== true && v.setups === undefined && v.workloads === undefined
      ? { svgPath: fileURLToPath(new URL('../paper-overhead.svg', import.meta.url)) }
      : {}),
    command,
  };
}
