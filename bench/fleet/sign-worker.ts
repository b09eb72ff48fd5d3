/**
 * The simulator's signing thread: holds a prepared signing key per simulated device and signs the
 * requests of the windows the simulator asks for, ahead of their time, with fresh random nonces —
 * so the publishing thread never signs and the simulator's own signing cannot delay the hub's load.
 */
import { randomFillSync, sign } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { CONTEXTS, keyIdOf, nodeBackend, type Signer } from '../../actors/crypto/index.ts';
import { seal } from '../../actors/tickets/index.ts';
import { createLite, ResetReason, RuntimeInfoLite, TicketRequestLite, toBinaryLite } from '../../proto/index.ts';
import { FleetKeys, fleetDeviceId, signingKey } from './fleet-keys.ts';
import { FleetSchedule } from './schedule.ts';
import { NONCE_LENGTH, type SignerReply, type SignerSetup, type WindowAsk } from './signed-window.ts';

const setup = workerData as SignerSetup;
const port = parentPort!;
const keys = new FleetKeys(
  setup.devices,
  setup.seed,
  Buffer.from(setup.records.buffer, setup.records.byteOffset, setup.records.byteLength),
);
const schedule = new FleetSchedule(setup.devices, setup.intervalMs, setup.scheduleSeed);

const t0 = performance.now();
const signers: Signer[] = new Array(keys.devices);
for (let i = 0; i < keys.devices; i++) {
  const key = signingKey(keys.secretKey(i), keys.publicKey(i));
  const publicKey = keys.publicKey(i).slice();
  signers[i] = { publicKey, keyId: keyIdOf(nodeBackend(), publicKey), sign: (m) => new Uint8Array(sign(null, m, key)) };
}
port.postMessage({ kind: 'ready', keyMs: performance.now() - t0 } satisfies SignerReply);

// What every simulated device reports, built as actors/sw/device-awdt.ts does: the same firmware and a
// power-on boot (the hub's fleet policy sets only the deferral, so this passes it).
const runtime = createLite(RuntimeInfoLite, {
  report: {
    case: 'device',
    value: {
      bootCount: 1n,
      lastResetReason: ResetReason.POWER_ON,
      firmwareVersion: '1.0.0',
      manifestDigest: new Uint8Array(64).fill(1),
      hypervisorImageDigest: new Uint8Array(64).fill(2),
      slots: [],
      recovery: false,
    },
  },
});

port.on('message', (ask: WindowAsk) => {
  const start = performance.now();
  const sends = schedule.sendsIn(ask.fromMs, ask.toMs);
  const n = sends.length;
  const nonces = new Uint8Array(n * NONCE_LENGTH);
  randomFillSync(nonces);
  const parts: Uint8Array[] = new Array(n);
  const offsets = new Uint32Array(n + 1);
  const devices = new Uint32Array(n);
  const atMs = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const { device, atMs: at } = sends[j]!;
    // As AwdtCore.request builds it (actors/tickets/awdt.ts); uptime: booted a minute before the run.
    const request = createLite(TicketRequestLite, {
      deviceId: fleetDeviceId(device),
      instance: 'device',
      nonce: nonces.subarray(j * NONCE_LENGTH, (j + 1) * NONCE_LENGTH),
      runtime,
      uptimeMs: BigInt(Math.floor(at) + 60_000),
    });
    parts[j] = seal(signers[device]!, CONTEXTS.ticketRequest, toBinaryLite(TicketRequestLite, request));
    offsets[j + 1] = offsets[j]! + parts[j]!.length;
    devices[j] = device;
    atMs[j] = at;
  }
  const bytes = new Uint8Array(offsets[n]!);
  for (let j = 0; j < n; j++) bytes.set(parts[j]!, offsets[j]!);
  const reply: SignerReply = {
    kind: 'window',
    window: ask.window,
    devices,
    atMs,
    offsets,
    bytes,
    nonces,
    signMs: performance.now() - start,
  };
  port.postMessage(reply, [devices.buffer, atMs.buffer, offsets.buffer, bytes.buffer, nonces.buffer]);
});
