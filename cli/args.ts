/** Small helpers for the CLI's option parsing: typed numbers with clear errors. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function numberOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${value}"`);
  return n;
}
