/**
 * Option parsing shared by the hub and operator commands: node:util parseArgs in strict mode, with
 * every mistake (unknown option, missing value, bad number) turned into a UsageError, which
 * `dominion` reports on stderr with exit code 2. Commands write through a `CliIo` so tests can run
 * them in-process and read what they printed.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { boardIds } from '../boards/index.ts';
import { UsageError } from './args.ts';

export { UsageError };

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Whether `err` reaches a terminal (logs are text there, JSON lines otherwise); absent: no. */
  readonly errIsTTY?: boolean;
}

export const consoleIo: CliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  get errIsTTY() {
    return process.stderr.isTTY === true;
  },
};

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly; positionals are allowed (the command checks how many it wants). */
export function parseCommand<const O extends Options>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${command}: ${parseArgsMessage(err)}\nRun "dominion ${command} --help" for usage.`);
  }
}

/** node:util's parseArgs text, on one line and in our words where its own spans several lines. */
function parseArgsMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // "--duration -1": parseArgs will not take a value that starts with a dash unless joined by '='.
  const missing = /^Option '(-[^']*)' argument (is ambiguous|missing)/.exec(message);
  if (missing !== null) {
    const option = missing[1]!.split(/[ ,]/).find((o) => o.startsWith('--')) ?? missing[1]!;
    return missing[2] === 'missing'
      ? `${option} needs a value`
      : `${option} is missing its value (write a value that starts with "-" as ${option}=<value>)`;
  }
  return message.replace(/\. To specify a positional argument.*$/s, '').split('\n')[0]!;
}

export function required(command: string, name: string, value: string | undefined): string {
  if (value === undefined || value === '')
    throw new UsageError(`${command}: --${name} is required\nRun "dominion ${command} --help" for usage.`);
  return value;
}

/** A repeatable option's values, at least one (e.g. `--db a.db --db b.db`). */
export function requiredList(command: string, name: string, values: readonly string[] | undefined): readonly string[] {
  if (values === undefined || values.length === 0) required(command, name, undefined);
  return values!;
}

export function oneOf<T extends string>(command: string, name: string, value: string | undefined, allowed: readonly T[], fallback?: T): T {
  if (value === undefined) {
    if (fallback !== undefined) return fallback;
    throw new UsageError(`${command}: --${name} is required (one of ${allowed.join(', ')})`);
  }
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`${command}: --${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

export function integer(command: string, name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${command}: --${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

/** `--board <id>` names a known board: a typo is a usage mistake (exit 2), as in `dominion build`. */
export function knownBoard(command: string, id: string): string {
  if (!boardIds().includes(id))
    throw new UsageError(`${command}: unknown board ${JSON.stringify(id.slice(0, 64))} (known: ${boardIds().join(', ')})`);
  return id;
}

/** Exactly `count` positional arguments, named in the error. */
export function positionals(command: string, got: readonly string[], names: readonly string[]): string[] {
  if (got.length !== names.length) {
    const want = names.map((n) => `<${n}>`).join(' ');
    throw new UsageError(
      `${command}: expected ${want || 'no positional arguments'}, got ${got.length === 0 ? 'none' : got.map((g) => JSON.stringify(g)).join(' ')}\nRun "dominion ${command} --help" for usage.`,
    );
  }
  return [...got];
}

/** A known error type from the hub library becomes a one-line message and exit code 1. */
export function failure(io: CliIo, command: string, err: unknown): number {
  const known =
    err instanceof Error &&
    /^(HubStoreError|KeyFileError|ProvisioningError|EnrollmentError|PolicyError|MqttUrlError|MqttTlsError|BrokerCaError|BrokerConfigError|BrokerUnreachableError|TopicError|InvalidInstanceError|ArtifactError|ReleaseError|PrincipalError|PasswordHashError|BrokerFilesError|BrokerSyncError|BuildError)$/.test(
      err.name,
    );
  if (!known) throw err;
  io.err(`dominion ${command}: ${(err as Error).message}`);
  return 1;
}

function pathKind(path: string): 'folder' | 'other' | 'absent' {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'other';
  } catch {
    return 'absent';
  }
}

/**
 * Why `path` cannot be a folder a command writes into, as `<path>: <problem>`, or undefined if it can.
 * `ifAbsent` says what the command does with a missing folder: makes it with its parents ('made'),
 * makes just it ('made-in-parent': its parent must be there), or needs it to exist ('must-exist').
 * Checked before any work, so the operator hears about their path, not Node's ENOTDIR halfway through.
 */
export function outputFolderProblem(path: string, ifAbsent: 'made' | 'made-in-parent' | 'must-exist'): string | undefined {
  const here = pathKind(path);
  if (here === 'folder') return undefined;
  if (here === 'other') return `${path}: exists and is not a folder`;
  if (ifAbsent === 'must-exist') return `${path}: no such folder`;
  return ifAbsent === 'made' ? undefined : parentProblem(path, 'parent folder');
}

/** Why a command cannot write the file `path` (its folder missing, or `path` a folder), or undefined. */
export function outputFileProblem(path: string): string | undefined {
  if (pathKind(path) === 'folder') return `${path}: is a folder, not a file`;
  return parentProblem(path, 'folder');
}

function parentProblem(path: string, noun: string): string | undefined {
  const parent = dirname(resolve(path));
  const kind = pathKind(parent);
  if (kind === 'absent') return `${path}: its ${noun} ${parent} does not exist`;
  if (kind === 'other') return `${path}: ${parent} is not a folder`;
  return undefined;
}

/** A 32-byte Ed25519 public key given as 64 hex digits, or as a file holding them. */
export function readPublicKey(command: string, value: string): Uint8Array {
  let text = value;
  if (!/^[0-9a-fA-F]{64}$/.test(value)) {
    try {
      text = readFileSync(value, 'utf8').trim();
    } catch {
      throw new UsageError(`${command}: cannot read the release public key file ${value}`);
    }
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text))
    throw new UsageError(`${command}: --release-pub must be 64 hex digits or a file holding them (${value})`);
  return Uint8Array.from(Buffer.from(text, 'hex'));
}
