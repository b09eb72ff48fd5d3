/**
 * `dominion broker-config`: TLS material and a Mosquitto configuration for the hubs' broker
 * (docs/PROTOCOL.md §6.6), made with the `openssl` command (actors/mqtt/tls-material.ts). Devices
 * and hubs then pin the CA it wrote (`dominion enroll --broker-ca`, `dominion hub --broker-ca`).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { makeBrokerConfig } from '../actors/mqtt/tls-material.ts';
import { consoleIo, failure, integer, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';

const HELP = `usage: dominion broker-config --out <dir> --host <name-or-ip>[,...] [--port 8883] [options]

Makes, with the openssl command, a CA (ca.crt, ca.key), a server key and certificate for the given
host names and addresses (server.key, server.crt; EC P-256) and a mosquitto.conf for Mosquitto 2:
one TLS listener (TLS 1.2 and up), TCP_NODELAY, no anonymous clients, the password file <dir>/passwd
and the ACL file <dir>/acl (created empty when absent: "mosquitto_passwd -b <dir>/passwd <user> <pw>"
adds a client). Keys are mode 0600. An existing ca.key is never overwritten (devices pin its CA).

options:
  --out <dir>            where to write (created when missing)
  --host <names>         DNS names and IP addresses clients use to reach the broker, comma-separated
                         or repeated: the certificate's subjectAltName (the first is its CN)
  --port <n>             TLS listener port (default 8883)
  --bind <address>       address the listener binds (default: all interfaces)
  --user <name>          the user Mosquitto runs as once started as root ("user" in the config).
                         Default, when run as root and the user exists: mosquitto (the server key,
                         passwd and acl are handed to it; ca.key stays root's). "root" keeps root.
  -h, --help             this text`;

export async function brokerConfigCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('broker-config', argv, {
    out: { type: 'string' },
    host: { type: 'string', multiple: true },
    port: { type: 'string' },
    bind: { type: 'string' },
    user: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  positionals('broker-config', rest, []);
  const out = required('broker-config', 'out', values.out);
  const hosts = (values.host ?? [])
    .flatMap((h) => h.split(','))
    .map((h) => h.trim())
    .filter((h) => h !== '');
  if (hosts.length === 0) throw new UsageError('broker-config: --host <name-or-ip>[,...] is required (how clients reach the broker)');
  const port = integer('broker-config', 'port', values.port, 8883, 1, 65535);
  const user = values.user ?? (await defaultUser());
  try {
    const f = await makeBrokerConfig({
      dir: out,
      hosts,
      port,
      ...(values.bind !== undefined ? { bind: values.bind } : {}),
      ...(user !== undefined ? { user } : {}),
    });
    io.out(`wrote ${f.caCert} and ${f.caKey} (the CA; keep ca.key offline, mode 0600)`);
    io.out(`wrote ${f.serverCert} and ${f.serverKey} (the broker's, for ${hosts.join(', ')}; key mode 0600)`);
    io.out(`wrote ${f.conf} (TLS listener on port ${port}${user !== undefined ? `, runs as ${user}` : ''})`);
    io.out(`${f.created.passwd ? 'created empty' : 'kept'} ${f.passwd}, ${f.created.acl ? 'created empty' : 'kept'} ${f.acl}`);
    io.out('next:');
    io.out(`  mosquitto_passwd -b ${f.passwd} <user> <password>   (one per hub and device; or "dominion broker-sync")`);
    io.out(`  mosquitto -c ${f.conf}`);
    io.out(`  dominion enroll … --broker mqtts://${hosts[0]!.includes(':') ? `[${hosts[0]}]` : hosts[0]}:${port} --broker-ca ${f.caCert}`);
    io.out(`  dominion hub … --broker mqtts://${hosts[0]!.includes(':') ? `[${hosts[0]}]` : hosts[0]}:${port} --broker-ca ${f.caCert}`);
    return 0;
  } catch (err) {
    return failure(io, 'broker-config', err);
  }
}

/** As root, Mosquitto drops to `mosquitto` unless told otherwise: hand it its files when that user exists. */
async function defaultUser(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    await promisify(execFile)('id', ['-u', 'mosquitto']);
    return 'mosquitto';
  } catch {
    return undefined;
  }
}
