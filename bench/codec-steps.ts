/**
 * What each step of a ticket exchange costs a hub beside the signatures, in µs (each step 200,000
 * times after a warm-up, median of 5 rounds, this process's CPU), after what a byte array costs fresh
 * and as a view (docs/ARCHITECTURE.md §7, "Bytes on the hot path"): open the request's envelope with a
 * verifier that accepts anything, decode the request, build and encode the reply, seal it with a
 * signer that signs nothing; then verify and sign themselves. `--tree <dir>` measures another checkout
 * (a git worktree) with the same script, for a before/after.
 *
 *   node --import tsx bench/codec-steps.ts [--tree /tmp/base]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { table } from './stats.ts';

type Proto = typeof import('../proto/index.ts');
type Crypto = typeof import('../actors/crypto/index.ts');
type Tickets = typeof import('../actors/tickets/index.ts');

/** CPU µs per call of `f`: `n` calls per round, median of 5 rounds after a warm-up. */
function perCall(f: () => unknown, n = 200_000): number {
  for (let i = 0; i < 20_000; i++) f();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const c = process.cpuUsage();
    for (let i = 0; i < n; i++) f();
    const d = process.cpuUsage(c);
    rounds.push((d.user + d.system) / n);
  }
  return rounds.sort((a, b) => a - b)[2]!;
}

export async function benchCodecSteps(tree: string): Promise<string> {
  const at = (path: string): string => pathToFileURL(resolve(tree, path)).href;
  const proto = (await import(at('proto/index.ts'))) as Proto;
  const { CONTEXTS, cryptoBackend, generateSecretKey } = (await import(at('actors/crypto/index.ts'))) as Crypto;
  const { open, seal } = (await import(at('actors/tickets/index.ts'))) as Tickets;
  const node = cryptoBackend('node');
  const signer = node.signer(generateSecretKey());
  const verifier = node.verifier(signer.publicKey);
  const request = proto.create(proto.TicketRequestSchema, {
    deviceId: 'bench-12345',
    instance: 'device',
    nonce: new Uint8Array(32).fill(7),
    uptimeMs: 123_456n,
    runtime: {
      report: {
        case: 'device',
        value: {
          bootCount: 1n,
          lastResetReason: proto.ResetReason.POWER_ON,
          firmwareVersion: '1.0.0',
          manifestDigest: new Uint8Array(64).fill(1),
          hypervisorImageDigest: new Uint8Array(64).fill(2),
        },
      },
    },
  });
  const bytes = seal(signer, CONTEXTS.ticketRequest, proto.toBinary(proto.TicketRequestSchema, request));
  const payload = proto.toBinary(proto.TicketRequestSchema, request);
  const accepts = { keyId: verifier.keyId, pin: () => {}, verify: () => true };
  const signsNothing = { publicKey: signer.publicKey, keyId: signer.keyId, sign: () => new Uint8Array(64) };
  const reply = (): Uint8Array =>
    proto.toBinary(
      proto.TicketReplySchema,
      proto.create(proto.TicketReplySchema, {
        deviceId: 'bench-12345',
        instance: 'device',
        nonce: request.nonce,
        outcome: {
          case: 'ticket',
          value: { deviceId: 'bench-12345', instance: 'device', nonce: request.nonce, deferralMs: 60_000, issuedAtMs: 1n },
        },
      }),
    );
  const replyLite = (): Uint8Array =>
    proto.ticketReplyLiteCodec.encode(
      proto.createLite(proto.TicketReplyLite, {
        deviceId: 'bench-12345',
        instance: 'device',
        nonce: request.nonce,
        outcome: {
          case: 'ticket',
          value: proto.createLite(proto.DeferralTicketLite, {
            deviceId: 'bench-12345',
            instance: 'device',
            nonce: request.nonce,
            deferralMs: 60_000,
            issuedAtMs: 1n,
          }),
        },
      }),
    );
  const replyBytes = reply();
  const signature = signer.sign(bytes);
  const n = 150; // a variable, as a hub's lengths are
  const source = new Uint8Array(n);
  // First in a fresh process, and again after the steps: a backing store costs more once many were made.
  const allocations = (when: string): Array<[string, number]> => [
    [`new Uint8Array(64) (on the V8 heap), ${when}`, perCall(() => new Uint8Array(64))],
    [`new Uint8Array(${n}) (a backing store of its own), ${when}`, perCall(() => new Uint8Array(n))],
    [`Uint8Array.prototype.slice of ${n} bytes, ${when}`, perCall(() => source.slice())],
    [`a view (subarray) of ${n} bytes, ${when}`, perCall(() => source.subarray(0, n))],
  ];
  const rows: Array<[string, number]> = [
    ...allocations('first'),
    [
      `open a ${bytes.length}-byte request envelope (no verify)`,
      perCall(() => open(bytes, CONTEXTS.ticketRequest, () => accepts as never)),
    ],
    [
      'decode the TicketRequest (protobuf-es, bounded)',
      perCall(() => proto.tryDecodeBounded(proto.TicketRequestSchema, payload, proto.MAX_WIRE_BYTES.ticketRequest)),
    ],
    ['build and encode the TicketReply (protobuf-es)', perCall(reply)],
    ['build and encode the TicketReply (table-driven)', perCall(replyLite)],
    ['seal the reply (no signature made)', perCall(() => seal(signsNothing as never, CONTEXTS.ticketReply, replyBytes))],
    ['Ed25519 verify (node)', perCall(() => verifier.verify(bytes, signature), 5_000)],
    ['Ed25519 sign (node)', perCall(() => signer.sign(replyBytes), 5_000)],
  ];
  rows.push(...allocations('after the steps'));
  return table(
    ['step', 'CPU µs'],
    rows.map(([step, us]) => [step, us.toFixed(2)]),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { tree: { type: 'string' } } });
  const tree = values.tree ?? resolve(import.meta.dirname, '..');
  benchCodecSteps(tree).then(
    (text) => console.log(`## A ticket exchange's steps beside the signatures (${tree})\n\n${text}`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
