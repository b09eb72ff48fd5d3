/**
 * `dominion install <archive>`: verifies an install archive against the release key and lays it out
 * (build/install.ts), as its install.sh would.
 */
import { installPack, nextSteps, PackError } from '../build/index.ts';
import { loadProvisioning } from '../actors/provisioning/index.ts';
import { UsageError } from './args.ts';
import { consoleIo, failure, parseCommand, positionals, readPublicKey, type CliIo } from './options.ts';

const HELP = `usage: dominion install <archive> (--release-pub <hex|file> | --provision <file>) [--root <dir>] [--prefix <dir>] [--check]

Verifies an archive from "dominion pack" — PACK.sig by the release key over PACK.json, every file's
SHA-512, and the dist manifest inside — and refuses an unsigned or tampered one, naming it, before
anything is written. Then lays it out (the layout the archive's install.sh follows too):

  <prefix>/bin/dominion-device.mjs, <prefix>/dist/<board>/, <prefix>/board.json, PACK.json, PACK.sig
  /etc/systemd/system/dominion-<board>.service (naming <prefix>)
  /etc/dominion (0700) and /var/lib/dominion (0755): made when missing, their contents kept

The prefix is replaced whole (staged beside it, then renamed into place). The unit is not enabled
or started: the command prints the next steps.

options:
  --release-pub <hex|file>  the release public key (64 hex digits, or a file holding them)
  --provision <file>        or: the release key a provisioning file pins (dominion enroll --release-pub)
  --root <dir>              install under this folder instead of / (an image being prepared, a test)
  --prefix <dir>            where dominion goes (default /opt/dominion)
  --check                   verify only; install nothing
  -h, --help                this text

exit status: 0 installed (or verified), 1 refused or failed, 2 bad usage.`;

export async function installCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('install', argv, {
    'release-pub': { type: 'string' },
    provision: { type: 'string' },
    root: { type: 'string' },
    prefix: { type: 'string' },
    check: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  const [archive] = positionals('install', rest, ['archive']);
  let releasePublicKey: Uint8Array;
  try {
    if (values['release-pub'] !== undefined) releasePublicKey = readPublicKey('install', values['release-pub']);
    else if (values.provision !== undefined) {
      const pinned = loadProvisioning(values.provision).releaseKey;
      if (pinned === undefined) throw new UsageError(`install: ${values.provision} pins no release key: give --release-pub`);
      releasePublicKey = pinned;
    } else throw new UsageError('install: the release public key is required: --release-pub <hex|file> or --provision <file>');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return failure(io, 'install', e);
  }
  try {
    const result = installPack({
      archive: archive!,
      root: values.root,
      prefix: values.prefix,
      releasePublicKey,
      checkOnly: values.check,
      log: (line) => io.out(line),
    });
    if (values.check) {
      io.out(
        `${archive}: verified: board ${result.doc.board} release ${result.doc.version} (${Object.keys(result.doc.files).length} files)`,
      );
      return 0;
    }
    for (const line of nextSteps(result.doc.board, values.prefix ?? '/opt/dominion')) io.out(line);
    return 0;
  } catch (e) {
    if (e instanceof PackError) {
      if (e.code === 'bad-option') throw new UsageError(`install: ${e.message}`);
      io.err(`dominion install: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
