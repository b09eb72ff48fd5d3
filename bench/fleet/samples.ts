/** A growable array of numbers (latencies, lags) with percentiles: millions fit without boxing. */
export class Samples {
  private data = new Float64Array(1024);
  private n = 0;
  private sorted = true;

  push(x: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = x;
    this.sorted = false;
  }

  get count(): number {
    return this.n;
  }

  /** The p-th percentile (nearest rank), or NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    if (!this.sorted) {
      this.data.subarray(0, this.n).sort();
      this.sorted = true;
    }
    return this.data[Math.min(this.n - 1, Math.floor((p / 100) * this.n))]!;
  }

  max(): number {
    return this.percentile(100);
  }
}
