/**
 * Dense float64 linear algebra that tfjs lacks, for GPTQ: the upper Cholesky factor U of H^-1
 * (H^-1 = U^T U) in about n^3 / 3 multiply-adds, without forming H^-1:
 *
 *   J = reversal permutation,  J H J = L L^T (lower Cholesky),  U = J L^-1 J  (upper triangular)
 *   since H^-1 = J (J H J)^-1 J = (J L^-T J)(J L^-1 J) = U^T U.
 *
 * Row-major loops with contiguous inner products; returns null when H (+ damping) is not
 * numerically positive definite, so the caller can raise the damping.
 */
import { invertLowerWasm } from './kernels/triangular_inverse.ts';

/** Lower Cholesky factor of a (row-major, n x n, overwritten). Returns false on a non-positive pivot. */
export function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j];
    for (let k = 0; k < j; k++) d -= a[rj + k] * a[rj + k];
    if (!(d > 0) || !Number.isFinite(d)) return false;
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let sum = a[ri + j];
      for (let k = 0; k < j; k++) sum -= a[ri + k] * a[rj + k];
      a[ri + j] = sum / ljj;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = 0;
  return true;
}

/** Inverse of a lower-triangular L (row-major), row by row (kernels/gptq_block.as has its twin): X_i = (e_i - sum_k<i L_ik X_k) / L_ii. */
function invertLower(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let k = 0; k < i; k++) {
      const c = l[ri + k];
      if (c === 0) continue;
      const rk = k * n;
      for (let m = 0; m <= k; m++) x[ri + m] -= c * x[rk + m];
    }
    const inv = 1 / l[ri + i];
    for (let m = 0; m < i; m++) x[ri + m] *= inv;
    x[ri + i] = inv;
  }
  return x;
}

/**
 * Upper Cholesky factor U of (H + damp I)^-1, H symmetric n x n (row-major, not modified).
 * Returns null if the factorization fails or produces a non-finite value.
 */
export function upperCholeskyOfInverse(h: Float64Array, n: number, damp: number): Float64Array | null {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) a[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
    a[i * n + i] += damp;
  }
  if (!choleskyInPlace(a, n)) return null;
  const linv = invertLowerWasm(a, n) ?? invertLower(a, n); // same bits; the kernel where it loads
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = linv[(n - 1 - i) * n + (n - 1 - j)];
      if (!Number.isFinite(v)) return null;
      u[i * n + j] = v;
    }
  }
  return u;
}
