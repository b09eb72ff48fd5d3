/**
 * A broker credential file (docs/PROTOCOL.md §10.5): the username and password one client (a device's
 * `mm`, or a hub) presents to the MQTT broker. Secret (mode 0600, refused when group or others can
 * read it). It is an access credential for the holder's own topics (docs/ARCHITECTURE.md §7.1), not
 * a signing key: whoever holds it can talk on the broker as that device or hub, not sign for it.
 *
 *   { "kind": "dominion.broker-credential", "version": 1, "username": "pi-0001", "password": "<base64url>" }
 *
 * Written by `dominion enroll` (devices) and `dominion keys new --hub` (hubs). A new credential
 * replaces the old file atomically (rotation at re-enrolment), unlike key files, which are never
 * overwritten.
 */
import { renameSync, unlinkSync } from 'node:fs';
import { KEY_FILE_VERSION, KeyFileError, readKeyJson, writeSecretJson } from './key-file.ts';

export const BROKER_CREDENTIAL_KIND = 'dominion.broker-credential';

export interface BrokerCredential {
  readonly username: string;
  readonly password: string;
}

const USERNAME = /^[A-Za-z0-9._@-]{1,80}$/;
const PASSWORD = /^[A-Za-z0-9_-]{16,128}$/;

/** Writes (or atomically replaces) a credential file with mode 0600. */
export function writeBrokerCredentialFile(path: string, credential: BrokerCredential): void {
  check(credential, path);
  const temp = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`;
  writeSecretJson(temp, { kind: BROKER_CREDENTIAL_KIND, version: KEY_FILE_VERSION, ...credential });
  try {
    renameSync(temp, path);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw new KeyFileError(`${path}: cannot replace (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function readBrokerCredentialFile(path: string): BrokerCredential {
  const doc = readKeyJson(path, BROKER_CREDENTIAL_KIND, true);
  const credential = { username: doc.username, password: doc.password };
  return check(credential, path);
}

function check(c: { username: unknown; password: unknown }, path: string): BrokerCredential {
  if (typeof c.username !== 'string' || !USERNAME.test(c.username))
    throw new KeyFileError(`${path}: username must be a device id or hub@<hub id>`);
  if (typeof c.password !== 'string' || !PASSWORD.test(c.password))
    throw new KeyFileError(`${path}: password must be 16-128 base64url characters`);
  return { username: c.username, password: c.password };
}
