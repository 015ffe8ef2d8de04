/**
 * Sparse + quantized: quantize the kept weights of a pruned layer on its fixed support, so pruned
 * weights stay exact zeros. The objective is still measured against the dense W:
 *
 *   min over V   f(V) = tr((W - V) S (W - V)^T)   s.t.  V[r, c] = 0 off the mask,
 *                                                        V[r, c] on the row's (group's) grid on it
 *
 * The grid is fitted on the kept weights of the pruned layer (0 is always a grid point, so the
 * zero-point code dequantizes to exactly 0 and the dense dequantization formula is unchanged).
 *
 *   'rtn'        V = round(pruned W) on the mask
 *   'quantease'  start at that RTN point, then cyclic coordinate descent over the kept
 *                coordinates only (QuantEase's exact 1-D step, Behdin et al. 2023, Alg. 1):
 *                  V_rj <- q(V_rj + P_rj / S_jj),   P = (W - V) S,  (r, j) kept
 *                every sweep rounded, so f never rises and the result is never worse than RTN
 *                of the pruned W; stops at a fixed point (a sweep that moves nothing).
 *   'gptq'       not defined on a fixed support here: runs 'quantease' and says so in `fallback`.
 *
 * Float64 on typed arrays: a moved entry updates one row of P (cost `in`), so a sweep costs at most
 * out * in^2 and far less once few entries move.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError, OptionError } from '../core/errors.ts';
import { fitGrid, maxCode, quantizeCode, dequantizeCode } from '../quantease/grid.ts';
import { readProblemSync } from '../quantease/problem.ts';
import { resolveQuantizeOptions } from '../quantease/quantize_layer.ts';
import type { LayerProblem, QuantMethod, QuantizedLayer, QuantizeStats } from '../quantease/types.ts';
import { pruneObjective } from './prune_layer.ts';

/** The options quantizeOnSupport reads (outliers are refused: they would refill pruned weights). */
export interface SupportQuantizeOptions {
  /** 'quantease' (default): coordinate descent on the kept weights; 'rtn': rounding; 'gptq': as 'quantease'. */
  method?: QuantMethod;
  /** 2..8, default 4. */
  bits?: number;
  /** Input columns per grid group; default: whole row. */
  groupSize?: number;
  /** Default false. */
  symmetric?: boolean;
  /** Coordinate-descent sweeps, default 30. */
  sweeps?: number;
}

const SUPPORT_OPTION_KEYS = ['method', 'bits', 'groupSize', 'symmetric', 'sweeps'] as const;

export interface SparseQuantizedLayer extends QuantizedLayer {
  /** 1 where a weight is kept, [out, in] row-major (a copy of the input mask). */
  mask: Uint8Array;
}

/** Validates the options of quantizeOnSupport (OptionError naming the argument). */
export function resolveSupportOptions(options: SupportQuantizeOptions = {}) {
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (o[k] !== undefined && !(SUPPORT_OPTION_KEYS as readonly string[]).includes(k)) {
      throw new OptionError(`quantizeOnSupport: unknown option \`${k}\`. Allowed: ${SUPPORT_OPTION_KEYS.join(', ')} (outliers would refill pruned weights).`);
    }
  }
  // quantizeLayer's checks (it accepts `sweeps` with any method and ignores it for RTN and GPTQ).
  const r = resolveQuantizeOptions(options as Parameters<typeof resolveQuantizeOptions>[0]);
  return { method: r.method, bits: r.bits, groupSize: r.groupSize, symmetric: r.symmetric, sweeps: 'sweeps' in r ? r.sweeps : (options.sweeps ?? 30) };
}

/**
 * Quantizes `pruned.weight` (zeros off `pruned.mask`) on its support, scoring against the dense
 * `problem.weight`. Inputs are not disposed; the returned `weight` belongs to the caller. Codes at
 * pruned positions are the zero point (dequantize to exactly 0).
 */
export function quantizeOnSupport(
  problem: LayerProblem, pruned: { weight: tf.Tensor2D; mask: Uint8Array }, options: SupportQuantizeOptions = {},
): SparseQuantizedLayer {
  const o = resolveSupportOptions(options);
  const t0 = performance.now();
  const { rows, cols, w: w32, s: s32 } = readProblemSync(problem);
  const { w: p32 } = readProblemSync({ weight: pruned.weight, sigma: problem.sigma });
  const mask = pruned.mask;
  if (!(mask instanceof Uint8Array) || mask.length !== rows * cols) {
    throw new InputError(`\`pruned.mask\` must be a Uint8Array of ${rows * cols} entries (rows x cols). Received: ${mask?.length ?? typeof mask} entries.`);
  }
  if (pruned.weight.shape[0] !== rows || pruned.weight.shape[1] !== cols) {
    throw new InputError(`\`pruned.weight\` must have the shape of \`weight\` [${rows}, ${cols}]. Received: [${pruned.weight.shape}].`);
  }
  const excluded = Uint8Array.from(mask, (m) => (m ? 0 : 1));
  const grid = fitGrid(p32, rows, cols, { bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric }, excluded);
  const { scale, zero, groups, groupSize } = grid;
  const maxq = maxCode(o.bits);
  const codes = new Uint8Array(rows * cols);
  const v = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const k = r * groups + ((c / groupSize) | 0);
      if (!mask[i]) { codes[i] = zero[k]; continue; } // dequantizes to (z - z) * scale = 0
      codes[i] = quantizeCode(p32[i], scale[k], zero[k], maxq);
      v[i] = dequantizeCode(codes[i], scale[k], zero[k]);
    }
  }
  const w = Float64Array.from(w32);
  const s = Float64Array.from(s32);
  const objectiveBefore = pruneObjective(w, v, s, rows, cols);
  let sweepsRun = 0;
  const history: number[] = [];
  if (o.method !== 'rtn') {
    // P = (W - V) S, [rows, cols]
    const p = new Float64Array(rows * cols);
    const d = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) d[c] = w[r * cols + c] - v[r * cols + c];
      for (let i = 0; i < cols; i++) {
        if (d[i] === 0) continue;
        const di = d[i];
        const pr = r * cols;
        const si = i * cols;
        for (let c = 0; c < cols; c++) p[pr + c] += di * s[si + c];
      }
    }
    for (let sweep = 0; sweep < o.sweeps; sweep++) {
      let moved = 0;
      for (let j = 0; j < cols; j++) {
        const sjj = s[j * cols + j];
        if (!(sjj > 0)) continue; // column j does not enter f: keep its rounding
        const g = (j / groupSize) | 0;
        for (let r = 0; r < rows; r++) {
          const i = r * cols + j;
          if (!mask[i]) continue;
          const k = r * groups + g;
          const q = quantizeCode(v[i] + p[i] / sjj, scale[k], zero[k], maxq);
          if (q === codes[i]) continue;
          const nv = dequantizeCode(q, scale[k], zero[k]);
          const delta = v[i] - nv; // change of (W - V)[r, j]
          codes[i] = q;
          v[i] = nv;
          moved++;
          const pr = r * cols;
          const sj = j * cols;
          for (let c = 0; c < cols; c++) p[pr + c] += delta * s[sj + c];
        }
      }
      sweepsRun++;
      history.push(pruneObjective(w, v, s, rows, cols));
      if (moved === 0) break;
    }
  }
  const values = Float32Array.from(v);
  const baseline = pruneObjective(w, new Float64Array(w.length), s, rows, cols);
  const objectiveAfter = pruneObjective(w, v, s, rows, cols);
  const stats: QuantizeStats = {
    method: o.method === 'rtn' ? 'rtn' : 'quantease',
    bits: o.bits,
    baseline,
    objectiveBefore,
    objectiveAfter,
    relativeError: baseline > 0 ? objectiveAfter / baseline : 0,
    iterations: sweepsRun,
    milliseconds: performance.now() - t0,
  };
  if (history.length > 0) stats.history = history;
  if (o.method === 'gptq') stats.fallback = 'GPTQ on a fixed sparsity support is not implemented; coordinate descent (QuantEase) on the support was used.';
  return { weight: tf.tensor2d(values, [rows, cols]), codes, grid, stats, mask: Uint8Array.from(mask) };
}
