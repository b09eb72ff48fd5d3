/**
 * The hubs' and devices' logger (docs/ARCHITECTURE.md §7.3): levels, an ISO timestamp, the
 * component speaking, a message and flat fields; text on a terminal, JSON lines otherwise.
 *
 * Why not pino: it brings thread-stream, sonic-boom, pino-std-serializers and more (a worker thread
 * for transports), and `mm` carries this code into its bundle, which has a size budget and isolation
 * rules (build/rules.ts: no worker_threads-style escapes, nothing beyond Node built-ins). What the
 * fleet needs — levels, two formats, a redaction guard, per-key rate limiting on an injected
 * clock — fits in these few files with no dependency, and its JSON shape is pino-like (`time`,
 * `level`, `msg`) so the usual tools read it.
 */
import type { Clock, ClockHandle } from '../../runtime/clock.ts';
import { jsonLine, LOG_LEVELS, textLine, type LogFields, type LogFormat, type LogLevel, type LogRecord } from './record.ts';
import { RateLimiter } from './rate-limit.ts';

/** What travels as data (a domain process's bootstrap, a CLI's options): no functions. */
export interface LogSettings {
  /** `auto` (default): text when the output is a terminal, JSON otherwise. */
  readonly format?: LogFormat | 'auto';
  /** Least severe level printed (default `info`). */
  readonly level?: LogLevel;
}

export interface LoggerOptions extends LogSettings {
  readonly component: string;
  /** Where lines go (one call per line, without a newline); default stderr. */
  readonly write?: (line: string) => void;
  /** For `format: 'auto'`: whether the output is a terminal; default stderr's. */
  readonly isTTY?: boolean;
  /** Wall-clock time (ms since the epoch) and timers for rate-limit windows; default the host's (timers unref'd). */
  readonly clock?: Clock;
  /** Rate-limit window (default 60 000 ms). */
  readonly windowMs?: number;
}

/** The host's wall clock, with timers that never keep a process alive. */
export const wallClock: Clock = {
  now: () => Date.now(),
  schedule(atMs: number, fire: () => void): ClockHandle {
    const t = setTimeout(fire, Math.max(0, atMs - Date.now()));
    t.unref?.();
    return { atMs, timer: t } as ClockHandle;
  },
  cancel(handle: ClockHandle): void {
    clearTimeout((handle as ClockHandle & { timer?: ReturnType<typeof setTimeout> }).timer);
  },
};

interface Said {
  readonly level: LogLevel;
  readonly msg: string;
  readonly fields: LogFields;
}

/** The shared part of a logger and its children: one output, one clock, one limiter. */
class Sink {
  readonly limiter: RateLimiter<Said & { readonly component: string }>;
  constructor(
    readonly write: (line: string) => void,
    readonly format: LogFormat,
    readonly threshold: number,
    readonly clock: Clock,
    readonly windowMs: number,
  ) {
    this.limiter = new RateLimiter(clock, windowMs, (_key, o) => {
      const s = o.value;
      const fields = o.suppressed === 0 ? s.fields : { ...s.fields, suppressed: o.suppressed, windowS: windowMs / 1000 };
      const msg = o.suppressed === 0 ? s.msg : `${s.msg} (${o.suppressed} more in the last ${windowMs / 1000} s)`;
      this.emit({ timeMs: clock.now(), level: s.level, component: s.component, msg, fields });
    });
  }

  emit(r: LogRecord): void {
    try {
      this.write(this.format === 'json' ? jsonLine(r) : textLine(r));
    } catch {
      // A closed stderr is no reason for a hub to stop answering.
    }
  }
}

export class Logger {
  private constructor(
    private readonly sink: Sink,
    readonly component: string,
  ) {}

  static create(o: LoggerOptions): Logger {
    const write = o.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
    const tty = o.isTTY ?? process.stderr.isTTY === true;
    const format: LogFormat = o.format === undefined || o.format === 'auto' ? (tty ? 'text' : 'json') : o.format;
    const threshold = LOG_LEVELS.indexOf(o.level ?? 'info');
    return new Logger(new Sink(write, format, threshold, o.clock ?? wallClock, o.windowMs ?? 60_000), o.component);
  }

  /** The same output, level and limiter, under another component name (`mm d-1` beside `device d-1`). */
  child(component: string): Logger {
    return new Logger(this.sink, component);
  }

  get format(): LogFormat {
    return this.sink.format;
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.sink.threshold;
  }

  debug(msg: string, fields: LogFields = {}): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields: LogFields = {}): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields: LogFields = {}): void {
    this.log('error', msg, fields);
  }

  log(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    this.sink.emit({ timeMs: this.sink.clock.now(), level, component: this.component, msg, fields });
  }

  /**
   * Rate-limited by `key` (shared across children): the first at once, then at most one summary
   * per window with `suppressed` (how many were held back) and the latest message and fields.
   */
  limited(key: string, level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    this.sink.limiter.hit(key, { level, msg, fields, component: this.component });
  }

  /** Drops pending summaries (at stop). */
  close(): void {
    this.sink.limiter.clear();
  }
}

/** A logger that prints nothing: the default where a caller gives none. */
export const silentLogger: Logger = Logger.create({ component: '', write: () => {}, format: 'json', level: 'error' });
