/**
 * A load generator's view of a hub's replies (not a test file itself): every reply verified with
 * the hub's key and kept as (device, instance, request ref, outcome), so a test can check each one
 * against the audit log.
 */
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { CONTEXTS } from '../../actors/crypto/index.ts';
import { requestRef } from '../../actors/hub/index.ts';
import { open, pinned } from '../../actors/tickets/index.ts';
import { codecs } from '../../proto/index.ts';
import { node } from './fixtures.ts';

export interface Received {
  readonly deviceId: string;
  readonly instance: string;
  readonly ref: string;
  readonly outcome: string;
}

export interface ReplyLog {
  readonly received: Received[];
  /** Called with each reply after it is kept. */
  onReply: (r: Received) => void;
}

export function replyLog(client: MqttClient, hubPublicKey: Uint8Array): ReplyLog {
  const hubKey = pinned(node.verifier(hubPublicKey));
  const log: ReplyLog = { received: [], onReply: () => {} };
  client.on('message', (_topic, payload) => {
    const opened = open(payload, CONTEXTS.ticketReply, hubKey);
    assert.ok(opened.ok, 'every reply verifies with the hub key');
    const reply = codecs.ticketReply.decode(opened.payload);
    const r = { deviceId: reply.deviceId, instance: reply.instance, ref: requestRef(reply.nonce), outcome: reply.outcome.case ?? '' };
    log.received.push(r);
    log.onReply(r);
  });
  return log;
}
