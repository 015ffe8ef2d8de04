/**
 * Top Hessian eigenvalue of a loss by power iteration on Hessian-vector products (the sharpness
 * measure of Keskar et al. 2017 / Jastrzebski et al. 2020, "PyHessian"-style power iteration):
 *
 *   v_0 = random unit vector (seeded)
 *   u_k = H v_k,   lambda_k = <v_k, u_k>,   v_{k+1} = u_k / ||u_k||
 *   stop when |lambda_k - lambda_{k-1}| <= tolerance * |lambda_k|, or after maxIterations.
 *
 * H v is formed either exactly, by double backprop (the gradient of w -> <grad L(w), v>), or by a
 * central difference of gradients, H v ~ (grad L(w + eps v) - grad L(w - eps v)) / (2 eps), exact
 * for quadratics up to rounding and O(eps^2) otherwise (piecewise-linear networks: exact unless a
 * ReLU switches inside +-eps). tfjs 4.22 registers no gradient for Conv2DBackpropFilter, so double
 * backprop fails on Conv2D weights; 'auto' then falls back to finite differences and says so.
 *
 * Power iteration converges to the eigenvalue of largest magnitude, lambda_d. When lambda_d < 0 (a
 * negative eigenvalue dominates, e.g. away from a minimum), a second power iteration on the shifted
 * operator H - lambda_d I (positive semi-definite spectrum, dominant eigenvalue lambda_max - lambda_d)
 * recovers the top eigenvalue lambda_max; `dominant` keeps lambda_d. Each iteration of either phase
 * counts toward `iterations` and is capped by maxIterations separately.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../core/errors.ts';
import { resolveHessianEigenOptions, type HessianEigenOptions } from './options.ts';
import { assignShifted, axpy, dot, norm, randomUnit, scale, snapshot, valueAndGradients, type WeightVector } from './weight_vectors.ts';

export interface HessianEigenResult {
  /** The top (largest, signed) eigenvalue: the Rayleigh quotient <v, H v> at the last iteration. */
  eigenvalue: number;
  /** The eigenvalue of largest magnitude (equal to `eigenvalue` unless a negative one dominates). */
  dominant: number;
  /** Power iterations run (Hessian-vector products formed). */
  iterations: number;
  /** Whether the relative change fell below the tolerance before the iteration cap. */
  converged: boolean;
  /** How the Hessian-vector products were formed. */
  hvp: 'exact' | 'finite-difference';
  /** lambda_k after each iteration. */
  history: number[];
}

/** H v by double backprop: the gradient of <grad L(w), v> with respect to w. */
export function hvpExact(loss: () => tf.Scalar, vars: readonly tf.Variable[], v: WeightVector): WeightVector {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const inner = tf.variableGrads(loss, vars as tf.Variable[]);
      const terms = vars.map((x, i) => (inner.grads[x.name] === undefined ? tf.scalar(0) : tf.sum(tf.mul(inner.grads[x.name], v[i]))));
      // 0 * sum(w) keeps every variable connected: a loss linear in w has <grad L, v> constant, H v = 0.
      terms.push(...vars.map((x) => tf.mul(0, tf.sum(x))));
      return tf.addN(terms) as tf.Scalar;
    }, vars as tf.Variable[]);
    value.dispose();
    return vars.map((x) => grads[x.name] ?? tf.zerosLike(x));
  });
}

/** H v by a central difference of gradients along v (variables restored exactly afterwards). */
export function hvpFiniteDifference(
  loss: () => tf.Scalar, vars: readonly tf.Variable[], v: WeightVector, eps: number,
): WeightVector {
  const w0 = snapshot(vars);
  try {
    assignShifted(vars, w0, v, eps);
    const plus = valueAndGradients(loss, vars).grads;
    assignShifted(vars, w0, v, -eps);
    const minus = valueAndGradients(loss, vars).grads;
    const out = tf.tidy(() => plus.map((g, i) => tf.div(tf.sub(g, minus[i]), 2 * eps)));
    tf.dispose([...plus, ...minus]);
    return out;
  } finally {
    assignShifted(vars, w0);
    tf.dispose(w0);
  }
}

function isMissingSecondDerivative(e: unknown): boolean {
  return e instanceof Error && /gradient function not found|Cannot compute gradient/i.test(e.message);
}

/**
 * tfjs keeps the tensors saved for a backward pass on its tape and frees them only when an outermost
 * gradient computation succeeds; a failed double backprop leaves them behind. Free them here (the only
 * place that touches engine internals, guarded so that a different engine layout is left alone).
 */
function releaseFailedTape(): void {
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: number; activeTape?: Array<{ saved?: tf.Tensor[] }> | null } }).state;
  if (state === undefined || state.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape) node.saved?.forEach((t) => t.dispose());
  state.activeTape = null;
}

/**
 * The top Hessian eigenvalue of `loss` (a closure over the current values of `vars`) with respect
 * to `vars`. Options (validated before any work): maxIterations (100), tolerance (1e-3), hvp ('auto'),
 * fdEpsilon (1e-3), seed (0), onProgress. The variables are left exactly as they were.
 *
 * @example
 *   const {eigenvalue} = topHessianEigenvalue(() => lossOn(batch), vars, {tolerance: 1e-3});
 */
export function topHessianEigenvalue(
  loss: () => tf.Scalar, vars: readonly tf.Variable[], options: HessianEigenOptions = {},
): HessianEigenResult {
  const o = resolveHessianEigenOptions(options);
  if (typeof loss !== 'function') {
    throw new InputError(`\`loss\` must be a function returning a scalar. Received: ${typeof loss}.`);
  }
  if (!Array.isArray(vars) || vars.length === 0) {
    throw new InputError('`vars` must be a non-empty array of tf.Variable. Received: none.');
  }
  let method: 'exact' | 'finite-difference' = o.hvp === 'finite-difference' ? 'finite-difference' : 'exact';
  const hvp = (v: WeightVector): WeightVector => {
    if (method === 'finite-difference') return hvpFiniteDifference(loss, vars, v, o.fdEpsilon);
    try {
      return hvpExact(loss, vars, v);
    } catch (e) {
      releaseFailedTape();
      if (o.hvp !== 'auto' || !isMissingSecondDerivative(e)) throw e;
      method = 'finite-difference';
      return hvpFiniteDifference(loss, vars, v, o.fdEpsilon);
    }
  };
  const history: number[] = [];
  const first = powerIteration(hvp, vars, o.seed, 0, o.maxIterations, o.tolerance, history, (k) =>
    o.onProgress?.({ done: k, total: o.maxIterations, stage: 'hessian' }));
  let eigenvalue = first.lambda;
  let converged = first.converged;
  if (first.lambda < 0) {
    const shift = first.lambda;
    const second = powerIteration(hvp, vars, o.seed + 1, shift, o.maxIterations, o.tolerance, history, (k) =>
      o.onProgress?.({ done: k, total: o.maxIterations, stage: 'hessian' }));
    eigenvalue = second.lambda + shift;
    converged = second.converged;
  }
  return { eigenvalue, dominant: first.lambda, iterations: history.length, converged, hvp: method, history };
}

/**
 * Power iteration on H - shift I; appends each lambda (of H - shift I, plus shift) to `history`.
 * Converged when the relative change of the Rayleigh quotient is <= tolerance.
 */
function powerIteration(
  hvp: (v: WeightVector) => WeightVector, vars: readonly tf.Variable[], seed: number, shift: number,
  maxIterations: number, tolerance: number, history: number[], progress: (k: number) => void,
): { lambda: number; converged: boolean } {
  let v = randomUnit(vars, seed);
  let prev: number | undefined;
  let lambda = 0;
  let converged = false;
  try {
    for (let k = 0; k < maxIterations; k++) {
      const hv = hvp(v);
      const u = shift === 0 ? hv : axpy(hv, v, -shift);
      if (u !== hv) tf.dispose(hv);
      lambda = dot(v, u);
      const n = norm(u);
      history.push(lambda + shift);
      tf.dispose(v);
      if (!(n > 0) || !Number.isFinite(n)) {
        // (H - shift I) v = 0: v lies in the null space; nothing to iterate on.
        v = u;
        converged = n === 0;
        break;
      }
      v = scale(u, 1 / n);
      tf.dispose(u);
      progress(k + 1);
      if (prev !== undefined && Math.abs(lambda - prev) <= tolerance * Math.abs(lambda)) {
        converged = true;
        break;
      }
      prev = lambda;
    }
  } finally {
    tf.dispose(v);
  }
  return { lambda, converged };
}
