/**
 * L^-1 of a lower-triangular float64 matrix with the WebAssembly SIMD kernel (gptq_block.as,
 * `invertLower`): the same operations in the same order as the JS loop in ../cholesky.ts, so
 * the same bits; about n^3 / 6 multiply-adds, the largest cost of GPTQ at in >= 1024.
 * Returns null where the JS loop should run: kernel choice 'js' (option or
 * TFJS_SAM_QUANTEASE_KERNEL), no WebAssembly SIMD, or no memory for 2 n^2 doubles.
 */
import { GPTQ_BLOCK_WASM_BASE64 } from './gptq_block_wasm.ts';
import { compileBase64, instantiateWithRegions, resolveKernelChoice, wasmUnavailable } from './load_wasm.ts';

interface InverseExports {
  invertLower(n: number, l: number, x: number): void;
}

/** X = L^-1 (row-major n x n, L not modified), or null (see above). */
export function invertLowerWasm(l: Float64Array, n: number, choice?: string): Float64Array | null {
  const kind = resolveKernelChoice(choice);
  if (kind === 'js') return null;
  const mod = compileBase64(GPTQ_BLOCK_WASM_BASE64);
  const inst = mod ? instantiateWithRegions<InverseExports>(mod, [n * n * 8, n * n * 8]) : null;
  if (!inst) {
    if (kind === 'wasm') throw wasmUnavailable('triangular inverse');
    return null;
  }
  const [pL, pX] = inst.at;
  new Float64Array(inst.buffer, pL, n * n).set(l.subarray(0, n * n));
  inst.exports.invertLower(n, pL, pX); // fresh memory: X starts at zero
  return new Float64Array(inst.buffer, pX, n * n).slice();
}
