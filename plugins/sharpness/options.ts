/**
 * Options of the sharpness diagnostics, validated once before any work: every value is checked,
 * unknown keys are rejected, and the message names the option, the value received and what is allowed.
 */
import { checkFiniteNumber, checkInteger, checkOneOf, optionFail, rejectUnknownKeys } from '../core/validate.ts';

/** Progress of a long diagnostic: `done` of `total` units (micro-batches or power iterations). */
export interface SharpnessProgress {
  done: number;
  total: number;
  stage: 'm-sharpness' | 'hessian';
}

export interface MSharpnessOptions {
  /** Radius of the L2 ball around the weights (all variables together). Default 0.05. */
  rho?: number;
  /** Projected gradient-ascent steps per micro-batch. Default 10. */
  steps?: number;
  /** Length of each normalized ascent step, as a multiple of rho. Default 0.5 (two steps reach the sphere). */
  stepSize?: number;
  /** Seed of the random start used when the gradient at the weights is zero. Default 0. */
  seed?: number;
  /** Called after each micro-batch. */
  onProgress?: (p: SharpnessProgress) => void;
}

export interface ResolvedMSharpnessOptions {
  rho: number;
  steps: number;
  stepSize: number;
  seed: number;
  onProgress?: (p: SharpnessProgress) => void;
}

export const M_SHARPNESS_DEFAULTS = { rho: 0.05, steps: 10, stepSize: 0.5, seed: 0 } as const;
export const M_SHARPNESS_KEYS = ['rho', 'steps', 'stepSize', 'seed', 'onProgress'] as const;

function checkCallback(name: string, v: unknown): ((p: SharpnessProgress) => void) | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'function') optionFail(name, v, 'a function or undefined');
  return v as (p: SharpnessProgress) => void;
}

export function resolveMSharpnessOptions(options: MSharpnessOptions = {}): ResolvedMSharpnessOptions {
  rejectUnknownKeys(options, M_SHARPNESS_KEYS, 'mSharpness');
  const o = { ...M_SHARPNESS_DEFAULTS, ...options };
  return {
    rho: checkFiniteNumber('rho', o.rho, 0, Infinity, true),
    steps: checkInteger('steps', o.steps, 1, 10_000),
    stepSize: checkFiniteNumber('stepSize', o.stepSize, 0, Infinity, true),
    seed: checkInteger('seed', o.seed, 0, 2 ** 32 - 1),
    onProgress: checkCallback('onProgress', o.onProgress),
  };
}

/** How Hessian-vector products are formed. */
export type HvpMethod = 'exact' | 'finite-difference' | 'auto';

export interface HessianEigenOptions {
  /** Power iterations at most. Default 100. */
  maxIterations?: number;
  /** Stop when |lambda_k - lambda_{k-1}| <= tolerance * |lambda_k|. Default 1e-3. */
  tolerance?: number;
  /**
   * 'exact': double backprop (gradient of g(w).v); needs second derivatives of every op, which tfjs
   * lacks for Conv2D's filter gradient. 'finite-difference': (g(w + eps v) - g(w - eps v)) / (2 eps).
   * 'auto' (default): exact, falling back to finite differences when tfjs has no second derivative.
   */
  hvp?: HvpMethod;
  /** Step eps of the central difference along the unit vector v. Default 1e-3. */
  fdEpsilon?: number;
  /** Seed of the random start vector. Default 0. */
  seed?: number;
  /** Called after each power iteration. */
  onProgress?: (p: SharpnessProgress) => void;
}

export interface ResolvedHessianEigenOptions {
  maxIterations: number;
  tolerance: number;
  hvp: HvpMethod;
  fdEpsilon: number;
  seed: number;
  onProgress?: (p: SharpnessProgress) => void;
}

export const HESSIAN_DEFAULTS = { maxIterations: 100, tolerance: 1e-3, hvp: 'auto', fdEpsilon: 1e-3, seed: 0 } as const;
export const HESSIAN_KEYS = ['maxIterations', 'tolerance', 'hvp', 'fdEpsilon', 'seed', 'onProgress'] as const;

export function resolveHessianEigenOptions(options: HessianEigenOptions = {}): ResolvedHessianEigenOptions {
  rejectUnknownKeys(options, HESSIAN_KEYS, 'topHessianEigenvalue');
  const o = { ...HESSIAN_DEFAULTS, ...options };
  return {
    maxIterations: checkInteger('maxIterations', o.maxIterations, 1, 100_000),
    tolerance: checkFiniteNumber('tolerance', o.tolerance, 0, 1),
    hvp: checkOneOf('hvp', o.hvp, ['exact', 'finite-difference', 'auto'] as const),
    fdEpsilon: checkFiniteNumber('fdEpsilon', o.fdEpsilon, 0, Infinity, true),
    seed: checkInteger('seed', o.seed, 0, 2 ** 32 - 1),
    onProgress: checkCallback('onProgress', o.onProgress),
  };
}
