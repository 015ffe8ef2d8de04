/**
 * GPTQ's sequential in-block work as a WebAssembly kernel (AssemblyScript, SIMD f64x2); the JS
 * twin with the same operations in the same order is gptq_block_js.ts (the math is there).
 * Compiled by `npm run build:kernels` into gptq_block_wasm.ts. Pointers are byte offsets into
 * this module's memory; rows are independent and each row's columns are contiguous.
 */

let gRows: i32 = 0;
let gBw: i32 = 0;
let gGroups: i32 = 1;
let gMaxq: f64 = 0;
let gWk: usize = 0;    // f64 [rows, bw]: W of the block in visiting order (updated in place)
let gU: usize = 0;     // f64 [bw, bw]: U[B, B] (upper triangle read)
let gCol: usize = 0;   // i32 [bw]: the grid group of each visited column
let gScale: usize = 0; // f32 [rows, groups]
let gZero: usize = 0;
let gCodes: usize = 0; // u8 [rows, bw]
let gValues: usize = 0; // f32 [rows, bw]
let gErr: usize = 0;   // f32 [rows, bw]

export function setArgs(rows: i32, bw: i32, groups: i32, maxq: f64, wk: usize, u: usize, col: usize,
  scale: usize, zero: usize, codes: usize, values: usize, err: usize): void {
  gRows = rows; gBw = bw; gGroups = groups; gMaxq = maxq; gWk = wk; gU = u; gCol = col;
  gScale = scale; gZero = zero; gCodes = codes; gValues = values; gErr = err;
}

/** Runs the block set by setArgs. */
export function gptqBlock(): void {
  const bw = gBw;
  const maxq = gMaxq;
  for (let r = 0; r < gRows; r++) {
    const row = gWk + ((<usize>r * <usize>bw) << 3);
    const out = <usize>r * <usize>bw;
    const cell = <usize>r * <usize>gGroups;
    for (let i = 0; i < bw; i++) {
      const k = cell + <usize>load<i32>(gCol + (<usize>i << 2));
      const s = <f64>load<f32>(gScale + (k << 2));
      const z = <f64>load<f32>(gZero + (k << 2));
      const x = load<f64>(row + (<usize>i << 3));
      const v0 = x / s;
      const f = Math.floor(v0);
      let q = f + (v0 - f >= 0.5 ? 1.0 : 0.0) + z;
      q = q < 0.0 ? 0.0 : q > maxq ? maxq : q;
      const v = <f64><f32>((q - z) * s);
      store<u8>(gCodes + out + <usize>i, <u8><i32>q);
      store<f32>(gValues + ((out + <usize>i) << 2), <f32>v);
      const ui = gU + ((<usize>i * <usize>bw) << 3);
      const e = (x - v) / load<f64>(ui + (<usize>i << 3));
      store<f32>(gErr + ((out + <usize>i) << 2), <f32>e);
      if (e != 0.0) {
        // w_j -= e U_ij for the later columns of the block
        const ev = f64x2.splat(e);
        let j = i + 1;
        for (; j + 2 <= bw; j += 2) {
          const p = row + (<usize>j << 3);
          v128.store(p, f64x2.sub(v128.load(p), f64x2.mul(ev, v128.load(ui + (<usize>j << 3)))));
        }
        if (j < bw) {
          const p = row + (<usize>j << 3);
          store<f64>(p, load<f64>(p) - e * load<f64>(ui + (<usize>j << 3)));
        }
      }
    }
  }
}

/**
 * X = L^-1 for a lower-triangular L (row-major n x n at `l`) into the zeroed `x`, row by row:
 * X_i = (e_i - sum_{k<i} L_ik X_k) / L_ii; the same operations in the same order as
 * invertLower in ../cholesky.ts (k ascending, each an axpy over m <= k; terms with L_ik = 0 skipped).
 */
export function invertLower(n: i32, l: usize, x: usize): void {
  const rowBytes = <usize>n << 3;
  for (let i = 0; i < n; i++) {
    const ri = x + <usize>i * rowBytes;
    const li = l + <usize>i * rowBytes;
    for (let k = 0; k < i; k++) {
      const c = load<f64>(li + (<usize>k << 3));
      if (c == 0.0) continue;
      const rk = x + <usize>k * rowBytes;
      const cv = f64x2.splat(c);
      const len = k + 1;
      let m = 0;
      for (; m + 8 <= len; m += 8) {
        const o = <usize>m << 3;
        v128.store(ri + o, f64x2.sub(v128.load(ri + o), f64x2.mul(cv, v128.load(rk + o))));
        v128.store(ri + o + 16, f64x2.sub(v128.load(ri + o + 16), f64x2.mul(cv, v128.load(rk + o + 16))));
        v128.store(ri + o + 32, f64x2.sub(v128.load(ri + o + 32), f64x2.mul(cv, v128.load(rk + o + 32))));
        v128.store(ri + o + 48, f64x2.sub(v128.load(ri + o + 48), f64x2.mul(cv, v128.load(rk + o + 48))));
      }
      for (; m < len; m++) {
        const o = <usize>m << 3;
        store<f64>(ri + o, load<f64>(ri + o) - c * load<f64>(rk + o));
      }
    }
    const inv = 1.0 / load<f64>(li + (<usize>i << 3));
    for (let m = 0; m < i; m++) {
      const o = <usize>m << 3;
      store<f64>(ri + o, load<f64>(ri + o) * inv);
    }
    store<f64>(ri + (<usize>i << 3), inv);
  }
}
