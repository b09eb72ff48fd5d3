/**
 * The embedded broker: Aedes 1.x on a plain `net` server, or a `tls` server given a key and
 * certificate (docs/ARCHITECTURE.md §7). Aedes speaks MQTT
 * 3.1.1 only and does not implement shared subscriptions, so it suits one hub process per role —
 * tests, `npm start`, a single board on a bench. Accepted sockets get TCP_NODELAY, as Aedes leaves
 * Nagle on and broker→subscriber delivery would otherwise wait on delayed ACKs.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type Client } from 'aedes';

/**
 * Who may connect, publish and subscribe (docs/ARCHITECTURE.md §7.1); actors/broker-auth's
 * `BrokerAuthorizer` is the one the project uses, with the rule table Mosquitto's acl_file is
 * rendered from. Its answers must not throw.
 */
export interface BrokerAuth {
  authenticate(username: string | undefined, password: Uint8Array | undefined): boolean;
  mayPublish(username: string | undefined, topic: string): boolean;
  maySubscribe(username: string | undefined, filter: string): boolean;
}

/** The server's TLS identity, PEM: clients pin the CA that signed `cert` (docs/PROTOCOL.md §6.6). */
export interface EmbeddedBrokerTls {
  readonly key: string | Uint8Array;
  readonly cert: string | Uint8Array;
}

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 (the default) picks a free ephemeral port. */
  readonly port?: number;
  /** Interface to bind; default 127.0.0.1 (never all interfaces unless asked). */
  readonly host?: string;
  /**
   * Authentication and ACLs. Without, anyone may connect and do anything (tests, benchmarks). With:
   * a bad CONNECT is refused (return code 4), a forbidden PUBLISH closes the connection (MQTT 3.1.1
   * has no way to refuse one; Mosquitto drops it silently instead), a forbidden SUBSCRIBE is granted
   * 0x80 (failure).
   */
  readonly auth?: BrokerAuth;
  /** Listen in TLS with this identity; `url` is then `mqtts://…`. */
  readonly tls?: EmbeddedBrokerTls;
}

export interface EmbeddedBroker {
  /** `mqtt://host:port` (`mqtts://` with TLS), ready for `connectMqtt`. */
  readonly url: string;
  readonly port: number;
  /** Connections refused or dropped because the peer misbehaved (bad packets, timeouts). */
  clientErrors(): number;
  /** Disconnects every client and stops listening; idempotent. */
  close(): Promise<void>;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  // Aedes 1.x: the constructor no longer starts the broker; createBroker awaits listen() (docs/MIGRATION.md).
  const aedes = await Aedes.createBroker(options.auth === undefined ? {} : aedesHooks(options.auth));
  const sockets = new Set<net.Socket>();
  let clientErrors = 0;
  // A misbehaving peer shows up here; count it, never let it take the broker down. Aedes itself
  // emits 'error' (e.g. from its periodic will sweep), which would throw if nobody listened.
  aedes.on('clientError', () => void clientErrors++);
  aedes.on('connectionError', () => void clientErrors++);
  EventEmitter.prototype.on.call(aedes, 'error', () => void clientErrors++); // not in Aedes' typed overloads

  const track = (socket: net.Socket): void => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A reset from the peer must not surface as an unhandled socket 'error'.
    socket.on('error', () => {});
  };
  let server: net.Server;
  if (options.tls === undefined) {
    server = net.createServer((socket) => {
      track(socket);
      aedes.handle(socket);
    });
  } else {
    const tlsServer = tls.createServer({ key: Buffer.from(options.tls.key), cert: Buffer.from(options.tls.cert), minVersion: 'TLSv1.2' });
    // 'connection' hands over the TCP socket itself (TCP_NODELAY there); Aedes gets the TLS one.
    tlsServer.on('connection', track);
    tlsServer.on('secureConnection', (socket) => {
      socket.on('error', () => {});
      aedes.handle(socket);
    });
    // A client that fails the handshake (wrong CA on its side, plain MQTT on a TLS port): counted.
    tlsServer.on('tlsClientError', () => void clientErrors++);
    server = tlsServer;
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  server.on('error', () => void clientErrors++);

  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('embedded broker: server has no TCP address');
  const port = address.port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls === undefined ? 'mqtt' : 'mqtts'}://${urlHost}:${port}`,
    port,
    clientErrors: () => clientErrors,
    close(): Promise<void> {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        // Sockets that never sent CONNECT are not Aedes clients; drop them so server.close() can finish.
        for (const socket of sockets) socket.destroy();
        await serverClosed;
      })();
      return closing;
    },
  };
}

/** The Aedes hooks for `auth`: the username each client authenticated with decides what it may do. */
function aedesHooks(auth: BrokerAuth): {
  authenticate: NonNullable<ConstructorParameters<typeof Aedes>[0]>['authenticate'];
  authorizePublish: NonNullable<ConstructorParameters<typeof Aedes>[0]>['authorizePublish'];
  authorizeSubscribe: NonNullable<ConstructorParameters<typeof Aedes>[0]>['authorizeSubscribe'];
} {
  const users = new WeakMap<Client, string>();
  const refused = (message: string, returnCode: 4 | 5): Error & { returnCode: 4 | 5 } => Object.assign(new Error(message), { returnCode });
  return {
    authenticate: (client, username, password, done) => {
      let ok = false;
      try {
        ok = auth.authenticate(username, password === undefined ? undefined : new Uint8Array(password));
      } catch {
        ok = false;
      }
      if (!ok) return done(refused('bad user name or password', 4), false);
      users.set(client, username!);
      done(null, true);
    },
    authorizePublish: (client, packet, done) => {
      // A null client is the broker itself (nothing of ours publishes that way); a Will is checked here too.
      if (client === null) return done(null);
      const ok = safe(() => auth.mayPublish(users.get(client), packet.topic));
      done(ok ? null : new Error(`not authorized to publish on ${packet.topic.slice(0, 120)}`));
    },
    authorizeSubscribe: (client, subscription, done) => {
      const ok = safe(() => auth.maySubscribe(users.get(client), subscription.topic));
      // A null subscription is a refused one: SUBACK 0x80, the connection stays.
      done(null, ok ? subscription : null);
    },
  };
}

function safe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
