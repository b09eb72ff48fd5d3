/**
 * The board profiles dominion ships. Plain data, checked by `validateBoard` when loaded.
 *
 * Bundle budgets: gzip budgets are the project's targets (sw 40, hypervisor 60, each sm 30, mm 90
 * KiB); raw budgets are about a third above what the build measured when they were set (sw 119.8,
 * hypervisor 102.9, mm 151.0, sm:sensor 20.1 KiB raw), so a budget failure means something real was
 * pulled in, not noise. The bundles are the same for every board with the same Node target.
 */
import { arch, availableParallelism, totalmem } from 'node:os';
import type { BoardProfile, BundleBudget, DomainBudgets, MailboxBudgets } from './types.ts';

/** The gzip targets, with raw budgets from measurement. */
const BUNDLES: { readonly [K in keyof DomainBudgets]: BundleBudget } = {
  sw: { rawKb: 160, gzipKb: 40 },
  hypervisor: { rawKb: 144, gzipKb: 60 },
  mm: { rawKb: 208, gzipKb: 90 },
  sm: { rawKb: 32, gzipKb: 30 },
};

/** Mailboxes as the actor factories size them by default (the ticket receiver: 64 + 8 per route, 88 for three, rounded up). */
export const DEFAULT_MAILBOXES: MailboxBudgets = {
  sw: { awdt: 16, inlet: 64 },
  hypervisor: { proxy: 64, vmHost: 16, inlet: 64 },
  mm: { receiver: 96, forwarder: 256, inlet: 64 },
  sm: { service: 32, inlet: 64 },
};

/** Smaller queues for a 512 MB board: still several rounds of every instance's traffic. */
const SMALL_MAILBOXES: MailboxBudgets = {
  sw: { awdt: 16, inlet: 32 },
  hypervisor: { proxy: 32, vmHost: 16, inlet: 32 },
  mm: { receiver: 64, forwarder: 128, inlet: 32 },
  sm: { service: 32, inlet: 32 },
};

/**
 * Timing for real boards: a round every 10 s, tickets good for 50 s (DEFERRAL_ROUNDS rounds, so three
 * whole rounds of lost exchanges are survived: docs/ARCHITECTURE.md §2.2), at most 60 s.
 */
const BOARD_TIMING = {
  intervalMs: 10_000,
  deferralMs: 50_000,
  maxDeferralMs: 60_000,
  initialTimeoutMs: 60_000,
  vmInitialTimeoutMs: 30_000,
  replyTimeoutMs: 2_500,
} as const;

function domains(
  m: MailboxBudgets,
  sizes: { readonly [K in keyof DomainBudgets]: readonly [vcpus: number, memoryMb: number, heapMb: number] },
): DomainBudgets {
  const d = <K extends keyof DomainBudgets>(k: K) => ({
    vcpus: sizes[k][0],
    memoryMb: sizes[k][1],
    heapMb: sizes[k][2],
    mailbox: m[k],
    bundle: BUNDLES[k],
  });
  return { sw: d('sw'), hypervisor: d('hypervisor'), mm: d('mm'), sm: d('sm') };
}

/** Boundary Devices Nitrogen8M: the source system's board (KVM VMs: sm 4 vCPUs / 512 MB, mm 2 vCPUs / 256 MB). */
export const nitrogen8m: BoardProfile = {
  id: 'nitrogen8m',
  name: 'Boundary Devices Nitrogen8M (NXP i.MX 8M Quad)',
  arch: 'arm64',
  cpu: 'Cortex-A53',
  cores: 4,
  memoryMb: 2048,
  node: { target: 'node20', major: 20 },
  placement: 'process',
  timing: BOARD_TIMING,
  // imx2_wdt allows up to 128 s; 30 s bounds how long a hung sw can keep the device.
  watchdog: { backend: 'linux', device: '/dev/watchdog', petIntervalMs: 1000, hardwareTimeoutS: 30 },
  services: ['sensor'],
  domains: domains(DEFAULT_MAILBOXES, { sw: [1, 64, 32], hypervisor: [2, 256, 128], mm: [2, 256, 192], sm: [4, 512, 384] }),
};

/** Raspberry Pi 4 Model B, 2 GB. */
export const rpi4: BoardProfile = {
  id: 'rpi4',
  name: 'Raspberry Pi 4 Model B (2 GB)',
  arch: 'arm64',
  cpu: 'Cortex-A72',
  cores: 4,
  memoryMb: 2048,
  node: { target: 'node20', major: 20 },
  placement: 'process',
  timing: BOARD_TIMING,
  // bcm2835_wdt: at most 15 s.
  watchdog: { backend: 'linux', device: '/dev/watchdog', petIntervalMs: 1000, hardwareTimeoutS: 15 },
  services: ['sensor'],
  domains: domains(DEFAULT_MAILBOXES, { sw: [1, 64, 32], hypervisor: [2, 192, 96], mm: [2, 192, 128], sm: [2, 256, 192] }),
};

/** Raspberry Pi 3 Model B, 1 GB, 64-bit OS. */
export const rpi3: BoardProfile = {
  id: 'rpi3',
  name: 'Raspberry Pi 3 Model B (1 GB)',
  arch: 'arm64',
  cpu: 'Cortex-A53',
  cores: 4,
  memoryMb: 1024,
  node: { target: 'node20', major: 20 },
  placement: 'process',
  timing: BOARD_TIMING,
  watchdog: { backend: 'linux', device: '/dev/watchdog', petIntervalMs: 1000, hardwareTimeoutS: 15 },
  services: ['sensor'],
  domains: domains(DEFAULT_MAILBOXES, { sw: [1, 48, 24], hypervisor: [1, 128, 64], mm: [2, 128, 96], sm: [2, 192, 128] }),
};

/** Raspberry Pi Zero 2 W, 512 MB, 64-bit OS: a Node process idles near 40 MB, so budgets are tight. */
export const rpiZero2w: BoardProfile = {
  id: 'rpi-zero-2w',
  name: 'Raspberry Pi Zero 2 W (512 MB)',
  arch: 'arm64',
  cpu: 'Cortex-A53',
  cores: 4,
  memoryMb: 512,
  node: { target: 'node20', major: 20 },
  // Two processes: sw alone (it holds the real watchdog), the rest together. Every extra Node process
  // costs ~40 MB resident before it runs a line of ours (`dominion bench --board`: 200 MB in four
  // processes; bench/RESULTS.md), too much of 512 MB for one per domain.
  placement: 'split',
  timing: {
    ...BOARD_TIMING,
    intervalMs: 15_000,
    deferralMs: 75_000,
    maxDeferralMs: 90_000,
    initialTimeoutMs: 90_000,
    vmInitialTimeoutMs: 45_000,
  },
  watchdog: { backend: 'linux', device: '/dev/watchdog', petIntervalMs: 1000, hardwareTimeoutS: 15 },
  services: ['sensor'],
  // sw's budget is a whole Node process of its own (split placement): ~40 MB before our code runs.
  domains: domains(SMALL_MAILBOXES, { sw: [1, 64, 16], hypervisor: [1, 64, 24], mm: [1, 80, 32], sm: [1, 56, 24] }),
};

/**
 * This machine: a simulated board for development, tests and `dominion up`. Its hardware facts are
 * read from the host when the profile is made, so they differ from machine to machine.
 */
export function simProfile(): BoardProfile {
  return {
    id: 'sim',
    name: 'this machine (simulated board)',
    arch: arch() as BoardProfile['arch'],
    cpu: 'host',
    cores: availableParallelism(),
    memoryMb: Math.floor(totalmem() / (1024 * 1024)),
    node: { target: 'node20', major: 20 },
    placement: 'single',
    // As `dominion up`: fast rounds so a scenario plays out in seconds.
    timing: {
      intervalMs: 500,
      deferralMs: 2500,
      maxDeferralMs: 3000,
      initialTimeoutMs: 5000,
      vmInitialTimeoutMs: 3000,
      replyTimeoutMs: 125,
    },
    watchdog: { backend: 'simulated' },
    services: ['sensor'],
    domains: domains(DEFAULT_MAILBOXES, { sw: [1, 64, 64], hypervisor: [1, 128, 128], mm: [1, 128, 128], sm: [1, 128, 128] }),
  };
}

/** Every shipped profile by id; `sim` is made on demand. */
export const PROFILES: Readonly<Record<string, () => BoardProfile>> = {
  nitrogen8m: () => nitrogen8m,
  rpi4: () => rpi4,
  rpi3: () => rpi3,
  'rpi-zero-2w': () => rpiZero2w,
  sim: simProfile,
};
