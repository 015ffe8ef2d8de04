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
import { OptionError, describeValue } from '../../core/errors.ts';
import { sweepColumnsJs, type SubBlockArgs } from './inner_sweep_js.ts';
import { INNER_SWEEP_WASM_BASE64 } from './inner_sweep_wasm.ts';

export const KERNEL_ENV_VAR = 'TFJS_SAM_QUANTEASE_KERNEL';
export const KERNEL_CHOICES = ['auto', 'wasm', 'js'] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

/** Runs sub-blocks of one layer problem; holds its buffers. */
export interface InnerSweeper {
  readonly kind: 'wasm' | 'js';
  /** One sub-block (`what` and `dT` written); returns the number of entries that moved. */
  run(args: Omit<SubBlockArgs, 'rows' | 'groupSize' | 'maxq' | 'scaleT' | 'zeroT'>): number;
}

/** The choice in effect: the argument, else the environment variable, else 'auto'. */
export function resolveKernelChoice(choice?: string): KernelChoice {
  const env = typeof process !== 'undefined' ? process.env?.[KERNEL_ENV_VAR] : undefined;
  const value = choice ?? (env === undefined || env === '' ? 'auto' : env);
  if (!(KERNEL_CHOICES as readonly string[]).includes(value)) {
    const where = choice !== undefined ? 'kernel' : KERNEL_ENV_VAR;
    throw new OptionError(`\`${where}\` must be one of ${KERNEL_CHOICES.join(', ')}. Received: ${where}=${describeValue(value)}.`);
  }
  return value as KernelChoice;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where WebAssembly (with SIMD) is unavailable. Compiled once. */
export function kernelModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    const bin = atob(INNER_SWEEP_WASM_BASE64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    compiled = typeof WebAssembly === 'object' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  } catch {
    compiled = null;
  }
  return compiled;
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
    if (kind === 'wasm') throw new OptionError('`kernel` is \'wasm\' but the WebAssembly SIMD kernel does not load here (no WebAssembly SIMD, or memory for the buffers). Use \'auto\' or \'js\'.');
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
  memory: WebAssembly.Memory;
  setArgs(...args: number[]): void;
  sweepColumns(): number;
}

/** The wasm sweeper: its own memory, laid out once; each run copies a sub-block in and out. */
function wasmSweeper(mod: WebAssembly.Module, grid: Grid, maxWidth: number): InnerSweeper | null {
  const { rows, groups } = grid;
  const block = maxWidth * rows * 4;
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(mod, {});
  } catch {
    return null;
  }
  const k = instance.exports as unknown as KernelExports;
  // Regions past the module's own pages (it keeps no data in memory; 16-byte aligned).
  let top = k.memory.buffer.byteLength;
  const region = (bytes: number) => {
    const at = top;
    top += Math.ceil(bytes / 16) * 16;
    return at;
  };
  const pWhat = region(block), pTarget = region(block), pPb = region(block), pLeft = region(block), pDt = region(block);
  const pSbb = region(maxWidth * maxWidth * 8), pScale = region(groups * rows * 4), pZero = region(groups * rows * 4);
  const pList = region(maxWidth * 4), pCoef = region(maxWidth * 8);
  try {
    k.memory.grow(Math.ceil((top - k.memory.buffer.byteLength) / 65536));
  } catch {
    return null; // no memory for the buffers: the caller falls back
  }
  const buf = k.memory.buffer; // never grows again: views stay valid
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
