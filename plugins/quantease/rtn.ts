/**
 * Round-to-nearest (RTN): every weight to the nearest point of its row's (group's) grid,
 *
 *   What[r, c] = dequant(q(W[r, c]))
 *
 * The baseline every other method must beat; ignores S.
 */
import type { Grid } from './types.ts';
import { quantizeAll } from './grid.ts';

/** RTN of w [rows, cols] on `grid`: codes and dequantized values. */
export function rtn(w: Float32Array, grid: Grid, cols: number): { codes: Uint8Array; values: Float32Array } {
  return quantizeAll(w, grid, cols);
}
