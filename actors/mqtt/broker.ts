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
import { Aedes } from 'aedes';

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
  const aedes = await Aedes.createBroker();
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
