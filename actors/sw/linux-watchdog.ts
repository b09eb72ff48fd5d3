/**
 * The `linux` watchdog backend: `sw` holds the kernel's watchdog device (default `/dev/watchdog`)
 * open and pets it — writes one byte — only while the device AWDT's deadline lies ahead, i.e. while
 * a valid device ticket (or, right after boot, the initial timeout) is held. When the deadline
 * passes, or the AWDT resets the device, petting stops for good and the hardware resets the board
 * within its own timeout, whatever the software does next.
 *
 * It never writes the magic close character 'V': that is the one byte that lets a close stop the
 * hardware timer, so neither a crash nor a clean exit of `sw` can disarm it — an exit only brings
 * the reset closer.
 *
 * Before it opens the device, `sw` sets the driver's timeout to the board's `hardwareTimeoutS` and
 * reads it back (`applyHardwareTimeout`): that timeout, not the driver's default, is what the
 * guarantee adds to its bound (docs/ARCHITECTURE.md §2.1).
 *
 * After a reboot the driver may say why the board reset (WDIOC_GETBOOTSTATUS). Node cannot issue
 * that ioctl, so the same value is read from sysfs (`/sys/class/watchdog/watchdogN/bootstatus`,
 * Linux ≥ 4.6) when it exists.
 *
 * All time goes through the injected Clock and all I/O through injectable functions, so tests run
 * it against a plain file under ManualClock without sleeping.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { Clock, ClockHandle } from '../../runtime/index.ts';
import { ResetReason } from '../../proto/index.ts';
import type { WatchdogBackend } from './watchdog.ts';

export const DEFAULT_WATCHDOG_DEVICE = '/dev/watchdog';

/** The byte written to pet the watchdog. Anything but 'V' (0x56) keeps the magic close disarmed. */
export const PET_BYTE = 0x2e; // '.'
/** The magic close character: never written by this module. */
export const MAGIC_CLOSE = 0x56; // 'V'

const PET = Uint8Array.of(PET_BYTE);

/** An open watchdog device: each `write` is one keep-alive. */
export interface WatchdogFile {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Opens the watchdog device write-only, never creating it (a typo must not make a regular file). */
export function openWatchdogFile(path: string): WatchdogFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY);
  } catch (e) {
    throw new WatchdogOpenError(path, e as NodeJS.ErrnoException);
  }
  return {
    write(bytes) {
      writeSync(fd, bytes);
    },
    close() {
      closeSync(fd);
    },
  };
}

/** The watchdog device could not be opened; the message says what usually causes it. */
export class WatchdogOpenError extends Error {
  override readonly name = 'WatchdogOpenError';
  constructor(
    readonly device: string,
    cause: NodeJS.ErrnoException,
  ) {
    const code = cause.code ?? 'error';
    const hint =
      code === 'ENOENT'
        ? 'no such device: is the watchdog driver loaded (e.g. bcm2835_wdt, imx2_wdt)?'
        : code === 'EBUSY'
          ? 'already open: only one process may hold it (is systemd RuntimeWatchdogSec= or a watchdog daemon using it?)'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied: sw must run as a user allowed to write it'
            : cause.message;
    super(`cannot open watchdog device ${device}: ${code}: ${hint}`, { cause });
  }
}

/** How the driver's timeout is set and read back; tests inject both. */
export interface HardwareTimeoutIo {
  /**
   * Sets the driver's timeout, returning the value the driver reports it set when it says (default
   * `wdctlSetTimeout`). Throws when it cannot.
   */
  readonly setTimeout?: (device: string, seconds: number) => number | undefined;
  /** Reads a sysfs file (default: `readFileSync`). */
  readonly read?: (path: string) => string;
  /** A timeout accepted with a caveat (default: `console.warn`). */
  readonly onWarning?: (message: string) => void;
}

/** util-linux's wdctl: Node cannot issue WDIOC_SETTIMEOUT itself. */
export const WDCTL = '/usr/bin/wdctl';

/**
 * `wdctl --settimeout`. It opens the device, so it must run before `sw` opens it (one holder at a
 * time); it writes the magic close before closing, which is harmless as `sw` opens it right after.
 * The kernel writes the timeout it actually set back into the ioctl's argument, and wdctl prints it.
 */
export function wdctlSetTimeout(device: string, seconds: number): number | undefined {
  // Throws on a non-zero exit, with wdctl's complaint (stderr, also passed on to ours) in the message.
  const out = execFileSync(WDCTL, ['--settimeout', `${seconds}`, device], { env: { LC_ALL: 'C' } });
  return Number(/set to (\d+)/.exec(`${out}`)?.[1]) || undefined; // 'Timeout has been set to 15 seconds.'
}

/** The driver's timeout is not, or not known to be, at most the board's `hardwareTimeoutS`. */
export class HardwareTimeoutError extends Error {
  override readonly name = 'HardwareTimeoutError';
}

/**
 * Sets the driver's timeout to `wantedS` and reads it back from sysfs; returns the timeout in
 * force. A read-back at most `wantedS` is accepted, even if setting failed: a shorter hardware
 * timeout only brings the reset sooner. Anything longer, or unknown, throws HardwareTimeoutError.
 *
 * No sysfs `timeout` (Linux < 4.6, CONFIG_WATCHDOG_SYSFS off, or a device not named watchdogN):
 * wdctl's own report stands in, with a warning. That report is the kernel's read-back too (the ioctl
 * returns the timeout it set), so nothing unverified is accepted. With neither, `sw` refuses, and
 * there is no override: starting on an unknown timeout would silently void the bound this check
 * exists for, and a working wdctl always gives a read-back.
 */
export function applyHardwareTimeout(device: string, wantedS: number, io: HardwareTimeoutIo = {}): number {
  let why = '';
  let reported: number | undefined;
  try {
    reported = (io.setTimeout ?? wdctlSetTimeout)(device, wantedS);
  } catch (e) {
    why = `${(e as Error).message.trim()}; `;
  }
  const path = sysfsPath(device, 'timeout');
  const read = readSysfsNumber(path, io.read);
  const actual = read || reported; // 0 is the kernel's "unknown"
  const found = `watchdog ${device}: timeout ${actual ? `${actual} s` : 'unknown'}, wanted ${wantedS} s (${why}read from ${read ? path : 'wdctl'})`;
  if (!actual || actual > wantedS)
    throw new HardwareTimeoutError(`${found}; set it with \`wdctl --settimeout ${wantedS} ${device}\` or the driver's module parameter`);
  // Accepted, but not as configured: say so (shorter, setting failed, or no sysfs).
  if (actual < wantedS || why || !read) (io.onWarning ?? console.warn)(found);
  return actual;
}

export interface LinuxWatchdogOptions extends HardwareTimeoutIo {
  /** Default `/dev/watchdog`. */
  readonly device?: string;
  /**
   * The board's `hardwareTimeoutS`: set and read back before the device is opened (see
   * `applyHardwareTimeout`). Omitted, the driver's timeout is left alone.
   */
  readonly hardwareTimeoutS?: number;
  readonly clock: Clock;
  /** Time between keep-alives while a deadline is held; well under the hardware timeout. */
  readonly petIntervalMs: number;
  /** Opens the device; default `openWatchdogFile` (tests pass a fake). */
  readonly open?: (path: string) => WatchdogFile;
  /** Told about every reset this backend is asked for, before petting stops. */
  readonly onReset?: (reason: ResetReason, detail: string) => void;
  /** A keep-alive write failed (the next interval tries again). */
  readonly onError?: (error: unknown) => void;
}

export class LinuxWatchdog implements WatchdogBackend {
  readonly kind = 'linux' as const;
  readonly device: string;
  /** Keep-alives written. */
  pets = 0;
  /** Keep-alive writes that failed. */
  petErrors = 0;
  lastPetAt: number | undefined;
  /** The driver's timeout as read back, when `hardwareTimeoutS` was given. */
  readonly hardwareTimeoutS: number | undefined;
  private readonly file: WatchdogFile;
  private heldUntil = Number.NEGATIVE_INFINITY;
  private timer: ClockHandle | null = null;
  private resetting = false;

  /** Sets the hardware timeout, then opens the device at once: from here on the hardware counts down. */
  constructor(private readonly o: LinuxWatchdogOptions) {
    if (!Number.isFinite(o.petIntervalMs) || o.petIntervalMs <= 0)
      throw new RangeError(`petIntervalMs must be positive, got ${o.petIntervalMs}`);
    this.device = o.device ?? DEFAULT_WATCHDOG_DEVICE;
    this.hardwareTimeoutS = o.hardwareTimeoutS && applyHardwareTimeout(this.device, o.hardwareTimeoutS, o);
    this.file = (o.open ?? openWatchdogFile)(this.device);
  }

  /** True once a reset was asked for: nothing pets the device again. */
  get resetPending(): boolean {
    return this.resetting;
  }

  /** Whether the device is being kept alive right now. */
  get holding(): boolean {
    return !this.resetting && this.o.clock.now() < this.heldUntil;
  }

  /**
   * Keeps the device alive until `deadlineMs` (the AWDT's deadline, which may move either way).
   * Pets at once if it was not petting, then every `petIntervalMs` while the deadline lies ahead.
   */
  holdUntil(deadlineMs: number): void {
    if (this.resetting) return;
    this.heldUntil = deadlineMs;
    if (this.timer === null) this.tick();
  }

  /**
   * Stops petting for good; the hardware resets the board within its timeout. `sw` has recorded the
   * reason before calling this (the record is what the next boot reports).
   */
  reset(reason: ResetReason, detail: string): void {
    if (this.resetting) return;
    this.resetting = true;
    this.heldUntil = Number.NEGATIVE_INFINITY;
    if (this.timer !== null) this.o.clock.cancel(this.timer);
    this.timer = null;
    this.o.onReset?.(reason, detail);
  }

  /**
   * Stops petting and closes the device without the magic close: the hardware keeps counting and
   * resets the board. For an orderly exit of `sw`, and for tests; there is no way to disarm.
   */
  abandon(): void {
    this.resetting = true;
    if (this.timer !== null) this.o.clock.cancel(this.timer);
    this.timer = null;
    this.file.close();
  }

  private tick(): void {
    this.timer = null;
    if (this.resetting) return;
    const now = this.o.clock.now();
    if (now >= this.heldUntil) return; // no ticket held: let the hardware run out
    try {
      this.file.write(PET);
      this.pets++;
      this.lastPetAt = now;
    } catch (e) {
      this.petErrors++;
      this.o.onError?.(e);
    }
    this.timer = this.o.clock.schedule(now + this.o.petIntervalMs, () => this.tick());
  }
}

/** WDIOF_* bits of WDIOC_GETBOOTSTATUS (include/uapi/linux/watchdog.h) that describe a reset. */
export const WDIOF = {
  OVERHEAT: 0x0001,
  FANFAULT: 0x0002,
  EXTERN1: 0x0004,
  EXTERN2: 0x0008,
  POWERUNDER: 0x0010,
  /** The watchdog reset the board last time. */
  CARDRESET: 0x0020,
  POWEROVER: 0x0040,
} as const;

/** What the driver says about the last reset. */
export interface BootStatus {
  readonly raw: number;
  /** Names of the WDIOF bits set, e.g. `['CARDRESET']`. */
  readonly flags: readonly (keyof typeof WDIOF)[];
  /** WDIOF_CARDRESET: the watchdog caused the last reset. */
  readonly watchdogReset: boolean;
}

/** `/sys/class/watchdog/watchdogN/<file>` for `/dev/watchdogN`; `/dev/watchdog` is `watchdog0`. */
export function sysfsPath(device: string, file: string): string | undefined {
  const name = basename(device).replace(/^watchdog$/, 'watchdog0');
  return /^watchdog\d+$/.test(name) ? `/sys/class/watchdog/${name}/${file}` : undefined;
}

export const bootStatusPath = (device: string): string | undefined => sysfsPath(device, 'bootstatus');

/** A sysfs number (decimal or 0x hex); `undefined` when absent, unreadable or not a number. */
function readSysfsNumber(path: string | undefined, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = read(path).trim();
  } catch {
    return undefined;
  }
  return /^(\d+|0x[\da-f]+)$/i.test(text) ? Number(text) : undefined;
}

/**
 * Reads and decodes the driver's boot status; `undefined` when the driver does not tell (no such
 * file, unreadable, or not a number).
 */
export function readBootStatus(path: string | undefined, read?: (path: string) => string): BootStatus | undefined {
  const raw = readSysfsNumber(path, read);
  if (raw === undefined) return undefined;
  const flags = (Object.keys(WDIOF) as (keyof typeof WDIOF)[]).filter((k) => (raw & WDIOF[k]) !== 0);
  return { raw, flags, watchdogReset: (raw & WDIOF.CARDRESET) !== 0 };
}

/** Reasons `sw` itself records before it lets the watchdog reset the board. */
const RECORDED_BY_SW: ReadonlySet<ResetReason> = new Set([
  ResetReason.TICKET_TIMEOUT,
  ResetReason.TICKET_WITHHELD,
  ResetReason.CHECK_FAILED,
  ResetReason.UPDATE,
  ResetReason.OPERATOR,
]);

/**
 * Why the board reset, from what `sw` recorded before the reset and what the driver says now:
 * - the driver does not tell: the record stands;
 * - the watchdog reset the board and `sw` had recorded why: that reason;
 * - the watchdog reset the board but nothing was recorded (`sw` hung or was killed, so it stopped
 *   petting without a word): TICKET_TIMEOUT — the deadline passed without a ticket being honoured;
 * - the watchdog did not reset the board: whatever `sw` recorded was not what happened (power was
 *   lost, or someone rebooted it), so POWER_ON, with the driver's other flags in the detail.
 */
export function resetReasonAfterBoot(
  recorded: { readonly reason: ResetReason; readonly detail: string },
  status: BootStatus | undefined,
): { reason: ResetReason; detail: string } {
  if (status === undefined) return { reason: recorded.reason, detail: recorded.detail };
  const flags = status.flags.length > 0 ? ` (driver bootstatus ${status.flags.join('|')})` : '';
  if (status.watchdogReset) {
    if (RECORDED_BY_SW.has(recorded.reason)) return { reason: recorded.reason, detail: recorded.detail };
    return { reason: ResetReason.TICKET_TIMEOUT, detail: `hardware watchdog reset with no reason recorded: sw stopped petting${flags}` };
  }
  return { reason: ResetReason.POWER_ON, detail: `not a watchdog reset${flags}` };
}
