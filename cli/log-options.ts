/**
 * `--log-format` and `--log-level`, shared by `dominion hub` and `dominion device` (docs/ARCHITECTURE.md
 * §7.3): text on a terminal, JSON lines otherwise, unless the operator says which.
 */
import { LOG_FORMATS, LOG_LEVELS, Logger, type LogSettings } from '../actors/log/index.ts';
import { oneOf, type CliIo } from './options.ts';

export const LOG_OPTIONS = {
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

export const LOG_HELP = `  --log-format <f>         auto (default: text on a terminal, else one JSON object per line), text, json
  --log-level <l>          least severe level logged: debug, info (default), warn, error`;

export function logSettings(command: string, values: { 'log-format'?: string | undefined; 'log-level'?: string | undefined }): LogSettings {
  return {
    format: oneOf(command, 'log-format', values['log-format'], ['auto', ...LOG_FORMATS] as const, 'auto'),
    level: oneOf(command, 'log-level', values['log-level'], LOG_LEVELS, 'info'),
  };
}

/** The command's logger on its io's error stream (stderr for `consoleIo`). */
export function cliLogger(component: string, settings: LogSettings, io: CliIo): Logger {
  return Logger.create({ ...settings, component, write: (line) => io.err(line), isTTY: io.errIsTTY === true });
}
