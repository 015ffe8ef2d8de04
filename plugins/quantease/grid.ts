/**
 * The quantization grid shared by every method: per output row (or per row and group of
 * `groupSize` input columns) an affine uniform grid fitted once on the original weights.
 *
 *   asymmetric: lo = min(0, min w), hi = max(0, max w)        (0 always inside the range)
 *               scale = (hi - lo) / maxq,  zero = clamp(round(-lo / scale), 0, maxq)
 *   symmetric:  hi = max |w|, lo = -hi, scale = 2 hi / maxq,  zero = (maxq + 1) / 2
 *   q(x)        = clamp(round(x / scale) + zero, 0, maxq),   maxq = 2^bits - 1
 *   dequant(q)  = (q - zero) * scale
 *
 * A row (group) whose range is zero gets lo = -1, hi = 1 so that scale > 0 (as in GPTQ,
 * Frantar et al. 2023, `quant.py`). `round` is Math.round (halves go up), used everywhere.
 * The last group of a row may be partial when `groupSize` does not divide `in`.
 */
import type { Grid } from './types.ts';

export interface GridSpec {
  bits: number;
  /** Input columns per group; `cols` (or 0) means one group per row. */
  groupSize: number;
  symmetric: boolean;
}

/** Largest code, 2^bits - 1. */
export function maxCode(bits: number): number {
  return 2 ** bits - 1;
}

/**
 * Fits the grid on `w` [rows, cols] (row-major). Entries where `exclude[i]` is 1 (outliers)
 * are left out of the min/max.
 */
export function fitGrid(w: Float32Array, rows: number, cols: number, spec: GridSpec, exclude?: Uint8Array): Grid {
  const groupSize = spec.groupSize > 0 && spec.groupSize < cols ? spec.groupSize : cols;
  const groups = Math.ceil(cols / groupSize);
  const maxq = maxCode(spec.bits);
  const scale = new Float32Array(rows * groups);
  const zero = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let lo = 0;
      let hi = 0;
      const end = Math.min(cols, (g + 1) * groupSize);
      for (let c = g * groupSize; c < end; c++) {
        const i = r * cols + c;
        if (exclude && exclude[i]) continue;
        const x = w[i];
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      if (spec.symmetric) {
        hi = Math.max(hi, -lo);
        lo = -hi;
      }
      if (hi - lo <= 0) {
        lo = -1;
        hi = 1;
      }
      let s = Math.fround((hi - lo) / maxq);
      if (!(s > 0)) s = Math.fround(Number.MIN_VALUE * 2 ** 30); // guard subnormal underflow: scale > 0
      scale[r * groups + g] = s;
      zero[r * groups + g] = spec.symmetric ? (maxq + 1) / 2 : Math.min(maxq, Math.max(0, Math.round(-lo / s)));
    }
  }
  return { bits: spec.bits, groupSize, scale, zero, rows, groups };
}

/** The code of x on the grid cell (scale, zero). */
export function quantizeCode(x: number, scale: number, zero: number, maxq: number): number {
  const q = Math.round(x / scale) + zero;
  return q < 0 ? 0 : q > maxq ? maxq : q;
}

/** The grid value of a code, as stored (float32). */
export function dequantizeCode(q: number, scale: number, zero: number): number {
  return Math.fround((q - zero) * scale);
}

/** Rounds every entry of `w` [rows, cols] to its grid: codes and dequantized values. */
export function quantizeAll(w: Float32Array, grid: Grid, cols: number): { codes: Uint8Array; values: Float32Array } {
  const { rows, groups, groupSize, scale, zero } = grid;
  const maxq = maxCode(grid.bits);
  const codes = new Uint8Array(rows * cols);
  const values = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = r * groups + ((c / groupSize) | 0);
      const q = quantizeCode(w[r * cols + c], scale[k], zero[k], maxq);
      codes[r * cols + c] = q;
      values[r * cols + c] = dequantizeCode(q, scale[k], zero[k]);
    }
  }
  return { codes, values };
}

/** Dequantized values of `codes` [rows, cols]. */
export function dequantizeAll(codes: Uint8Array, grid: Grid, cols: number): Float32Array {
  const { rows, groups, groupSize, scale, zero } = grid;
  const values = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const k = r * groups + ((c / groupSize) | 0);
      values[r * cols + c] = dequantizeCode(codes[r * cols + c], scale[k], zero[k]);
    }
  }
  return values;
}

/** Codes of values already on the grid (recovers q from What); exact for grid values. */
export function codesOf(values: Float32Array, grid: Grid, cols: number): Uint8Array {
  return quantizeAll(values, grid, cols).codes;
}
