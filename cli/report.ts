/**
 * What `dominion` prints when a command throws: a usage mistake is one line naming the command plus
 * a pointer to its --help (exit 2); a system error on a file is one line naming the path and what
 * went wrong (exit 1); anything else is its message, named by the command (exit 1).
 * Raw Node text ("ENOENT: no such file or directory, open …") never reaches the operator.
 */
import { UsageError } from './args.ts';

export interface Report {
  readonly code: 1 | 2;
  readonly lines: readonly string[];
}

/** `message` without the leading `<command>:` (or `<command> <sub>:`) most commands already write. */
function withoutCommand(command: string, message: string): string {
  return message.startsWith(`${command}: `) ? message.slice(command.length + 2) : message;
}

export function usagePointer(command: string): string {
  return `Run "dominion ${command} --help" for usage.`;
}

function usageReport(command: string, err: UsageError): Report {
  // Older messages carried the pointer or the whole help text: one line, one pointer.
  const first = err.message.split(/\nRun "dominion |\n\n/)[0]!.trim();
  const named = first.startsWith(`${command}: `) || first.startsWith(`${command} `) ? first : `${command}: ${first}`;
  return { code: 2, lines: [`dominion: ${named}`, usagePointer(command)] };
}

const CODES: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'is a folder, not a file',
  EEXIST: 'already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
};

const SYSCALLS: Record<string, string> = {
  open: 'cannot open',
  mkdir: 'cannot create the folder',
  mkdtemp: 'cannot create a temporary folder',
  rename: 'cannot rename',
  scandir: 'cannot list',
  unlink: 'cannot remove',
  rmdir: 'cannot remove',
  rm: 'cannot remove',
  stat: 'cannot inspect',
  lstat: 'cannot inspect',
  read: 'cannot read',
  write: 'cannot write',
  copyfile: 'cannot copy',
  chmod: 'cannot change the mode of',
  access: 'cannot access',
};

interface SystemError extends Error {
  readonly code: string;
  readonly syscall: string;
  readonly path?: string;
}

function isSystemError(err: unknown): err is SystemError {
  const e = err as Partial<SystemError> | null;
  return err instanceof Error && typeof e?.code === 'string' && typeof e.syscall === 'string';
}

/** `<path>: <what went wrong>` for an fs error on a path, else undefined. */
export function describeFileError(err: unknown): string | undefined {
  if (!isSystemError(err) || typeof err.path !== 'string') return undefined;
  // mkdir on an existing file: the operator named a file where a folder belongs.
  if (err.syscall === 'mkdir' && err.code === 'EEXIST') return `${err.path}: exists and is not a folder`;
  const what = CODES[err.code] ?? err.code;
  const doing = SYSCALLS[err.syscall] ?? `cannot ${err.syscall}`;
  return `${err.path}: ${doing}: ${what}`;
}

/** The lines and exit code for an error a command threw. */
export function reportError(command: string, err: unknown): Report {
  if (err instanceof UsageError) return usageReport(command, err);
  const file = describeFileError(err);
  const message = file ?? (err instanceof Error ? err.message : String(err));
  return { code: 1, lines: [`dominion ${command}: ${withoutCommand(command, message)}`] };
}
