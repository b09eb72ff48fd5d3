/**
 * The page's actions: POST /api/devices/<id>/quarantine | release | revoke | require-update
 * (docs/DASHBOARD.md). Bearer token only (no cookies, so no cross-site request forgery), compared in
 * constant time and never logged. Each change runs the CLI's own store function on every hub that
 * serves the device, in --db order, so its audit row is the one `dominion quarantine …` writes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { instanceProblem } from '../proto/index.ts';
import type { StateChange } from '../actors/hub/sqlite/index.ts';
import { HttpError } from './http.ts';
import type { HubSource, UpdateAction } from './source.ts';
import { messageOf } from './watcher.ts';

export const ACTIONS = ['quarantine', 'release', 'revoke', 'require-update'] as const;
export type ActionName = (typeof ACTIONS)[number];
export const MAX_BODY = 4096;
const MAX_REASON = 1000;

/** Checks the request's bearer token against the dashboard's (undefined: read-only). */
export function authorize(req: IncomingMessage, token: Buffer | undefined): void {
  if (token === undefined) throw new HttpError(403, 'read-only', 'this dashboard was started without an operator token: it is read-only');
  const header = req.headers.authorization;
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (m === null)
    throw new HttpError(401, 'token-required', 'actions need the operator token: Authorization: Bearer <token>', {
      'WWW-Authenticate': 'Bearer realm="dominion"',
    });
  if (!sameToken(Buffer.from(m[1]!, 'utf8'), token)) throw new HttpError(403, 'bad-token', 'the operator token is wrong');
}

/** Constant time in the token's content: both sides are hashed to 32 bytes first (lengths leak nothing). */
function sameToken(given: Buffer, token: Buffer): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

/** The JSON body, at most MAX_BODY bytes, of Content-Type application/json. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError(415, 'bad-content-type', 'send the body as Content-Type: application/json');
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY) throw new HttpError(413, 'body-too-large', `the body is larger than ${MAX_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'body-too-large', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, 'bad-body', 'the body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new HttpError(400, 'bad-body', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

export type ParsedAction =
  | { readonly kind: 'state'; readonly change: StateChange; readonly reason: string | undefined }
  | { readonly kind: 'update'; readonly update: UpdateAction };

export function parseAction(action: ActionName, body: Record<string, unknown>): ParsedAction {
  if (action !== 'require-update') {
    onlyKeys(body, ['reason']);
    const reason = body.reason;
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON))
      throw new HttpError(400, 'bad-body', `reason must be a string of at most ${MAX_REASON} characters`);
    return { kind: 'state', change: action, reason: reason === '' ? undefined : reason };
  }
  if (body.clear !== undefined) {
    onlyKeys(body, ['clear', 'instance']);
    if (body.clear !== true) throw new HttpError(400, 'bad-body', 'clear must be true');
    return {
      kind: 'update',
      update: body.instance === undefined ? { kind: 'clear' } : { kind: 'clear', instance: instanceOf(body.instance) },
    };
  }
  onlyKeys(body, ['instance', 'release', 'board']);
  const release = body.release;
  if (typeof release !== 'number' || !Number.isSafeInteger(release) || release < 1)
    throw new HttpError(400, 'bad-body', 'release must be a positive integer');
  const board = body.board;
  if (board !== undefined && (typeof board !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(board)))
    throw new HttpError(400, 'bad-body', 'board must be a board id');
  return {
    kind: 'update',
    update: { kind: 'require', instance: instanceOf(body.instance), release, ...(board !== undefined ? { board } : {}) },
  };
}

function onlyKeys(body: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(body).find((k) => !allowed.includes(k));
  if (extra !== undefined)
    throw new HttpError(400, 'bad-body', `unexpected field "${extra.slice(0, 40)}" (allowed: ${allowed.join(', ')})`);
}

function instanceOf(value: unknown): string {
  if (typeof value !== 'string') throw new HttpError(400, 'bad-body', 'instance must be device, mm or sm:<service>');
  const problem = instanceProblem(value);
  if (problem !== undefined) throw new HttpError(400, 'bad-body', `instance: ${problem}`);
  return value;
}

/**
 * Runs the action on every hub that serves the device (and, for require-update, the instance), in
 * --db order; the first failure stops, and the answer names the hubs already changed.
 */
export async function runAction(sources: readonly HubSource[], deviceId: string, action: ParsedAction): Promise<string[]> {
  const serving: Array<{ source: HubSource; instances: readonly string[] }> = [];
  for (const source of sources) {
    const instances = await source.instancesOf(deviceId);
    if (instances.length > 0) serving.push({ source, instances });
  }
  if (serving.length === 0) throw new HttpError(404, 'unknown-device', 'no such device is enrolled with these hubs');
  let targets = serving;
  if (action.kind === 'update') {
    const instance = action.update.instance;
    if (instance !== undefined) targets = serving.filter((s) => s.instances.includes(instance));
    if (targets.length === 0) throw new HttpError(400, 'bad-body', `the device has no instance ${instance} on these hubs`);
  }
  const done: string[] = [];
  for (const { source } of targets) {
    try {
      if (action.kind === 'state') await source.changeState(deviceId, action.change, action.reason);
      else await source.update(deviceId, action.update);
    } catch (err) {
      if (err instanceof Error && err.name === 'HubStoreError' && (err as Error & { code?: string }).code === 'refused') {
        const already = done.length > 0 ? ` (already changed in ${done.join(', ')})` : '';
        throw new HttpError(409, 'refused', `${messageOf(err)}${already}`);
      }
      throw err;
    }
    done.push(source.label);
  }
  return done;
}
