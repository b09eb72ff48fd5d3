/**
 * One log record and its two renderings (docs/ARCHITECTURE.md §7.3): a text line for people at a
 * terminal, one JSON object per line for everything else (journald, log shippers). Fields are flat
 * (name = string, number or boolean) and pass the redaction guard first: a field whose name says it
 * holds a key, secret, ticket, signature, password, nonce or credential is printed as `[redacted]`,
 * and bytes are never printed at all (`[N bytes]`), whatever the field is called. Keys and tickets
 * never reach a log, even by mistake.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** A field's value as callers give it; anything else met at run time is rendered safely, never thrown. */
export type LogValue = string | number | boolean | bigint | null | undefined;
export type LogFields = Readonly<Record<string, LogValue>>;

export interface LogRecord {
  /** Wall-clock milliseconds since the epoch. */
  readonly timeMs: number;
  readonly level: LogLevel;
  /** Who speaks: `hub ih-1`, `device d-1`, `mm d-1`. */
  readonly component: string;
  readonly msg: string;
  readonly fields: LogFields;
}

/** Field names that may hold secret material: their values are never printed. */
const SECRET_NAME = /key|secret|ticket|signature|password|passwd|nonce|credential|token/i;
/** Names a field cannot take: the record's own. */
const RESERVED = new Set(['time', 'level', 'component', 'msg']);
/** Longest value printed: a log line stays a line, however long the text a device sent. */
const VALUE_MAX = 512;

export const REDACTED = '[redacted]';

/** The printable value of one field, after the guard; undefined drops the field. */
export function safeValue(name: string, value: unknown): string | number | boolean | null | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (SECRET_NAME.test(name)) return REDACTED;
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return clip(value);
  if (value instanceof Error) return clip(value.message);
  return `[${typeof value}]`; // objects are not flat fields: said, not dumped
}

/** The record's fields as printed: guarded, reserved names prefixed, undefined dropped. */
export function safeFields(fields: LogFields): [string, string | number | boolean | null][] {
  const out: [string, string | number | boolean | null][] = [];
  for (const [name, value] of Object.entries(fields)) {
    const v = safeValue(name, value);
    if (v !== undefined) out.push([RESERVED.has(name) ? `field.${name}` : name, v]);
  }
  return out;
}

/** `{"time":…,"level":…,"component":…,"msg":…,<fields>}` on one line. */
export function jsonLine(r: LogRecord): string {
  const o: Record<string, unknown> = { time: isoTime(r.timeMs), level: r.level, component: r.component, msg: clip(r.msg, 4096) };
  for (const [k, v] of safeFields(r.fields)) o[k] = v;
  return JSON.stringify(o);
}

/** `2026-12-01T10:00:00.000Z WARN  hub ih-1: msg name=value name="two words"`. */
export function textLine(r: LogRecord): string {
  const fields = safeFields(r.fields).map(([k, v]) => `${k}=${textValue(v)}`);
  const head = `${isoTime(r.timeMs)} ${r.level.toUpperCase().padEnd(5)} ${r.component}: ${oneLine(clip(r.msg, 4096))}`;
  return fields.length === 0 ? head : `${head} ${fields.join(' ')}`;
}

function textValue(v: string | number | boolean | null): string {
  if (typeof v !== 'string') return String(v);
  // Bare when unambiguous; quoted (JSON string rules) when it holds spaces, quotes, '=' or controls.
  return v !== '' && /^[^\s"=\\\u0000-\u001f\u007f]+$/.test(v) ? v : JSON.stringify(v);
}

/** Control characters (a newline in a device's detail text) would forge a second line: escaped. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function clip(s: string, max = VALUE_MAX): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}
