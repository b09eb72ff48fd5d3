/**
 * Query parameters of GET /api/devices, checked strictly (docs/DASHBOARD.md): anything unknown,
 * repeated or out of range is a 400 `bad-parameter` naming the parameter, never a guess.
 */
import type { DeviceQuery, SortKey } from './fleet-index.ts';
import { DEVICE_STATES, type DeviceStateName } from './types.ts';

export class BadParameter extends Error {
  override readonly name = 'BadParameter';
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

const SORTS: readonly SortKey[] = ['id', 'state', 'lastRequest', 'deadline'];
const KNOWN = new Set(['q', 'state', 'sort', 'dir', 'offset', 'limit']);
export const MAX_LIMIT = 200;
export const DEFAULT_LIMIT = 50;
export const MAX_Q = 128;

export function deviceQuery(params: URLSearchParams): DeviceQuery {
  for (const name of new Set(params.keys())) {
    if (!KNOWN.has(name)) throw new BadParameter(name.slice(0, 40), `unknown parameter "${name.slice(0, 40)}"`);
    if (params.getAll(name).length > 1) throw new BadParameter(name, `parameter "${name}" given more than once`);
  }
  const q = params.get('q') ?? '';
  if (q.length > MAX_Q) throw new BadParameter('q', `q is longer than ${MAX_Q} characters`);
  const state = params.get('state') ?? '';
  if (state !== '' && !(DEVICE_STATES as readonly string[]).includes(state))
    throw new BadParameter('state', `state must be empty or one of ${DEVICE_STATES.join(', ')}`);
  const sort = params.get('sort') ?? 'id';
  if (!(SORTS as readonly string[]).includes(sort)) throw new BadParameter('sort', `sort must be one of ${SORTS.join(', ')}`);
  const dir = params.get('dir') ?? 'asc';
  if (dir !== 'asc' && dir !== 'desc') throw new BadParameter('dir', 'dir must be asc or desc');
  const offset = integerParam(params, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const limit = integerParam(params, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
  return { q, state: state as DeviceStateName | '', sort: sort as SortKey, dir, offset, limit };
}

function integerParam(params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = params.get(name);
  if (text === null) return fallback;
  if (!/^\d{1,16}$/.test(text)) throw new BadParameter(name, `${name} must be an integer from ${min} to ${max}`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new BadParameter(name, `${name} must be an integer from ${min} to ${max}`);
  return n;
}
