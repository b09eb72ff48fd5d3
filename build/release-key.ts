/**
 * The release key signs each board's manifest; devices pin its public key at provisioning.
 *
 * Key files hold the 32-byte Ed25519 seed as 64 hex digits (one line). A real release key is kept
 * off the build tree and passed with `--release-key <file>`. Without one, the build uses a
 * development key in `.release-key` next to the dist root (created on first use, mode 0600, reused
 * after that so rebuilds stay byte-identical) and warns: devices provisioned with it trust anything
 * signed on this machine. The private key is never written into dist.
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, generateSecretKey, hex, nodeBackend } from '../actors/crypto/index.ts';
import { BuildError } from './errors.ts';

export interface ReleaseKey {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Where it came from, for messages. */
  readonly file: string;
  /** A development key made by the build (not a real release key). */
  readonly dev: boolean;
}

export const DEV_KEY_FILE = '.release-key';

/** Reads a seed file; BuildError('release-key') naming the file when it is unusable or group/other can read it. */
export function readReleaseKey(file: string): ReleaseKey {
  let text: string;
  try {
    // Refused, not warned about: whoever can read it can sign artifacts every provisioned device
    // runs. Checked before reading, as the device's secret key files are (actors/provisioning/key-file.ts).
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0)
      throw new BuildError(
        'release-key',
        `release key ${file} is readable by group or others (mode ${mode.toString(8).padStart(3, '0')}); a secret key file must not be: chmod 600 ${file}`,
      );
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof BuildError) throw e;
    throw new BuildError('release-key', `cannot read release key ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const seedHex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(seedHex))
    throw new BuildError('release-key', `release key ${file} must hold a 32-byte Ed25519 seed as 64 hex digits`);
  const secretKey = fromHex(seedHex);
  return { secretKey, publicKey: nodeBackend().publicKeyOf(secretKey), file, dev: false };
}

/**
 * A new release key: `<name>.key` (the seed, mode 0600) and `<name>.pub` (the public key as 64 hex
 * digits, what `dominion enroll --release-pub` and `dominion install --release-pub` take). Refuses
 * to overwrite either: a lost release key means re-provisioning every device that pins it.
 */
export function writeNewReleaseKey(
  dir: string,
  name: string,
): { readonly secretFile: string; readonly publicFile: string; readonly publicKey: Uint8Array } {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name.startsWith('.'))
    throw new BuildError(
      'release-key',
      `a release key name is 1–64 letters, digits, ".", "_" or "-" (not starting with "."), got ${JSON.stringify(name)}`,
    );
  const secretFile = join(dir, `${name}.key`);
  const publicFile = join(dir, `${name}.pub`);
  for (const f of [secretFile, publicFile])
    if (existsSync(f)) throw new BuildError('release-key', `${f} already exists; refusing to overwrite a release key`);
  const secretKey = generateSecretKey();
  const publicKey = nodeBackend().publicKeyOf(secretKey);
  writeFileSync(secretFile, `${hex(secretKey)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(secretFile, 0o600); // in case the umask got in the way
  writeFileSync(publicFile, `${hex(publicKey)}\n`, { mode: 0o644, flag: 'wx' });
  return { secretFile, publicFile, publicKey };
}

/** The development key at `file`, made (mode 0600) if it does not exist yet. */
export function devReleaseKey(file: string, warn: (line: string) => void = () => {}): ReleaseKey {
  if (!existsSync(file)) {
    writeFileSync(file, `${hex(generateSecretKey())}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // in case the umask got in the way
    warn(`warning: created a development release key ${file} (mode 0600). Do not ship artifacts signed with it: pass --release-key <file>`);
  } else {
    warn(`warning: signing with the development release key ${file}. Do not ship artifacts signed with it: pass --release-key <file>`);
  }
  return { ...readReleaseKey(file), dev: true };
}
