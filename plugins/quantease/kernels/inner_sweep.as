/**
 * QuantEase's sequential in-block work as a WebAssembly kernel (AssemblyScript, SIMD f64x2).
 * Compiled by `npm run build:kernels` into inner_sweep_wasm.ts; the JS twin with the same
 * operations in the same order is inner_sweep_js.ts (see there for the math). Not TypeScript:
 * the `.as.ts` files are excluded from tsc and compiled only by asc.
 *
 * Columns jj = 0..sw-1 of a sub-block, all rows; data transposed so a column is contiguous:
 *
 *   acc_r  = float32(pb[jj, r] + left[jj, r])  + sum_{i < jj, column i moved} dT[i, r] * S[i, jj]
 *   x_r    = S_jj > 0 ? what[jj, r] + acc_r / S_jj : target[jj, r]
 *   new_r  = rounded ? float32((clamp(round(x_r / sc) + z, 0, maxq) - z) * sc) : float32(x_r)
 *   dT[jj, r] = float32(what[jj, r] - new_r);  what[jj, r] = new_r where that change is nonzero
 *
 * round(v) = floor(v) + (v - floor(v) >= 0.5): Math.round's halves-up (the subtraction is exact).
 * All arithmetic is IEEE float64 lane by lane (wasm has no implicit FMA), so every entry gets
 * the same bits as the JS twin. Pointers are byte offsets into this module's memory.
 */

// Per-call argument block (set by the loader through setArgs) keeps the hot signature short.
let gRows: i32 = 0;
let gSw: i32 = 0;
let gC0: i32 = 0;
let gGroupSize: i32 = 1;
let gMaxq: f64 = 0;
let gRounded: bool = false;
let gHasLeft: bool = false;
let gWhat: usize = 0;
let gTarget: usize = 0;
let gPb: usize = 0;
let gLeft: usize = 0;
let gSbb: usize = 0;
let gDt: usize = 0;
let gScale: usize = 0;
let gZero: usize = 0;
let gList: usize = 0;
let gCoef: usize = 0;

export function setArgs(
  rows: i32, sw: i32, c0: i32, groupSize: i32, maxq: f64, rounded: i32, hasLeft: i32,
  what: usize, target: usize, pb: usize, left: usize, sbb: usize, dt: usize,
  scale: usize, zero: usize, list: usize, coef: usize,
): void {
  gRows = rows; gSw = sw; gC0 = c0; gGroupSize = groupSize; gMaxq = maxq;
  gRounded = rounded != 0; gHasLeft = hasLeft != 0;
  gWhat = what; gTarget = target; gPb = pb; gLeft = left; gSbb = sbb; gDt = dt;
  gScale = scale; gZero = zero; gList = list; gCoef = coef;
}

/** Two rows: the update of one column from acc (f64x2). Returns the number of moved entries. */
// @ts-ignore: decorator
@inline function finishPair(acc: v128, ro: usize, wcol: usize, tcol: usize, dcol: usize, sc: usize, zc: usize,
  pos: bool, round: bool, sjj: v128, maxq: v128): i32 {
  const old = f64x2.promote_low_f32x4(v128.load64_zero(wcol + ro));
  const x = pos ? f64x2.add(old, f64x2.div(acc, sjj)) : f64x2.promote_low_f32x4(v128.load64_zero(tcol + ro));
  let nw: v128;
  if (round) {
    const s = f64x2.promote_low_f32x4(v128.load64_zero(sc + ro));
    const z = f64x2.promote_low_f32x4(v128.load64_zero(zc + ro));
    const v = f64x2.div(x, s);
    const f = f64x2.floor(v);
    const up = f64x2.ge(f64x2.sub(v, f), f64x2.splat(0.5));
    let q = f64x2.add(f64x2.add(f, v128.and(up, f64x2.splat(1.0))), z);
    q = v128.bitselect(f64x2.splat(0.0), q, f64x2.lt(q, f64x2.splat(0.0)));
    q = v128.bitselect(maxq, q, f64x2.gt(q, maxq));
    nw = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.mul(f64x2.sub(q, z), s)));
  } else {
    nw = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(x));
  }
  const delta = f64x2.sub(old, nw);
  const movedMask = f64x2.ne(delta, f64x2.splat(0.0));
  v128.store64_lane(wcol + ro, f32x4.demote_f64x2_zero(v128.bitselect(nw, old, movedMask)), 0);
  v128.store64_lane(dcol + ro, f32x4.demote_f64x2_zero(delta), 0);
  return -<i32>(i64x2.extract_lane(movedMask, 0) + i64x2.extract_lane(movedMask, 1));
}

/** One row, scalar: the same operations as finishPair. */
// @ts-ignore: decorator
@inline function finishOne(acc: f64, ro: usize, wcol: usize, tcol: usize, dcol: usize, sc: usize, zc: usize,
  pos: bool, round: bool, sjj: f64, maxq: f64): i32 {
  const old = <f64>load<f32>(wcol + ro);
  const x = pos ? old + acc / sjj : <f64>load<f32>(tcol + ro);
  let nw: f64;
  if (round) {
    const s = <f64>load<f32>(sc + ro);
    const z = <f64>load<f32>(zc + ro);
    const v = x / s;
    const f = Math.floor(v);
    let q = f + (v - f >= 0.5 ? 1.0 : 0.0) + z;
    q = q < 0.0 ? 0.0 : q > maxq ? maxq : q;
    nw = <f64><f32>((q - z) * s);
  } else {
    nw = <f64><f32>x;
  }
  const delta = old - nw;
  if (delta != 0.0) {
    store<f32>(wcol + ro, <f32>nw);
    store<f32>(dcol + ro, <f32>delta);
    return 1;
  }
  store<f32>(dcol + ro, <f32>delta);
  return 0;
}

/** acc for two rows at byte offset ro of a column: the initial P plus the moved columns' terms. */
// @ts-ignore: decorator
@inline function initPair(pcol: usize, lcol: usize, ro: usize, hasLeft: bool): v128 {
  const p = v128.load64_zero(pcol + ro);
  return f64x2.promote_low_f32x4(hasLeft ? f32x4.add(p, v128.load64_zero(lcol + ro)) : p);
}

/** Runs the sub-block set by setArgs; returns the number of entries that moved. */
export function sweepColumns(): i32 {
  const rows = gRows;
  const sw = gSw;
  const colBytes = <usize>rows << 2;
  const maxq = f64x2.splat(gMaxq);
  let moved = 0;
  let nList = 0; // earlier columns of this sub-block that moved (their dT byte offsets in gList)
  for (let jj = 0; jj < sw; jj++) {
    const sjjS = load<f64>(gSbb + ((<usize>(jj * sw + jj)) << 3));
    const sjj = f64x2.splat(sjjS);
    const pos = sjjS > 0.0;
    const round = gRounded || !pos;
    for (let k = 0; k < nList; k++) {
      const i = load<i32>(gList + (<usize>k << 2));
      store<f64>(gCoef + (<usize>k << 3), load<f64>(gSbb + ((<usize>(i * sw + jj)) << 3)));
    }
    const off = <usize>jj * colBytes;
    const wcol = gWhat + off;
    const tcol = gTarget + off;
    const pcol = gPb + off;
    const lcol = gLeft + off;
    const dcol = gDt + off;
    const gOff = (<usize>((gC0 + jj) / gGroupSize)) * colBytes;
    const sc = gScale + gOff;
    const zc = gZero + gOff;
    let movedCol = 0;
    let r = 0;
    // eight rows at a time: four independent f64x2 accumulators
    for (; r + 8 <= rows; r += 8) {
      const ro = <usize>r << 2;
      let a0 = initPair(pcol, lcol, ro, gHasLeft);
      let a1 = initPair(pcol, lcol, ro + 8, gHasLeft);
      let a2 = initPair(pcol, lcol, ro + 16, gHasLeft);
      let a3 = initPair(pcol, lcol, ro + 24, gHasLeft);
      for (let k = 0; k < nList; k++) {
        const dp = gDt + (<usize>load<i32>(gList + (<usize>k << 2))) * colBytes + ro;
        const c = f64x2.splat(load<f64>(gCoef + (<usize>k << 3)));
        a0 = f64x2.add(a0, f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(dp)), c));
        a1 = f64x2.add(a1, f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(dp + 8)), c));
        a2 = f64x2.add(a2, f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(dp + 16)), c));
        a3 = f64x2.add(a3, f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(dp + 24)), c));
      }
      movedCol += finishPair(a0, ro, wcol, tcol, dcol, sc, zc, pos, round, sjj, maxq);
      movedCol += finishPair(a1, ro + 8, wcol, tcol, dcol, sc, zc, pos, round, sjj, maxq);
      movedCol += finishPair(a2, ro + 16, wcol, tcol, dcol, sc, zc, pos, round, sjj, maxq);
      movedCol += finishPair(a3, ro + 24, wcol, tcol, dcol, sc, zc, pos, round, sjj, maxq);
    }
    for (; r < rows; r++) {
      const ro = <usize>r << 2;
      let a: f64 = gHasLeft ? <f64>(load<f32>(pcol + ro) + load<f32>(lcol + ro)) : <f64>load<f32>(pcol + ro);
      for (let k = 0; k < nList; k++) {
        const dp = gDt + (<usize>load<i32>(gList + (<usize>k << 2))) * colBytes + ro;
        a += <f64>load<f32>(dp) * load<f64>(gCoef + (<usize>k << 3));
      }
      movedCol += finishOne(a, ro, wcol, tcol, dcol, sc, zc, pos, round, sjjS, gMaxq);
    }
    if (movedCol > 0) {
      store<i32>(gList + (<usize>nList << 2), jj);
      nList++;
      moved += movedCol;
    }
  }
  return moved;
}
