/**
 * A VM as an OS process of its own (`process` placement). A boot kills the VM's process — and with it
 * anything an intruder started inside it — and starts a fresh one from the verified image. The
 * inspector sees it from outside: the image it was started from, its boots and its resident memory
 * read from /proc, never anything the VM says of itself.
 */
import { readFileSync } from 'node:fs';
import type { RuntimeInfo } from '../../../proto/index.ts';
import type { HypervisorImage } from '../images.ts';
import type { DomainProcess } from './spawn.ts';

export interface ProcessVmOptions {
  /**
   * The digest of the image a boot starts the process on (asked at each boot: a restore or an update
   * changes it), which the inspector then reports for that process.
   */
  readonly digest: () => Uint8Array;
  /** Starts the VM's process and wires its sockets; `exited` is for the process's spawn `onExit`. */
  readonly start: (exited: (code: number | null, signal: NodeJS.Signals | null) => void) => DomainProcess;
  /** The running process ended without the hypervisor stopping it (crash, heap limit, killed). */
  readonly onExit: (detail: string) => void;
  /** The hypervisor bundle's report builder (its own protobuf code). */
  readonly outsideReport: HypervisorImage['outsideReport'];
  /**
   * Why this VM must not start now, if it must not (checked at every boot): it then stays down,
   * reports nothing — so no hub can grant it a ticket — and its AWDT boots it again later.
   */
  readonly refuse?: () => string | undefined;
  /** Told each refusal (the host logs it). */
  readonly onRefused?: (why: string) => void;
}

export interface ProcessVm {
  boot(): void;
  report(boots: number): RuntimeInfo | undefined;
  /** The running process, if any. */
  readonly current: DomainProcess | null;
  halt(): void;
}

const PAGE_BYTES = 4096;

/** Resident bytes of a process from /proc (0 where there is no /proc). */
export function residentBytes(pid: number): number {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(pages) ? pages * PAGE_BYTES : 0;
  } catch {
    return 0;
  }
}

export function processVm(o: ProcessVmOptions): ProcessVm {
  let current: DomainProcess | null = null;
  let digest: Uint8Array | undefined;
  return {
    boot() {
      const old = current;
      current = null;
      old?.kill();
      const refused = o.refuse?.();
      if (refused !== undefined) {
        o.onRefused?.(refused);
        return;
      }
      digest = o.digest();
      const p: DomainProcess = o.start((code, signal) => {
        if (current !== p) return; // one the hypervisor stopped
        current = null;
        o.onExit(signal !== null ? `was killed by ${signal}` : `exited with code ${String(code)}`);
      });
      current = p;
    },
    // No process, nothing to vouch for: the VM's AWDT signs no request until one runs again.
    report: (boots) =>
      current === null || digest === undefined
        ? undefined
        : o.outsideReport({ boots, imageDigest: digest, memoryBytes: residentBytes(current.pid) }),
    get current() {
      return current;
    },
    halt() {
      current?.kill();
      current = null;
    },
  };
}
