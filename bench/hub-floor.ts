/**
 * The floor under a hub worker on this stack: a process that does only what no hub can skip, with the
 * hub's own parts — the MQTT layer (`BrokerLink`: MQTT.js, shared subscription, a Receive Maximum,
 * corking for one turn), the envelope (`open`, `seal`) and the protocol's codecs — and nothing else:
 * no policy, no device state, no replay log, no store, no audit. bench/hub.ts `--floor` drives it
 * with the same load as `dominion hub`; what it answers per CPU-second bounds what any hub decision
 * path and store could reach on these parts (bench/RESULTS.md).
 *
 *   node --import tsx bench/hub.ts --single --devices 1,100000 --floor crypto   # open + verify, decode, encode, sign + seal
 *   node --import tsx bench/hub.ts --single --devices 1,100000 --floor mqtt     # the same without the signatures
 *
 * As a child (spawned by bench/hub.ts): node --import tsx bench/hub-floor.ts <crypto|mqtt> <broker> <hubId> <db> <key>
 */
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { CONTEXTS, nodeBackend, type Verifier } from '../actors/crypto/index.ts';
import { BrokerLink, type BrokerLinkHooks } from '../actors/hub/broker-link.ts';
import { readHubKeyFile } from '../actors/hub/keyfiles.ts';
import { RECEIVE_MAXIMUM } from '../actors/hub/hub-server.ts';
import { open, seal } from '../actors/tickets/index.ts';
import { codecs, create, DeferralTicketSchema, SignedEnvelopeSchema, TicketReplySchema, topics } from '../proto/index.ts';

type Mode = 'crypto' | 'mqtt';

function main(mode: Mode, broker: string, hubId: string, dbPath: string, keyPath: string): void {
  const backend = nodeBackend();
  const signer = readHubKeyFile(keyPath).signer;
  // Every enrolled key prepared up front, as a hub with --key-cache sized to its fleet has them.
  const db = new Database(dbPath, { readonly: true });
  const verifiers = new Map<string, Verifier>();
  for (const row of db.prepare('SELECT key_id, public_key FROM device_key').all() as Array<{ key_id: Buffer; public_key: Buffer }>)
    verifiers.set(row.key_id.toString('latin1'), backend.verifier(new Uint8Array(row.public_key)));
  db.close();
  const noSignature = new Uint8Array(64);
  let answered = 0;

  const answer = (link: BrokerLink, payload: Buffer): void => {
    let body: Uint8Array;
    if (mode === 'crypto') {
      const opened = open(payload, CONTEXTS.ticketRequest, (keyId) => verifiers.get(Buffer.from(keyId).toString('latin1')));
      if (!opened.ok) return;
      body = opened.payload;
    } else {
      const env = codecs.signedEnvelope.tryDecode(payload);
      if (!env.ok) return;
      body = env.message.payload;
    }
    const request = codecs.ticketRequest.tryDecode(body);
    if (!request.ok) return;
    const { deviceId, instance, nonce } = request.message;
    const ticket = create(DeferralTicketSchema, { deviceId, instance, nonce, deferralMs: 60_000, issuedAtMs: BigInt(Date.now()) });
    const reply = codecs.ticketReply.encode(
      create(TicketReplySchema, { deviceId, instance, nonce, outcome: { case: 'ticket', value: ticket } }),
    );
    const sealed =
      mode === 'crypto'
        ? seal(signer, CONTEXTS.ticketReply, reply)
        : codecs.signedEnvelope.encode(
            create(SignedEnvelopeSchema, {
              payload: reply,
              signature: noSignature,
              signerKeyId: signer.keyId,
              context: CONTEXTS.ticketReply,
            }),
          );
    link.publishReply(topics.reply(deviceId, instance), sealed, 60, () => {});
    answered++;
  };

  const hooks: BrokerLinkHooks = {
    statusBytes: () => new Uint8Array(0),
    message: (link, _topic, payload) => answer(link, payload),
    oversized: () => {},
    connected: () => {},
    up: (link) => console.log(`online: ${link.mode?.subscription ?? 'unknown'} subscription (floor: ${mode})`),
    down: () => {},
    reconnecting: () => {},
    refused: (_link, reason) => console.error(`refused: ${reason}`),
    tlsFailure: () => {},
  };
  const link = new BrokerLink(
    {
      url: broker,
      hubId,
      clientId: `floor-${process.pid}`,
      shareGroup: hubId,
      protocolVersion: 'auto',
      reconnectPeriodMs: 1000,
      timeoutMs: 10_000,
      maximumPacketSize: 96 * 1024,
      receiveMaximum: RECEIVE_MAXIMUM,
    },
    hooks,
  );
  process.once('SIGTERM', () => {
    void link
      .close(() => new Uint8Array(0))
      .finally(() => {
        console.log(`stopped: answered ${answered}`);
        process.exit(0);
      });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [mode, broker, hubId, db, key] = process.argv.slice(2);
  if ((mode !== 'crypto' && mode !== 'mqtt') || broker === undefined || hubId === undefined || db === undefined || key === undefined) {
    console.error('usage: node --import tsx bench/hub-floor.ts <crypto|mqtt> <broker> <hubId> <db> <key>');
    process.exit(2);
  }
  main(mode, broker, hubId, db, key);
}
