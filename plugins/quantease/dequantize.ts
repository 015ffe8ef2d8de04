/**
 * The one dequantization formula, shared by the model hook, the packed-format encoder and both
 * loaders (float32 throughout):
 *
 *   W[r, c] = fround((q[r, c] - zero[r, g]) * scale[r, g]),   g = floor(c / groupSize)
 *   W[r, c] = fround(W[r, c] + value)                          at each outlier (r*cols + c, value)
 */
import type { Grid, Outliers } from './types.ts';

/** A quantized matrix W [rows, cols] (rows = grid.rows): codes, grid and optional outliers. */
export interface QuantizedMatrix {
  /** Codes of W [rows, cols], row-major, one per byte. */
  codes: Uint8Array;
  grid: Grid;
  outliers?: Outliers;
}

/** W [rows, cols] row-major from codes, grid and outliers. */
export function dequantize(q: QuantizedMatrix): Float32Array {
  const { rows, groups, groupSize, scale, zero } = q.grid;
  const cols = q.codes.length / rows;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      const g = r * groups + Math.floor(c / groupSize);
      out[base + c] = (q.codes[base + c] - zero[g]) * scale[g]; // Float32Array store = fround
    }
  }
  if (q.outliers) {
    const { indices, values } = q.outliers;
    for (let k = 0; k < indices.length; k++) out[indices[k]] = out[indices[k]] + values[k];
  }
  return out;
}
