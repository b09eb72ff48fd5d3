/**
 * Child process for the hub benchmark: an embedded Aedes broker (actors/mqtt, TCP_NODELAY on every
 * socket) on a free port, in a process of its own so that its CPU is measured apart from the load
 * generator's. Prints `READY <url>`; exits when stdin closes.
 */
import { startEmbeddedBroker } from '../actors/mqtt/index.ts';

const broker = await startEmbeddedBroker({ port: 0 });
process.stdout.write(`READY ${broker.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => void broker.close().then(() => process.exit(0)));
