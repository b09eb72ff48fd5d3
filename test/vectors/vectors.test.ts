/**
 * Golden vectors (ticket-v1.json, docs/PROTOCOL.md "Worked example"):
 * 1. the project's code rebuilds every committed byte from the committed inputs (both crypto backends);
 * 2. the committed bytes verify by an independent path: node:crypto derives the keys and checks the
 *    signatures over utf8(context) || 0x00 || payload, and a hand-written protobuf reader takes the
 *    envelopes apart (no generated code, no open());
 * 3. the project's hub and AWDT treat the vectors as the spec says.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cryptoBackend, fromHex, hex } from '../../actors/crypto/index.ts';
import { AwdtCore } from '../../actors/tickets/index.ts';
import { HubCore, IH_ROLE, MemoryPolicy, MemoryRegistry } from '../../actors/hub/index.ts';
import {
  codecs,
  decodeBounded,
  MAX_WIRE_BYTES,
  TicketRequestSchema,
  validateTicketRequest,
  WithholdReason,
  create,
  RuntimeInfoSchema,
} from '../../proto/index.ts';
import { buildVectors, MALFORMED_DETAIL, vectorRuntime, type SignedVector, type TicketVectors } from './build.ts';

const path = fileURLToPath(new URL('./ticket-v1.json', import.meta.url));
const text = readFileSync(path, 'utf8');
const vectors = JSON.parse(text) as TicketVectors;
const { inputs } = vectors;

const signed = (): Array<[string, SignedVector, 'device' | 'ih']> => [
  ['request', vectors.request, 'device'],
  ['ticketReply', vectors.ticketReply, 'ih'],
  ['updateRequiredReply', vectors.updateRequiredReply, 'ih'],
  ['malformedRequest', vectors.malformedRequest, 'device'],
  ['malformedReply', vectors.malformedReply, 'ih'],
];

describe('golden vectors: rebuilt by the project code', () => {
  it('ticket-v1.json is exactly what generate.ts writes from its inputs', () => {
    assert.equal(text, `${JSON.stringify(buildVectors(inputs), null, 2)}\n`, 'stale: run node --import tsx test/vectors/generate.ts');
  });

  it('the noble backend gives the same bytes as the node backend', () => {
    assert.deepEqual(buildVectors(inputs, 'noble'), vectors);
  });
});

// ── An independent reading: node:crypto and a protobuf reader written from the wire format ─────────

const PKCS8_ED25519 = '302e020100300506032b657004220420';

/** Raw public key of a seed, by way of a JWK (not the SPKI slicing actors/crypto/node.ts uses). */
function publicKeyOfSeed(seedHex: string): Buffer {
  const priv = createPrivateKey({ key: Buffer.from(PKCS8_ED25519 + seedHex, 'hex'), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url');
}

function publicKeyObject(raw: Buffer) {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

type Field = { readonly number: number; readonly wire: number; readonly value: bigint | Buffer };

/** Top-level fields of a protobuf message: varint (0) and length-delimited (2) only, as dominion uses. */
function readFields(bytes: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = bytes[at++];
      assert.ok(b !== undefined, 'truncated varint');
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (at < bytes.length) {
    const tag = varint();
    const number = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) out.push({ number, wire, value: varint() });
    else if (wire === 2) {
      const length = Number(varint());
      out.push({ number, wire, value: bytes.subarray(at, at + length) });
      at += length;
      assert.ok(at <= bytes.length, 'truncated field');
    } else assert.fail(`unexpected wire type ${wire}`);
  }
  return out;
}

function field(fields: Field[], number: number): Buffer | bigint | undefined {
  return fields.find((f) => f.number === number)?.value;
}

describe('golden vectors: an independent check of the committed bytes', () => {
  it('public keys and key ids follow from the seeds (key id = SHA-512(public key)[0..16))', () => {
    for (const [who, seed] of [
      ['device', inputs.deviceKeySeed],
      ['ih', inputs.ihKeySeed],
    ] as const) {
      const pub = publicKeyOfSeed(seed);
      assert.equal(pub.toString('hex'), vectors.keys[who].publicKey, who);
      assert.equal(createHash('sha512').update(pub).digest().subarray(0, 16).toString('hex'), vectors.keys[who].keyId, who);
    }
  });

  for (const [name, v, signer] of signed()) {
    it(`${name}: the envelope's fields, the signed bytes and the Ed25519 signature`, () => {
      const envelope = Buffer.from(v.envelope, 'hex');
      const fields = readFields(envelope);
      // SignedEnvelope: 1 payload, 2 signature, 3 signer_key_id, 4 context — each once, in that order.
      assert.deepEqual(
        fields.map((f) => [f.number, f.wire]),
        [
          [1, 2],
          [2, 2],
          [3, 2],
          [4, 2],
        ],
      );
      const payload = field(fields, 1) as Buffer;
      const signature = field(fields, 2) as Buffer;
      const keyId = field(fields, 3) as Buffer;
      const context = (field(fields, 4) as Buffer).toString('ascii');
      assert.equal(payload.toString('hex'), v.payload);
      assert.equal(signature.toString('hex'), v.signature);
      assert.equal(signature.length, 64);
      assert.equal(keyId.toString('hex'), v.signerKeyId);
      assert.equal(keyId.toString('hex'), vectors.keys[signer].keyId, 'signed by the expected key');
      assert.equal(context, v.context);
      assert.equal(context, name.endsWith('Request') || name === 'request' ? 'dominion/v1/ticket-request' : 'dominion/v1/ticket-reply');

      const message = Buffer.concat([Buffer.from(context, 'ascii'), Buffer.from([0]), payload]);
      assert.equal(message.toString('hex'), v.signedBytes);
      const key = publicKeyObject(Buffer.from(vectors.keys[signer].publicKey, 'hex'));
      assert.equal(verify(null, message, key, signature), true, 'signature verifies over context || 0x00 || payload');
      assert.equal(verify(null, payload, key, signature), false, 'the bare payload is not what is signed');
      const tampered = Buffer.from(message);
      tampered[tampered.length - 1] ^= 1;
      assert.equal(verify(null, tampered, key, signature), false);
    });
  }

  it('the request payload carries the inputs under the .proto field numbers', () => {
    const req = readFields(Buffer.from(vectors.request.payload, 'hex'));
    assert.equal((field(req, 1) as Buffer).toString('utf8'), inputs.deviceId);
    assert.equal((field(req, 2) as Buffer).toString('utf8'), inputs.instance);
    assert.equal((field(req, 3) as Buffer).toString('hex'), inputs.nonce);
    assert.equal(field(req, 5), BigInt(inputs.uptimeMs), 'uptime_ms is field 5');
    const runtime = readFields(field(req, 4) as Buffer);
    const state = readFields(field(runtime, 1) as Buffer); // RuntimeInfo.device = 1
    assert.equal(field(state, 1), BigInt(inputs.runtime.bootCount));
    assert.equal(field(state, 2), 2n, 'RESET_REASON_TICKET_TIMEOUT = 2');
    assert.equal((field(state, 3) as Buffer).toString('utf8'), inputs.runtime.firmwareVersion);
    assert.equal((field(state, 4) as Buffer).toString('hex'), inputs.runtime.manifestDigest);

    const reply = readFields(Buffer.from(vectors.ticketReply.payload, 'hex'));
    const ticket = readFields(field(reply, 4) as Buffer); // TicketReply.ticket = 4
    assert.equal(field(ticket, 4), BigInt(inputs.ticket.deferralMs));
    assert.equal(field(ticket, 5), BigInt(inputs.ticket.issuedAtMs));
    assert.equal((field(ticket, 3) as Buffer).toString('hex'), inputs.nonce);

    const update = readFields(field(readFields(Buffer.from(vectors.updateRequiredReply.payload, 'hex')), 6) as Buffer); // update_required = 6
    assert.equal((field(update, 2) as Buffer).toString('utf8'), inputs.update.version);
    assert.equal((field(update, 4) as Buffer).toString('utf8'), inputs.update.fetchTopic, 'fetch_topic: the hub request topic');
    assert.equal(field(update, 5), BigInt(inputs.update.sizeBytes));
    assert.equal(field(update, 6), BigInt(inputs.update.releaseVersion), 'release_version is field 6');

    const withheld = readFields(field(readFields(Buffer.from(vectors.malformedReply.payload, 'hex')), 5) as Buffer);
    assert.equal(field(withheld, 1), 7n, 'WITHHOLD_REASON_MALFORMED = 7');
    assert.equal((field(withheld, 2) as Buffer).toString('utf8'), MALFORMED_DETAIL);
  });
});

// ── What the project's hub and AWDT make of them ──────────────────────────────────────────────────

const node = cryptoBackend('node');

function hub(rules: ConstructorParameters<typeof MemoryPolicy>[0]): HubCore {
  const registry = new MemoryRegistry(node);
  registry.enroll(inputs.deviceId, 'device', fromHex(vectors.keys.device.publicKey));
  return new HubCore({ role: IH_ROLE, registry, policy: new MemoryPolicy(rules), signer: node.signer(fromHex(inputs.ihKeySeed)) });
}

function awdt(nonce: string): AwdtCore {
  return new AwdtCore({
    deviceId: inputs.deviceId,
    instance: inputs.instance,
    signer: node.signer(fromHex(inputs.deviceKeySeed)),
    hub: node.verifier(fromHex(vectors.keys.ih.publicKey)),
    maxDeferralMs: 60_000,
    nonce: () => fromHex(nonce),
  });
}

describe('golden vectors: the project hub and AWDT', () => {
  it('the IH answers the request with exactly the vector ticket, on the vector reply topic', () => {
    const decision = hub({ instances: { device: { deferralMs: inputs.ticket.deferralMs } } }).handleRequest(
      fromHex(vectors.request.envelope),
      Number(inputs.ticket.issuedAtMs),
    );
    assert.equal(decision.outcome, 'ticket');
    assert.equal(decision.reply?.topic, vectors.mqtt.replyTopic);
    assert.equal(hex(decision.reply!.payload), vectors.ticketReply.envelope);
    assert.equal(decision.reply?.expirySeconds, vectors.mqtt.ticketExpirySeconds);
  });

  it('an IH whose policy wants firmware 1.5.0 answers with exactly the vector UPDATE_REQUIRED', () => {
    const u = inputs.update;
    const decision = hub({
      instances: {
        device: {
          deferralMs: inputs.ticket.deferralMs,
          minFirmwareVersion: u.version,
          firmwareUpdate: {
            version: u.version,
            imageDigest: fromHex(u.imageDigest),
            fetchTopic: u.fetchTopic,
            sizeBytes: Number(u.sizeBytes),
            releaseVersion: Number(u.releaseVersion),
          },
        },
      },
    }).handleRequest(fromHex(vectors.request.envelope), Number(inputs.ticket.issuedAtMs));
    assert.equal(decision.outcome, 'update-required');
    assert.equal(hex(decision.reply!.payload), vectors.updateRequiredReply.envelope);
  });

  it('the IH answers the malformed (authenticated, invalid) request with exactly the vector WITHHELD MALFORMED', () => {
    const decision = hub({ instances: { device: { deferralMs: inputs.ticket.deferralMs } } }).handleRequest(
      fromHex(vectors.malformedRequest.envelope),
      Number(inputs.ticket.issuedAtMs),
    );
    assert.equal(decision.outcome, 'withheld');
    assert.equal(decision.reason, 'malformed-request');
    assert.equal(hex(decision.reply!.payload), vectors.malformedReply.envelope);
  });

  it('the malformed request fails validation on exactly the field the MALFORMED detail names', () => {
    const payload = fromHex(vectors.malformedRequest.payload);
    const request = decodeBounded(TicketRequestSchema, payload, MAX_WIRE_BYTES.ticketRequest);
    const [first] = validateTicketRequest(request);
    assert.ok(first !== undefined);
    assert.equal(`${first.field}: ${first.problem}`, MALFORMED_DETAIL);
    assert.equal(codecs.ticketRequest.tryDecode(payload).ok, false);
  });

  it('the AWDT signs exactly the vector request and accepts the vector replies for its nonce', () => {
    const core = awdt(inputs.nonce);
    const runtime = create(RuntimeInfoSchema, vectorRuntime(inputs));
    assert.equal(hex(core.request(runtime, Number(inputs.uptimeMs))), vectors.request.envelope);
    assert.deepEqual(core.reply(fromHex(vectors.ticketReply.envelope), 0), {
      kind: 'ticket',
      deferralMs: inputs.ticket.deferralMs,
      nonceDrawnAtMs: Number(inputs.uptimeMs),
    });
    // The nonce is spent: the same ticket again is refused.
    const again = core.reply(fromHex(vectors.ticketReply.envelope), 0);
    assert.equal(again.kind === 'refused' && again.error.code, 'no-outstanding-nonce');

    const updating = awdt(inputs.nonce);
    updating.request(runtime, 0);
    const update = updating.reply(fromHex(vectors.updateRequiredReply.envelope), 0);
    assert.equal(update.kind === 'update-required' && update.update.version, inputs.update.version);

    const malformed = awdt(inputs.malformedNonce);
    malformed.request(create(RuntimeInfoSchema, vectorRuntime(inputs, false)), 0);
    assert.deepEqual(malformed.reply(fromHex(vectors.malformedReply.envelope), 0), {
      kind: 'withheld',
      reason: WithholdReason.MALFORMED,
      detail: MALFORMED_DETAIL,
    });
  });

  it('a reply for another nonce is refused', () => {
    const core = awdt(inputs.malformedNonce);
    core.request(create(RuntimeInfoSchema, vectorRuntime(inputs)), 0);
    const outcome = core.reply(fromHex(vectors.ticketReply.envelope), 0);
    assert.equal(outcome.kind === 'refused' && outcome.error.code, 'wrong-nonce');
  });
});
