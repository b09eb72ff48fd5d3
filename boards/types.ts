/**
 * What a board profile says (docs/ARCHITECTURE.md §6): the hardware, the Node it runs, how the domains are
 * placed and what each may use, the ticket timing, the watchdog backend and the services to run.
 *
 * Sizes: memory and heap in MiB (`Mb` suffix), bundle budgets in KiB (1024 bytes, `Kb` suffix).
 * Times in milliseconds unless the name says otherwise.
 */

/** The trust domains that get one bundle each (`sm` once per service). */
export const DOMAIN_KINDS = ['sw', 'hypervisor', 'mm', 'sm'] as const;
export type DomainKind = (typeof DOMAIN_KINDS)[number];

/** Node's `process.arch` names. */
export const ARCHES = ['arm', 'arm64', 'ia32', 'loong64', 'mips', 'mipsel', 'ppc', 'ppc64', 'riscv64', 's390', 's390x', 'x64'] as const;
export type Arch = (typeof ARCHES)[number];

/**
 * How a board's domains map onto OS processes: `single` (one process: simulation only), `split` (`sw`
 * alone; the hypervisor, `mm` and the services together in a second process) and `process` (one
 * process per domain). A board with a real watchdog never runs `single`: `sw` must not share a
 * process with untrusted code (docs/ARCHITECTURE.md §6).
 */
export const PLACEMENTS = ['single', 'split', 'process'] as const;
export type Placement = (typeof PLACEMENTS)[number];

/**
 * Mailbox capacities a domain's actors are spawned with, by actor. `inlet` is each channel inlet the
 * domain owns (one per channel end). (The hypervisor's VM AWDTs keep the AWDT's own capacity.)
 */
export interface MailboxBudgets {
  readonly sw: { readonly awdt: number; readonly inlet: number };
  readonly hypervisor: { readonly proxy: number; readonly vmHost: number; readonly inlet: number };
  readonly mm: { readonly receiver: number; readonly forwarder: number; readonly inlet: number };
  readonly sm: { readonly service: number; readonly inlet: number };
}

/** Size budget of one domain's bundle; the build fails when either is exceeded. */
export interface BundleBudget {
  readonly rawKb: number;
  readonly gzipKb: number;
}

export interface DomainBudget<K extends DomainKind> {
  /** vCPUs the domain may use (a VM's size, or the CPUs a process is pinned to). */
  readonly vcpus: number;
  /** Memory the domain may use: a VM's size, or a process's resident limit. */
  readonly memoryMb: number;
  /** V8 old-space limit (`--max-old-space-size`); at most `memoryMb`. */
  readonly heapMb: number;
  readonly mailbox: MailboxBudgets[K];
  readonly bundle: BundleBudget;
}

/** `sm` applies to each service domain `sm:<service>`. */
export type DomainBudgets = { readonly [K in DomainKind]: DomainBudget<K> };

export interface BoardTiming {
  /** Ticket round interval per instance (T). */
  readonly intervalMs: number;
  /** Deferral the hubs grant per ticket (their policy; provisioned with the device). */
  readonly deferralMs: number;
  /** The AWDTs' own cap on any ticket's deferral. */
  readonly maxDeferralMs: number;
  /** Device AWDT timeout at boot, before the first ticket: covers starting every domain. */
  readonly initialTimeoutMs: number;
  /** VM AWDT timeout at each VM boot. */
  readonly vmInitialTimeoutMs: number;
  /** The ticket receiver retries after this long without a reply. */
  readonly replyTimeoutMs: number;
}

export type WatchdogConfig =
  | { readonly backend: 'simulated' }
  | {
      readonly backend: 'linux';
      /** The watchdog device node, e.g. `/dev/watchdog`. */
      readonly device: string;
      /** How often `sw` pets it while a ticket is held. */
      readonly petIntervalMs: number;
      /**
       * The driver's timeout: `sw` sets it before opening the device and refuses to start if the
       * driver keeps a longer one (actors/sw/linux-watchdog.ts). At most `timing.maxDeferralMs`.
       */
      readonly hardwareTimeoutS: number;
    };

export interface BoardProfile {
  /** `[a-z0-9-]`, as in `--board <id>` and `dist/<id>/`. */
  readonly id: string;
  readonly name: string;
  readonly arch: Arch;
  /** CPU model, for people (e.g. `Cortex-A72`). */
  readonly cpu: string;
  readonly cores: number;
  readonly memoryMb: number;
  /** Node the board runs: esbuild target (`node20`, `node20.11`) and the minimum major version. */
  readonly node: { readonly target: string; readonly major: number };
  readonly placement: Placement;
  readonly timing: BoardTiming;
  readonly watchdog: WatchdogConfig;
  /** Service names; each runs in its own `sm:<service>` domain and gets its own bundle. */
  readonly services: readonly string[];
  readonly domains: DomainBudgets;
}
