/**
 * QuantEase's sequential in-block work in plain JS: the fallback of the WebAssembly kernel
 * (inner_sweep.as), with the same operations in the same order, so both give the same bits.
 *
 * For a sub-block of `sw` columns c0.. (all rows; arrays transposed so a column is contiguous)
 * it runs cyclic coordinate descent column by column (Behdin et al. 2023, Algorithm 1):
 *
 *   acc_r = float32(pb[jj, r] + left[jj, r]) + sum_{i < jj, column i moved} dT[i, r] S[i, jj]
 *         (= P[r, j] with the changes of the earlier columns of the sub-block; left-looking)
 *   x_r   = S_jj > 0 ? What[r, j] + acc_r / S_jj : T[r, j]        (S_jj = 0: round the target)
 *   new_r = rounded ? float32((clamp(round(x_r / sc) + z, 0, maxq) - z) sc) : float32(x_r)
 *   dT[jj, r] = float32(What[r, j] - new_r)   (the change of T - What),   What[r, j] <- new_r
 *
 * round(v) = floor(v) + (v - floor(v) >= 0.5 ? 1 : 0), which is Math.round (halves up); the
 * subtraction is exact, and the kernel can do it lane by lane.
 */

/** One sub-block's inputs and outputs (every array transposed: [columns, rows]). */
export interface SubBlockArgs {
  rows: number;
  /** Columns in the sub-block and the index of its first column in W. */
  sw: number;
  c0: number;
  groupSize: number;
  maxq: number;
  rounded: boolean;
  /** What^T[c0 : c0 + sw], updated in place. */
  what: Float32Array;
  /** T^T[c0 : c0 + sw] (read only where S_jj = 0). */
  target: Float32Array;
  /** P[:, sub]^T at the block start, and the earlier sub-blocks' part of it (or null). */
  pb: Float32Array;
  left: Float32Array | null;
  /** S[sub, sub], row-major float64 [sw, sw]. */
  sBB: Float64Array;
  /** Output: the change of T - What, [sw, rows] (every entry written). */
  dT: Float32Array;
  /** Grid transposed: scale^T, zero^T [groups, rows]. */
  scaleT: Float32Array;
  zeroT: Float32Array;
}

/** Runs one sub-block; returns the number of entries that moved. */
export function sweepColumnsJs(a: SubBlockArgs, work: Float64Array): number {
  const { rows, sw, c0, groupSize, maxq, rounded, what, target, pb, left, sBB, dT, scaleT, zeroT } = a;
  const list: number[] = []; // earlier columns of the sub-block that moved
  let moved = 0;
  for (let jj = 0; jj < sw; jj++) {
    const sjj = sBB[jj * sw + jj];
    const pos = sjj > 0;
    const round = rounded || !pos;
    const base = jj * rows;
    const gBase = ((((c0 + jj) / groupSize) | 0) * rows);
    if (left) for (let r = 0; r < rows; r++) work[r] = Math.fround(pb[base + r] + left[base + r]);
    else for (let r = 0; r < rows; r++) work[r] = pb[base + r];
    for (const i of list) {
      const c = sBB[i * sw + jj];
      const di = i * rows;
      for (let r = 0; r < rows; r++) work[r] += dT[di + r] * c;
    }
    let movedCol = 0;
    for (let r = 0; r < rows; r++) {
      const old = what[base + r];
      const x = pos ? old + work[r] / sjj : target[base + r];
      let nw: number;
      if (round) {
        const s = scaleT[gBase + r];
        const z = zeroT[gBase + r];
        const v = x / s;
        const f = Math.floor(v);
        let q = f + (v - f >= 0.5 ? 1 : 0) + z;
        q = q < 0 ? 0 : q > maxq ? maxq : q;
        nw = Math.fround((q - z) * s);
      } else {
        nw = Math.fround(x);
      }
      const delta = old - nw;
      if (delta !== 0) {
        what[base + r] = nw;
        movedCol++;
      }
      dT[base + r] = delta;
    }
    if (movedCol > 0) {
      list.push(jj);
      moved += movedCol;
    }
  }
  return moved;
}
