/**
 * The sequential in-block work of a QuantEase sweep (see inner_sweep_js.ts for the math), run
 * by a small WebAssembly SIMD kernel when the runtime has WebAssembly SIMD, else by its JS twin.
 * Both give the same bits. The kernel's bytes are compiled from inner_sweep.as by
 * `npm run build:kernels` and ship inside inner_sweep_wasm.ts: nothing is fetched.
 *
 * Choice: `kernel` ('auto' | 'wasm' | 'js') or else the environment variable
 * TFJS_SAM_QUANTEASE_KERNEL; 'auto' (the default) takes wasm when it loads, 'wasm' fails if it
 * cannot, 'js' forces the fallback.
 */
import type { Grid } from '../types.ts';
import { maxCode } from '../grid.ts';
import { sweepColumnsJs, type SubBlockArgs } from './inner_sweep_js.ts';
import { INNER_SWEEP_WASM_BASE64 } from './inner_sweep_wasm.ts';
import { compileBase64, instantiateWithRegions, resolveKernelChoice, wasmUnavailable } from './load_wasm.ts';

export { KERNEL_CHOICES, KERNEL_ENV_VAR, resolveKernelChoice, type KernelChoice } from './load_wasm.ts';

/** Runs sub-blocks of one layer problem; holds its buffers. */
export interface InnerSweeper {
  readonly kind: 'wasm' | 'js';
  /** One sub-block (`what` and `dT` written); returns the number of entries that moved. */
  run(args: Omit<SubBlockArgs, 'rows' | 'groupSize' | 'maxq' | 'scaleT' | 'zeroT'>): number;
}

/** The compiled kernel, or null where WebAssembly (with SIMD) is unavailable. Compiled once. */
export function kernelModule(): WebAssembly.Module | null {
  return compileBase64(INNER_SWEEP_WASM_BASE64);
}

/** Grid scale and zero transposed to [groups, rows], so a column's cells are contiguous. */
function transposedGrid(grid: Grid): { scaleT: Float32Array; zeroT: Float32Array } {
  const { rows, groups, scale, zero } = grid;
  const scaleT = new Float32Array(groups * rows);
  const zeroT = new Float32Array(groups * rows);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      scaleT[g * rows + r] = scale[r * groups + g];
      zeroT[g * rows + r] = zero[r * groups + g];
    }
  }
  return { scaleT, zeroT };
}

/** A sweeper for `rows` rows and sub-blocks of at most `maxWidth` columns. */
export function createInnerSweeper(grid: Grid, maxWidth: number, choice?: string): InnerSweeper {
  const kind = resolveKernelChoice(choice);
  if (kind !== 'js') {
    const mod = kernelModule();
    const sweeper = mod ? wasmSweeper(mod, grid, maxWidth) : null;
    if (sweeper) return sweeper;
    if (kind === 'wasm') throw wasmUnavailable('QuantEase');
  }
  return jsSweeper(grid, maxWidth);
}

function jsSweeper(grid: Grid, maxWidth: number): InnerSweeper {
  const { scaleT, zeroT } = transposedGrid(grid);
  const fixed = { rows: grid.rows, groupSize: grid.groupSize, maxq: maxCode(grid.bits), scaleT, zeroT };
  const work = new Float64Array(grid.rows);
  void maxWidth;
  return { kind: 'js', run: (a) => sweepColumnsJs({ ...a, ...fixed }, work) };
}

interface KernelExports {
  setArgs(...args: number[]): void;
  sweepColumns(): number;
}

/** The wasm sweeper: its own memory, laid out once; each run copies a sub-block in and out. */
function wasmSweeper(mod: WebAssembly.Module, grid: Grid, maxWidth: number): InnerSweeper | null {
  const { rows, groups } = grid;
  const block = maxWidth * rows * 4;
  const inst = instantiateWithRegions<KernelExports>(mod, [
    block, block, block, block, block, maxWidth * maxWidth * 8, groups * rows * 4, groups * rows * 4, maxWidth * 4, maxWidth * 8,
  ]);
  if (!inst) return null; // no memory for the buffers: the caller falls back
  const k = inst.exports;
  const buf = inst.buffer;
  const [pWhat, pTarget, pPb, pLeft, pDt, pSbb, pScale, pZero, pList, pCoef] = inst.at;
  const f32 = (p: number, n: number) => new Float32Array(buf, p, n);
  const what = f32(pWhat, maxWidth * rows), target = f32(pTarget, maxWidth * rows);
  const pb = f32(pPb, maxWidth * rows), left = f32(pLeft, maxWidth * rows), dT = f32(pDt, maxWidth * rows);
  const sbb = new Float64Array(buf, pSbb, maxWidth * maxWidth);
  const { scaleT, zeroT } = transposedGrid(grid);
  f32(pScale, groups * rows).set(scaleT);
  f32(pZero, groups * rows).set(zeroT);
  const maxq = maxCode(grid.bits);
  return {
    kind: 'wasm',
    run(a) {
      const n = a.sw * rows;
      what.set(a.what.subarray(0, n));
      // the target is read only where S_jj = 0
      let needTarget = false;
      for (let j = 0; j < a.sw; j++) if (!(a.sBB[j * a.sw + j] > 0)) needTarget = true;
      if (needTarget) target.set(a.target.subarray(0, n));
      pb.set(a.pb.subarray(0, n));
      if (a.left) left.set(a.left.subarray(0, n));
      sbb.set(a.sBB.subarray(0, a.sw * a.sw));
      k.setArgs(rows, a.sw, a.c0, grid.groupSize, maxq, a.rounded ? 1 : 0, a.left ? 1 : 0,
        pWhat, pTarget, pPb, pLeft, pSbb, pDt, pScale, pZero, pList, pCoef);
      const moved = k.sweepColumns();
      a.dT.set(dT.subarray(0, n));
      if (moved > 0) a.what.set(what.subarray(0, n));
      return moved;
    },
  };
}
