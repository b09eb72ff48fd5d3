/** Small helpers every benchmark shares: medians, time-boxed runs, markdown tables. */

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1);
  return { mean, std: Math.sqrt(v) };
}

/** Runs `body` repeatedly for about `seconds`; `body` returns how many operations it did. */
export async function opsPerSecond(seconds: number, body: () => number | Promise<number>): Promise<number> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let ops = 0;
  let now = start;
  while (now < deadline) {
    ops += await body();
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const line = (r: readonly string[]) => `| ${r.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...cells.map(line)].join('\n');
}

export function fmt(n: number): string {
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(2);
}

export function progress(msg: string): void {
  process.stderr.write(`… ${msg}\n`);
}
