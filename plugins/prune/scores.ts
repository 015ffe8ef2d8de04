/**
 * The two one-shot baselines, as scores that selectMask keeps the highest of (no weight update):
 *
 *   magnitude   score_rj = |W_rj|
 *   wanda       score_rj = |W_rj| * ||X_:j||_2 = |W_rj| * sqrt(S_jj)
 *               (Sun, Liu, Bair, Kolter, "A Simple and Effective Pruning Approach for Large
 *                Language Models", ICLR 2024: weights times input-feature norms, compared per row)
 */

export function magnitudeScores(w: Float64Array): Float64Array {
  return w.map(Math.abs);
}

export function wandaScores(w: Float64Array, s: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let c = 0; c < cols; c++) {
    const norm = Math.sqrt(Math.max(0, s[c * cols + c]));
    for (let r = 0; r < rows; r++) out[r * cols + c] = Math.abs(w[r * cols + c]) * norm;
  }
  return out;
}

/** W with the mask applied: zeros where mask is 0. */
export function applyMask(w: Float64Array, mask: Uint8Array): Float64Array {
  return w.map((x, i) => (mask[i] ? x : 0));
}
