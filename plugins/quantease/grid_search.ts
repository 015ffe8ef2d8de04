/**
 * A grid fitted to the weighted objective instead of min/max: per row (or row and group), the
 * range is shrunk by a clipping ratio c chosen from `steps` candidates in [minRatio, 1],
 *
 *   lo_c = c * lo,  hi_c = c * hi          (lo, hi: the min/max range of grid.ts, 0 inside)
 *   c*   = argmin_c  sum_i diag(S)_i (w_i - dequant(q_c(w_i)))^2
 *
 * i.e. the layer objective of round-to-nearest with S replaced by its diagonal (exact for
 * uncorrelated inputs; the off-diagonal part is what GPTQ / QuantEase then work on). Clipping
 * trades a larger error on the few largest weights for a finer step on all the others; weighting
 * by diag(S) makes the trade where the layer's inputs are large. Ties keep the larger ratio (c = 1
 * is min/max). Cost: steps * out * in, no matrix product.
 */
import type { Grid } from './types.ts';
import { fitGrid, maxCode, type GridSpec } from './grid.ts';

export interface ClipSearch {
  /** Candidate ratios, evenly spaced from 1 down to minRatio. */
  steps: number;
  /** Smallest ratio tried, in (0, 1]. */
  minRatio: number;
}

/** The ratio of candidate t (0 = no clipping). */
export function clipRatio(search: ClipSearch, t: number): number {
  return search.steps <= 1 ? 1 : 1 - ((1 - search.minRatio) * t) / (search.steps - 1);
}

/**
 * Fits the grid on `w` [rows, cols] with the clipping ratio of each row (group) chosen by the
 * diag(S)-weighted rounding error. `exclude[i]` = 1 leaves an entry out of both range and score.
 */
export function fitGridWeighted(w: Float32Array, rows: number, cols: number, spec: GridSpec, weights: Float64Array, search: ClipSearch, exclude?: Uint8Array): Grid {
  const grid = fitGrid(w, rows, cols, spec, exclude);
  if (search.steps <= 1) return grid;
  const { groups, groupSize, scale, zero } = grid;
  const maxq = maxCode(spec.bits);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const k = r * groups + g;
      const c0 = g * groupSize;
      const c1 = Math.min(cols, c0 + groupSize);
      // The min/max range back from the fitted grid: lo = -zero * scale, hi = lo + maxq * scale.
      const lo = spec.symmetric ? -scale[k] * (maxq / 2) : -zero[k] * scale[k];
      const hi = spec.symmetric ? -lo : lo + maxq * scale[k];
      let best = Infinity;
      let bestScale = scale[k];
      let bestZero = zero[k];
      for (let t = 0; t < search.steps; t++) {
        const c = clipRatio(search, t);
        const s = Math.fround(((hi - lo) * c) / maxq);
        if (!(s > 0)) continue;
        const z = spec.symmetric ? zero[k] : Math.min(maxq, Math.max(0, Math.round((-lo * c) / s)));
        let err = 0;
        for (let i = c0; i < c1; i++) {
          const idx = r * cols + i;
          if (exclude && exclude[idx]) continue;
          let q = Math.round(w[idx] / s) + z;
          q = q < 0 ? 0 : q > maxq ? maxq : q;
          const d = w[idx] - Math.fround((q - z) * s);
          err += weights[i] * d * d;
        }
        if (err < best) {
          best = err;
          bestScale = s;
          bestZero = z;
        }
      }
      scale[k] = bestScale;
      zero[k] = bestZero;
    }
  }
  return grid;
}
