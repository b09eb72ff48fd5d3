/**
 * The broker CA a device or hub pins (docs/PROTOCOL.md §6.6, §10.4): PEM text of one or more CA
 * certificates. Checked where it enters (provisioning file, `--broker-ca`) so a wrong file is named
 * at once rather than failing every handshake later. A file of its own (node:crypto for parsing):
 * `mm`, which only hands the text to TLS, never loads it.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

export class BrokerCaError extends Error {
  override readonly name = 'BrokerCaError';
}

const MAX_CA_BYTES = 64 * 1024;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** The certificates in `text` as PEM blocks joined by newlines; throws BrokerCaError unless each is a CA certificate. */
export function checkCaPem(text: string, where: string): string {
  if (text.length > MAX_CA_BYTES) throw new BrokerCaError(`${where}: larger than ${MAX_CA_BYTES} bytes, not a CA certificate`);
  if (/PRIVATE KEY-----/.test(text)) throw new BrokerCaError(`${where}: holds a private key; pin the CA certificate (ca.crt) only`);
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new BrokerCaError(`${where}: no PEM certificate ("-----BEGIN CERTIFICATE-----") in it`);
  for (const block of blocks) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      throw new BrokerCaError(`${where}: a PEM block is not a readable X.509 certificate`);
    }
    if (!cert.ca)
      throw new BrokerCaError(`${where}: ${cert.subject.replace(/\n/g, ', ')} is not a CA certificate (pin the CA, not the server's)`);
  }
  return `${blocks.join('\n')}\n`;
}

/** Reads and checks a CA file (`--broker-ca <file>`). */
export function readCaFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BrokerCaError(code === 'ENOENT' ? `${path}: no such CA file` : `${path}: cannot read (${code ?? 'error'})`);
  }
  return checkCaPem(text, path);
}
