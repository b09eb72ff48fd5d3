/**
 * Semver-ish version comparison for firmware policy: `MAJOR[.MINOR[.PATCH...]][-PRERELEASE][+BUILD]`,
 * an optional leading `v`. Numeric parts compare as numbers (missing parts count as 0, so `1.2` =
 * `1.2.0`); a pre-release sorts before its release; pre-release identifiers compare as in SemVer 2.0
 * (numeric < alphanumeric, shorter list first on a tie); build metadata is ignored.
 */

interface ParsedVersion {
  readonly core: readonly number[];
  readonly pre: readonly string[];
}

const VERSION = /^v?(\d{1,9}(?:\.\d{1,9})*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;
const NUMERIC = /^\d+$/;

/** The parsed version, or undefined for text this scheme cannot order. */
export function parseVersion(text: string): ParsedVersion | undefined {
  const m = VERSION.exec(text);
  if (m === null) return undefined;
  const pre = m[2] === undefined ? [] : m[2].split('.');
  if (pre.some((id) => id === '')) return undefined;
  return { core: m[1].split('.').map(Number), pre };
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`; undefined if either does not parse. */
export function compareVersions(a: string, b: string): number | undefined {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (pa === undefined || pb === undefined) return undefined;
  const n = Math.max(pa.core.length, pb.core.length);
  for (let i = 0; i < n; i++) {
    const d = (pa.core[i] ?? 0) - (pb.core[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (pa.pre.length === 0 || pb.pre.length === 0) return Math.sign(pb.pre.length - pa.pre.length); // release > pre-release
  for (let i = 0; i < Math.min(pa.pre.length, pb.pre.length); i++) {
    const d = comparePreId(pa.pre[i], pb.pre[i]);
    if (d !== 0) return d;
  }
  return Math.sign(pa.pre.length - pb.pre.length);
}

function comparePreId(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) return Math.sign(Number(a) - Number(b));
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
