/**
 * Statistics over seeds for the MNIST pipeline report: mean, sample standard deviation, and a
 * "within noise" test for a difference of two means (|difference| <= 2 standard errors of the
 * difference, sqrt(s_a^2 / n_a + s_b^2 / n_b): roughly a 95% interval; with 3 seeds a rough guide).
 */

export interface Summary {
  mean: number;
  std: number;
  n: number;
  min: number;
  max: number;
}

export function summarize(xs: number[]): Summary {
  const n = xs.length;
  if (n === 0) return {mean: NaN, std: NaN, n: 0, min: NaN, max: NaN};
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return {mean, std, n, min: Math.min(...xs), max: Math.max(...xs)};
}

/** Standard error of mean(a) - mean(b). */
export function diffStdErr(a: Summary, b: Summary): number {
  return Math.sqrt(a.std ** 2 / Math.max(1, a.n) + b.std ** 2 / Math.max(1, b.n));
}

/** True when the two means differ by at most two standard errors, or when either has a single seed. */
export function withinNoise(a: Summary, b: Summary): boolean {
  if (a.n < 2 || b.n < 2) return true;
  return Math.abs(a.mean - b.mean) <= 2 * diffStdErr(a, b);
}

/** Pearson correlation; NaN when fewer than 3 points or a constant series. */
export function pearson(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 3) return NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(x: number[], y: number[]): number {
  const rank = (v: number[]) => {
    const idx = v.map((_, i) => i).sort((a, b) => v[a] - v[b]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
      for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  return pearson(rank(x), rank(y));
}

/** "0.9812 ± 0.0021" (mean ± sample std over seeds). */
export function pm(s: Summary, digits = 4): string {
  if (!Number.isFinite(s.mean)) return 'n/a';
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : s.mean.toFixed(digits);
}
