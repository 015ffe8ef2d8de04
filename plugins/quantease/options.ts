/**
 * Option validation for quantizeLayer, done once before any tensor is read: every key is checked
 * (name, value received, what is allowed), unknown keys are rejected, defaults are filled in per
 * method. The result is a discriminated union on `method` with every setting resolved.
 *
 * Keys that belong to another method (e.g. `sweeps` with method 'gptq') are still checked but
 * have no effect: the flat option objects of the first release stay valid, and quantizeModel can
 * pass one object to every layer.
 */
import { OptionError } from '../core/errors.ts';
import { checkBoolean, checkFiniteNumber, checkInteger, checkOneOf, optionFail, rejectUnknownKeys } from '../core/validate.ts';
import type { QuantizeLayerOptions, QuantizeProgress, QuantMethod } from './types.ts';

export const QUANT_METHODS = ['rtn', 'gptq', 'quantease'] as const;
/** The method used when `method` is left out. */
export const DEFAULT_METHOD: QuantMethod = 'quantease';

const COMMON_KEYS = ['bits', 'groupSize', 'symmetric', 'clip', 'onProgress'] as const;
const GPTQ_KEYS = ['dampening', 'blockSize', 'actOrder'] as const;

/** The keys each method reads. */
export const METHOD_OPTION_KEYS: Record<QuantMethod, readonly string[]> = {
  rtn: ['method', ...COMMON_KEYS],
  gptq: ['method', ...COMMON_KEYS, ...GPTQ_KEYS],
  quantease: ['method', ...COMMON_KEYS, ...GPTQ_KEYS, 'sweeps', 'unroundedSweepEvery', 'unroundedUntil', 'init', 'outliers', 'tolerance', 'refit', 'refitSweeps'],
};

/** Every key quantizeLayer accepts (the union over methods). */
export const QUANTIZE_LAYER_OPTION_KEYS: readonly string[] = [...new Set(Object.values(METHOD_OPTION_KEYS).flat())];

export interface ResolvedCommon {
  bits: number;
  /** 0 (or >= in) = whole row. */
  groupSize: number;
  symmetric: boolean;
  clip: ResolvedClip | false;
  onProgress?: (p: QuantizeProgress) => void;
}
export interface ResolvedClip {
  steps: number;
  minRatio: number;
}
export interface ResolvedGptqSettings {
  dampening: number;
  blockSize: number;
  actOrder: boolean;
}
export interface ResolvedRtn extends ResolvedCommon {
  method: 'rtn';
}
export interface ResolvedGptq extends ResolvedCommon, ResolvedGptqSettings {
  method: 'gptq';
}
export interface ResolvedOutliers {
  fraction: number;
  structured: boolean;
}
export interface ResolvedQuantEase extends ResolvedCommon, ResolvedGptqSettings {
  method: 'quantease';
  sweeps: number;
  unroundedSweepEvery: number;
  unroundedUntil: number;
  init: 'weights' | 'gptq';
  outliers: ResolvedOutliers | false;
  tolerance: number;
  refit: number;
  refitSweeps: number;
}
/** Every option with its default filled in. */
export type ResolvedQuantizeOptions = ResolvedRtn | ResolvedGptq | ResolvedQuantEase;

function checkOutliers(v: unknown): ResolvedOutliers | false {
  if (v === false) return false;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) optionFail('outliers', v, 'false or an object {fraction, structured}');
  rejectUnknownKeys(v as object, ['fraction', 'structured'], 'quantizeLayer `outliers`');
  const o = v as Record<string, unknown>;
  return {
    fraction: o.fraction !== undefined ? checkFiniteNumber('outliers.fraction', o.fraction, 0, 1) : 0.01,
    structured: o.structured !== undefined ? checkBoolean('outliers.structured', o.structured) : false,
  };
}

function checkClip(v: unknown): ResolvedClip | false {
  if (v === false) return false;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) optionFail('clip', v, 'false or an object {steps, minRatio}');
  rejectUnknownKeys(v as object, ['steps', 'minRatio'], 'quantizeLayer `clip`');
  const o = v as Record<string, unknown>;
  return {
    steps: o.steps !== undefined ? checkInteger('clip.steps', o.steps, 1, 1000) : 40,
    minRatio: o.minRatio !== undefined ? checkFiniteNumber('clip.minRatio', o.minRatio, 0, 1, true) : 0.3,
  };
}

/** One checker per key: returns the resolved value or throws OptionError. */
const CHECKS: Record<string, (v: unknown) => unknown> = {
  method: (v) => checkOneOf('method', v, QUANT_METHODS),
  bits: (v) => checkInteger('bits', v, 2, 8),
  // 0 or >= in: one group per row (one setting serves layers of any width); a last partial group
  // is allowed when groupSize does not divide in.
  groupSize: (v) => checkInteger('groupSize', v, 0),
  symmetric: (v) => checkBoolean('symmetric', v),
  onProgress: (v) => (typeof v === 'function' ? v : optionFail('onProgress', v, 'a function')),
  dampening: (v) => checkFiniteNumber('dampening', v, 0),
  blockSize: (v) => checkInteger('blockSize', v, 1),
  actOrder: (v) => checkBoolean('actOrder', v),
  sweeps: (v) => checkInteger('sweeps', v, 1, 100000),
  unroundedSweepEvery: (v) => checkInteger('unroundedSweepEvery', v, 0),
  unroundedUntil: (v) => checkInteger('unroundedUntil', v, 0),
  init: (v) => checkOneOf('init', v, ['weights', 'gptq'] as const),
  outliers: checkOutliers,
  clip: checkClip,
  tolerance: (v) => checkFiniteNumber('tolerance', v, 0, 1),
  refit: (v) => checkInteger('refit', v, 0, 1000),
  refitSweeps: (v) => checkInteger('refitSweeps', v, 1, 100000),
};

/** Defaults per method (the doc comments of types.ts say the same). */
const DEFAULTS: { [M in QuantMethod]: Omit<Extract<ResolvedQuantizeOptions, { method: M }>, 'method' | 'onProgress'> } = {
  rtn: { bits: 4, groupSize: 0, symmetric: false, clip: false },
  gptq: { bits: 4, groupSize: 0, symmetric: false, clip: false, dampening: 0.01, blockSize: 128, actOrder: false },
  quantease: {
    bits: 4, groupSize: 0, symmetric: false, clip: { steps: 40, minRatio: 0.3 }, dampening: 0.01, blockSize: 128, actOrder: true,
    sweeps: 30, unroundedSweepEvery: 3, unroundedUntil: 25, init: 'gptq', outliers: false,
    tolerance: 1e-4, refit: 2, refitSweeps: 3,
  },
};

/**
 * Checks every option and fills in the defaults of the chosen method. Throws OptionError with the
 * option's name, the value received and what is allowed. Needs no layer: call it once up front.
 */
export function resolveQuantizeOptions(options: QuantizeLayerOptions = {}): ResolvedQuantizeOptions {
  rejectUnknownKeys(options, QUANTIZE_LAYER_OPTION_KEYS, 'quantizeLayer');
  const given = options as Record<string, unknown>;
  const checked: Record<string, unknown> = {};
  for (const key of QUANTIZE_LAYER_OPTION_KEYS) if (given[key] !== undefined) checked[key] = CHECKS[key](given[key]);
  const method = (checked.method as QuantMethod | undefined) ?? DEFAULT_METHOD;
  if (checked.outliers && method !== 'quantease') {
    throw new OptionError(`\`outliers\` needs method 'quantease'. Received: method=${JSON.stringify(method)} with outliers. Use method: 'quantease' or drop outliers.`);
  }
  const resolved: Record<string, unknown> = { method, ...DEFAULTS[method] };
  // The outlier variant starts from W minus its outliers: with outliers, init defaults to 'weights'.
  if (method === 'quantease' && checked.outliers) resolved.init = 'weights';
  for (const key of METHOD_OPTION_KEYS[method]) if (checked[key] !== undefined) resolved[key] = checked[key];
  const r = resolved as unknown as ResolvedQuantizeOptions;
  if (r.method === 'quantease' && r.init === 'gptq' && r.outliers) {
    throw new OptionError("`init: 'gptq'` cannot be combined with `outliers` (the outlier variant starts from W minus its outliers).");
  }
  return r;
}
