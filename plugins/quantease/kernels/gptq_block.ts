/**
 * The sequential in-block work of GPTQ (see gptq_block_js.ts for the math), run by a small
 * WebAssembly SIMD kernel where it loads, else by its JS twin; both give the same bits. The
 * bytes ship inside gptq_block_wasm.ts (built by `npm run build:kernels`). The choice is as for
 * QuantEase's kernel (load_wasm.ts): `kernel` option, else TFJS_SAM_QUANTEASE_KERNEL, else auto.
 */
import type { Grid } from '../types.ts';
import { maxCode } from '../grid.ts';
import { gptqBlockJs, type GptqBlockArgs } from './gptq_block_js.ts';
import { GPTQ_BLOCK_WASM_BASE64 } from './gptq_block_wasm.ts';
import { compileBase64, instantiateWithRegions, resolveKernelChoice, wasmUnavailable } from './load_wasm.ts';

/** Runs GPTQ blocks of one layer; holds its buffers. */
export interface GptqBlockRunner {
  readonly kind: 'wasm' | 'js';
  run(args: Omit<GptqBlockArgs, 'rows'>): void;
}

interface GptqExports {
  setArgs(...args: number[]): void;
  gptqBlock(): void;
}

/** A runner for blocks of at most `maxWidth` columns of a layer on `grid`. */
export function createGptqBlockRunner(grid: Grid, maxWidth: number, choice?: string): GptqBlockRunner {
  const kind = resolveKernelChoice(choice);
  const g = { groups: grid.groups, maxq: maxCode(grid.bits), scale: grid.scale, zero: grid.zero };
  if (kind !== 'js') {
    const mod = compileBase64(GPTQ_BLOCK_WASM_BASE64);
    const runner = mod ? wasmRunner(mod, grid, maxWidth, g.maxq) : null;
    if (runner) return runner;
    if (kind === 'wasm') throw wasmUnavailable('GPTQ');
  }
  return { kind: 'js', run: (a) => gptqBlockJs({ ...a, rows: grid.rows }, g) };
}

function wasmRunner(mod: WebAssembly.Module, grid: Grid, maxWidth: number, maxq: number): GptqBlockRunner | null {
  const { rows, groups } = grid;
  const cells = rows * maxWidth;
  const inst = instantiateWithRegions<GptqExports>(mod, [
    cells * 8, maxWidth * maxWidth * 8, maxWidth * 4, rows * groups * 4, rows * groups * 4, cells, cells * 4, cells * 4,
  ]);
  if (!inst) return null;
  const [pWk, pU, pCol, pScale, pZero, pCodes, pValues, pErr] = inst.at;
  const buf = inst.buffer;
  new Float32Array(buf, pScale, rows * groups).set(grid.scale);
  new Float32Array(buf, pZero, rows * groups).set(grid.zero);
  const wk = new Float64Array(buf, pWk, cells);
  const u = new Float64Array(buf, pU, maxWidth * maxWidth);
  const col = new Int32Array(buf, pCol, maxWidth);
  const codes = new Uint8Array(buf, pCodes, cells);
  const values = new Float32Array(buf, pValues, cells);
  const err = new Float32Array(buf, pErr, cells);
  return {
    kind: 'wasm',
    run(a) {
      const n = rows * a.bw;
      wk.set(a.wk.subarray(0, n));
      u.set(a.u.subarray(0, a.bw * a.bw));
      col.set(a.colGroup.subarray(0, a.bw));
      inst.exports.setArgs(rows, a.bw, groups, maxq, pWk, pU, pCol, pScale, pZero, pCodes, pValues, pErr);
      inst.exports.gptqBlock();
      a.wk.set(wk.subarray(0, n));
      a.codes.set(codes.subarray(0, n));
      a.values.set(values.subarray(0, n));
      a.err.set(err.subarray(0, n));
    },
  };
}
