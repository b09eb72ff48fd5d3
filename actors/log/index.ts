/** Structured logs for hubs and devices (docs/ARCHITECTURE.md §7.3). */
export { Logger, silentLogger, wallClock, type LoggerOptions, type LogSettings } from './logger.ts';
export { RateLimiter, OVERFLOW_KEY, type Occurrence } from './rate-limit.ts';
export {
  jsonLine,
  LOG_FORMATS,
  LOG_LEVELS,
  REDACTED,
  safeValue,
  textLine,
  type LogFields,
  type LogFormat,
  type LogLevel,
  type LogRecord,
  type LogValue,
} from './record.ts';
