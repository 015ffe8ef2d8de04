/**
 * GPTQ's sequential in-block work in plain JS: the fallback of the WebAssembly kernel
 * (gptq_block.as), with the same operations in the same order, so both give the same bits.
 *
 * For a block B of `bw` visited columns (Frantar et al. 2023, Algorithm 1), every row alone:
 *
 *   q_i = clamp(round(w_i / sc) + z, 0, maxq),   v_i = float32((q_i - z) sc)
 *   e_i = (w_i - v_i) / U_ii,                     w_j -= e_i U_ij   for j > i in B
 *
 * round(v) = floor(v) + (v - floor(v) >= 0.5 ? 1 : 0) (Math.round: halves up).
 */

/** One block: inputs and outputs in visiting order, row-major [rows, bw]. */
export interface GptqBlockArgs {
  rows: number;
  bw: number;
  /** W[:, B] in visiting order, float64 [rows, bw]; updated in place. */
  wk: Float64Array;
  /** U[B, B], float64 [bw, bw] (upper triangle read). */
  u: Float64Array;
  /** The grid group of each visited column [bw]. */
  colGroup: Int32Array;
  /** Outputs [rows, bw]: codes, grid values, and e / U_ii as float32. */
  codes: Uint8Array;
  values: Float32Array;
  err: Float32Array;
}

/** The grid part fixed for a layer. */
export interface GptqGridArgs {
  groups: number;
  maxq: number;
  /** [rows, groups] as in Grid. */
  scale: Float32Array;
  zero: Float32Array;
}

export function gptqBlockJs(a: GptqBlockArgs, g: GptqGridArgs): void {
  const { rows, bw, wk, u, colGroup, codes, values, err } = a;
  const { groups, maxq, scale, zero } = g;
  for (let r = 0; r < rows; r++) {
    const row = r * bw;
    for (let i = 0; i < bw; i++) {
      const k = r * groups + colGroup[i];
      const s = scale[k];
      const z = zero[k];
      const x = wk[row + i];
      const v0 = x / s;
      const f = Math.floor(v0);
      let q = f + (v0 - f >= 0.5 ? 1 : 0) + z;
      q = q < 0 ? 0 : q > maxq ? maxq : q;
      const v = Math.fround((q - z) * s);
      codes[row + i] = q;
      values[row + i] = v;
      const e = (x - v) / u[i * bw + i];
      err[row + i] = e;
      if (e !== 0) {
        const ui = i * bw;
        for (let j = i + 1; j < bw; j++) wk[row + j] -= e * u[ui + j];
      }
    }
  }
}
