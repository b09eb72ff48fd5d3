/**
 * TLS material and a Mosquitto configuration for a dominion broker (docs/PROTOCOL.md §6.6), made
 * with the `openssl` command-line tool (run with execFile, never a shell): a CA, a server key and
 * certificate for the broker's host names and addresses, and a `mosquitto.conf` with one TLS
 * listener, no anonymous clients, a password file and an ACL file.
 *
 * Keys are EC P-256 (ECDSA with SHA-256): what both Node 20 and Mosquitto 2.0.11 (OpenSSL 3) accept
 * in TLS 1.2 and 1.3 alike; Ed25519 certificates work only in TLS 1.3 and not in every client.
 * Private keys are created mode 0600 before OpenSSL writes into them, so they are never readable by
 * others, even for a moment. An existing CA key is never overwritten: a new CA would silently
 * invalidate every device's pin.
 */
import { execFile } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class BrokerConfigError extends Error {
  override readonly name = 'BrokerConfigError';
}

export interface BrokerConfigOptions {
  /** Where everything is written (created when missing). */
  readonly dir: string;
  /** DNS names and IP addresses clients reach the broker by: the certificate's subjectAltName. */
  readonly hosts: readonly string[];
  /** TLS listener port; default 8883. */
  readonly port?: number;
  /** Address the listener binds; default all interfaces. */
  readonly bind?: string;
  /**
   * The user Mosquitto runs as once started as root (its `user` option). Default: unset, so
   * Mosquitto drops to `mosquitto`. When we run as root and the user exists, the files the broker
   * reads (server key, passwd, acl) are handed to it; the CA key stays ours.
   */
  readonly user?: string;
  /** Validity of the server certificate in days (default 825) and of the CA (default 3650). */
  readonly serverDays?: number;
  readonly caDays?: number;
  /** The `openssl` to run; default `openssl` on PATH. */
  readonly openssl?: string;
}

export interface BrokerConfigFiles {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly conf: string;
  readonly passwd: string;
  readonly acl: string;
  /** passwd / acl created (empty) now, rather than found. */
  readonly created: { readonly passwd: boolean; readonly acl: boolean };
}

const DNS_NAME = /^(?=.{1,253}$)(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The subjectAltName entries for `hosts`; throws BrokerConfigError for anything that is neither a DNS name nor an IP. */
export function subjectAltNames(hosts: readonly string[]): string[] {
  if (hosts.length === 0) throw new BrokerConfigError('at least one host name or IP address is needed');
  return hosts.map((raw) => {
    const h = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (isIP(h) !== 0) return `IP:${h}`;
    if (DNS_NAME.test(h)) return `DNS:${h}`;
    throw new BrokerConfigError(`${JSON.stringify(raw.slice(0, 80))} is neither a DNS name nor an IP address`);
  });
}

/** The `mosquitto.conf` text for the files in `files` (paths absolute). */
export function mosquittoConf(
  files: Omit<BrokerConfigFiles, 'created' | 'caKey' | 'conf'>,
  port: number,
  bind?: string,
  user?: string,
): string {
  return [
    '# Written by "dominion broker-config" (docs/PROTOCOL.md §6.6): MQTT over TLS only, no anonymous clients.',
    '# per_listener_settings must come before any listener; the auth options below apply to every listener.',
    'per_listener_settings false',
    'allow_anonymous false',
    `password_file ${files.passwd}`,
    `acl_file ${files.acl}`,
    'persistence false',
    '# Nagle off: a ticket is a request and a reply, which delayed ACKs would hold back 40 ms or more.',
    'set_tcp_nodelay true',
    '# The MQTT 5 Receive Maximum Mosquitto announces: replies a hub may have unacknowledged (20 by default).',
    'max_inflight_messages 256',
    ...(user !== undefined
      ? [`# Started as root, Mosquitto drops to this user (it must be able to read the key, passwd and acl).`, `user ${user}`]
      : []),
    '',
    `listener ${port}${bind !== undefined ? ` ${bind}` : ''}`,
    `cafile ${files.caCert}`,
    `certfile ${files.serverCert}`,
    `keyfile ${files.serverKey}`,
    'tls_version tlsv1.2',
    '',
  ].join('\n');
}

/** Makes the CA, the server key and certificate and `mosquitto.conf` in `o.dir`; creates empty passwd/acl if absent. */
export async function makeBrokerConfig(o: BrokerConfigOptions): Promise<BrokerConfigFiles> {
  const sans = subjectAltNames(o.hosts);
  const port = o.port ?? 8883;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BrokerConfigError(`port ${port} is not a TCP port`);
  if (o.user !== undefined && !USER.test(o.user)) throw new BrokerConfigError(`${JSON.stringify(o.user.slice(0, 40))} is not a user name`);
  if (o.bind !== undefined && isIP(o.bind) === 0 && !DNS_NAME.test(o.bind))
    throw new BrokerConfigError(`${JSON.stringify(o.bind.slice(0, 80))} is not an address to bind`);
  const openssl = o.openssl ?? 'openssl';
  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const f = {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    conf: join(dir, 'mosquitto.conf'),
    passwd: join(dir, 'passwd'),
    acl: join(dir, 'acl'),
  };
  if (existsSync(f.caKey))
    throw new BrokerConfigError(`${f.caKey} exists: refusing to make a new CA (every device pins the old one); use another --out`);

  const ssl = async (args: string[]): Promise<void> => {
    try {
      await run(openssl, args, { timeout: 60_000 });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new BrokerConfigError(`the openssl command is needed and was not found (${openssl})`);
      throw new BrokerConfigError(
        `openssl ${args[0]} failed: ${String(e.stderr ?? e.message)
          .trim()
          .slice(0, 400)}`,
      );
    }
  };
  const newKey = async (path: string, exclusive: boolean): Promise<void> => {
    // Created 0600 first (exclusively for the CA key: never overwrite it), then OpenSSL writes into it.
    closeSync(openSync(path, exclusive ? 'wx' : 'w', 0o600));
    await ssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
  };
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  try {
    await newKey(f.caKey, true);
    await ssl([
      'req', '-x509', '-new', '-key', f.caKey, '-sha256', '-days', String(o.caDays ?? 3650),
      '-subj', '/CN=dominion broker CA',
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-out', f.caCert,
    ]); // prettier-ignore
    await newKey(f.serverKey, false);
    const cn = o.hosts[0]!.trim().replace(/^\[(.*)\]$/, '$1');
    await ssl(['req', '-new', '-key', f.serverKey, '-subj', `/CN=${cn}`, '-out', csr]);
    writeFileSync(
      ext,
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`,
    );
    const serial = `0x${Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(16)))
      .toString('hex')
      .replace(/^[89a-f]/, '1')}`;
    await ssl([
      'x509', '-req', '-in', csr, '-CA', f.caCert, '-CAkey', f.caKey, '-set_serial', serial,
      '-days', String(o.serverDays ?? 825), '-sha256', '-extfile', ext, '-out', f.serverCert,
    ]); // prettier-ignore
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  const created = { passwd: !existsSync(f.passwd), acl: !existsSync(f.acl) };
  if (created.passwd) writeFileSync(f.passwd, '', { mode: 0o600 });
  if (created.acl) writeFileSync(f.acl, '', { mode: 0o600 });
  writeFileSync(f.conf, mosquittoConf(f, port, o.bind, o.user), { mode: 0o644 });
  if (o.user !== undefined && o.user !== 'root' && process.getuid?.() === 0) await handTo(o.user, [f.serverKey, f.passwd, f.acl]);
  return { ...f, created };
}

/** chown `paths` to `user` (its primary group), when that user exists; the CA key is never among them. */
async function handTo(user: string, paths: readonly string[]): Promise<void> {
  let uid: number;
  let gid: number;
  try {
    uid = Number((await run('id', ['-u', user])).stdout.trim());
    gid = Number((await run('id', ['-g', user])).stdout.trim());
  } catch {
    throw new BrokerConfigError(`user ${user} does not exist on this machine (create it, or give --user root)`);
  }
  for (const p of paths) chownSync(p, uid, gid);
}
