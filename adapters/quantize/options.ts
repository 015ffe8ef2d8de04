/**
 * Options of quantizeModel, validated once before any work: the layer options of
 * QuantizeLayerOptions (plugins/quantease/types.ts) plus the model-level ones below.
 */
import type { AnyQuantizeOptions, QuantizeLayerOptions } from '../../plugins/quantease/types.ts';
import { OptionError } from '../../plugins/core/errors.ts';
import { resolvePruneOptions, type PruneLayerOptions } from '../../plugins/prune/index.ts';
import { checkBoolean, checkFiniteNumber, checkInteger, optionFail, rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { QUANTIZE_LAYER_OPTION_KEYS, resolveQuantizeOptions } from '../../plugins/quantease/quantize_layer.ts';
import type { ProgressEvent } from './progress.ts';
import type { KernelLayout } from '../io/layout.ts';

export type LayerPattern = string | RegExp;

export interface QuantizeModelOptions extends Omit<AnyQuantizeOptions, 'onProgress'> {
  /** Layer names to quantize: strings with `*` wildcards (whole-name match) or RegExps. Default: all. */
  include?: LayerPattern | LayerPattern[];
  /** Layer names to leave in float32, same patterns. Default: none. */
  exclude?: LayerPattern | LayerPattern[];
  /** Write the new weights into the given model instead of a copy. Default false. */
  inPlace?: boolean;
  /** Calibration rows per forward pass when calibration is a tensor. Default 128. */
  batchSize?: number;
  /** Called at each stage of each layer. Default: none. */
  onProgress?: (e: ProgressEvent) => void;
  /** Draw a progress bar on stderr when it is a terminal. Default false. */
  progress?: boolean;
  /** Also run RTN on each layer to report its error beside the chosen method's. Default true. */
  compareRtn?: boolean;
  /**
   * Calibrate layer k through the already-quantized layers before it (true, default), or every
   * layer on the float model's activations in a single pass (false; cheaper, layers independent).
   */
  sequential?: boolean;
  /**
   * Bytes of activations the sequential pass may keep for the whole calibration set (the live
   * frontier). Past it, activations are recomputed from the last frontier that fitted.
   * Default DEFAULT_ACTIVATION_MEMORY_BYTES (2 GiB).
   */
  activationMemoryBytes?: number;
  /** Use at most this many calibration batches (needed for an endless dataset). Default: all. */
  maxBatches?: number;
  /**
   * Threads quantizing the rows of a layer in parallel (Node worker_threads). Default: the number
   * of cores; 1 = no worker. Browsers always run on the calling thread.
   */
  workers?: number;
  /**
   * Prune each layer first (plugins/prune: method, pattern and the other pruneLayer options), then
   * quantize the kept weights on that fixed support so pruned weights stay exact zeros
   * (plugins/prune/quantize_sparse.ts; reads method, bits, groupSize, symmetric, sweeps; 'gptq'
   * runs coordinate descent on the support). The packed file stores only the kept codes and the
   * support. Not with `outliers`. Runs on the calling thread. Default: none (dense).
   */
  sparsity?: PruneLayerOptions;
  /**
   * Per-layer settings (mixed precision), e.g. `[{layers: '*_depthwise', bits: 8}]`: each entry's
   * layer options apply to the layers its `layers` patterns match; a later entry wins over an
   * earlier one. An entry is merged over the options above, except that an entry which sets
   * `method` starts from that method's defaults and keeps only `bits`, `groupSize` and `symmetric`
   * from above. Default: none.
   */
  overrides?: LayerOverride[];
  /**
   * Bits of depthwise kernels (DepthwiseConv2D, and SeparableConv2D's depthwise part), unless an
   * override sets `bits` for the layer; `'same'` = `bits`. Default 8: a depthwise channel has only
   * kh*kw taps (9 for 3x3), whose own grid already costs 64 bits, so 8-bit codes add little to the
   * file (+3% on MobileNetV2 at 3 bits) while lower bits there dominate the model's error (KL to
   * float 10x lower on MobileNetV2 at 3 bits, recipes/eval_mobilenet.ts).
   */
  depthwiseBits?: number | 'same';
}

/** One entry of `overrides`: which layers (same patterns as `include`), and their layer options. */
export type LayerOverride = { layers: LayerPattern | LayerPattern[] } & Partial<Omit<AnyQuantizeOptions, 'onProgress'>>;

/**
 * Default activation budget: 2 GiB. Activations live on the tfjs backend; on wasm they share its
 * 4 GiB heap with the layers' S matrices and the weights, so half of it at most. On a 24 GB
 * machine with the cpu/node backend it can be raised freely.
 */
export const DEFAULT_ACTIVATION_MEMORY_BYTES = 2 * 2 ** 30;

/** quantizeLayer's keys (plugins/quantease/options.ts) except onProgress, which is model-level here. */
export const LAYER_OPTION_KEYS = QUANTIZE_LAYER_OPTION_KEYS.filter((k) => k !== 'onProgress');

export const MODEL_OPTION_KEYS = [
  ...LAYER_OPTION_KEYS, 'include', 'exclude', 'inPlace', 'batchSize', 'onProgress', 'progress', 'compareRtn',
  'sequential', 'activationMemoryBytes', 'maxBatches', 'workers', 'sparsity', 'overrides', 'depthwiseBits',
] as const;

export interface ResolvedModelOptions {
  layer: QuantizeLayerOptions;
  include: RegExp[] | null;
  exclude: RegExp[];
  inPlace: boolean;
  batchSize: number;
  onProgress?: (e: ProgressEvent) => void;
  progress: boolean;
  compareRtn: boolean;
  sequential: boolean;
  activationMemoryBytes: number;
  maxBatches: number;
  /** null = the number of cores, decided when the work starts. */
  workers: number | null;
  /** Pruning options (validated), or null for dense quantization. */
  sparsity: PruneLayerOptions | null;
  /**
   * The layer options of one kernel of the named layer: `layer` with the matching overrides
   * applied, and `depthwiseBits` for a depthwise kernel whose bits no override sets.
   */
  layerFor(name: string, layout?: KernelLayout): QuantizeLayerOptions;
}

/** Default of `depthwiseBits` (see QuantizeModelOptions). */
export const DEFAULT_DEPTHWISE_BITS = 8;

function toRegExp(name: string, p: unknown): RegExp {
  if (p instanceof RegExp) return p;
  if (typeof p === 'string' && p !== '') {
    const body = p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
    return new RegExp(`^${body}$`);
  }
  optionFail(name, p, 'a non-empty string (with * wildcards) or a RegExp, or an array of them');
}

function patterns(name: string, v: unknown): RegExp[] {
  return (Array.isArray(v) ? v : [v]).map((p) => toRegExp(name, p));
}

/** Keys an override that sets its own `method` keeps from the model-wide options. */
const INHERITED_BY_NEW_METHOD = ['bits', 'groupSize', 'symmetric'] as const;

/** Validates `overrides` and returns each entry's patterns and merged layer options. */
function resolveOverrides(v: unknown, layer: Record<string, unknown>): Array<{ match: RegExp[]; options: QuantizeLayerOptions; setsBits: boolean }> {
  if (!Array.isArray(v)) optionFail('overrides', v, "an array of {layers, ...layer options}, e.g. [{layers: '*_depthwise', bits: 8}]");
  return v.map((entry, i) => {
    const name = `overrides[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) optionFail(name, entry, 'an object {layers, ...layer options}');
    const e = entry as Record<string, unknown>;
    if (e.layers === undefined) optionFail(`${name}.layers`, e.layers, 'a layer-name pattern or an array of them');
    rejectUnknownKeys(e, ['layers', ...LAYER_OPTION_KEYS], name);
    const own: Record<string, unknown> = {};
    for (const k of LAYER_OPTION_KEYS) if (e[k] !== undefined) own[k] = e[k];
    const base: Record<string, unknown> = {};
    if (own.method !== undefined) {
      for (const k of INHERITED_BY_NEW_METHOD) if (layer[k] !== undefined) base[k] = layer[k];
    } else Object.assign(base, layer);
    const options = { ...base, ...own } as QuantizeLayerOptions;
    try {
      resolveQuantizeOptions(options);
    } catch (err) {
      if (err instanceof OptionError) throw new OptionError(`\`${name}\`: ${err.message}`);
      throw err;
    }
    return { match: patterns(`${name}.layers`, e.layers), options, setsBits: own.bits !== undefined };
  });
}

/** Validates and resolves quantizeModel's options (throws OptionError). */
export function resolveModelOptions(options: QuantizeModelOptions = {}): ResolvedModelOptions {
  rejectUnknownKeys(options, MODEL_OPTION_KEYS, 'quantizeModel');
  const o = options as Record<string, unknown>;
  const layer: Record<string, unknown> = {};
  for (const k of LAYER_OPTION_KEYS) if (o[k] !== undefined) layer[k] = o[k];
  // Every layer option is checked now, before the model is copied (quantizeLayer's own rules).
  resolveQuantizeOptions(layer as QuantizeLayerOptions);
  let sparsity: PruneLayerOptions | null = null;
  if (o.sparsity !== undefined) {
    if (o.sparsity === null || typeof o.sparsity !== 'object' || Array.isArray(o.sparsity)) {
      optionFail('sparsity', o.sparsity, "an object of pruneLayer options, e.g. {method: 'l0', pattern: {kind: 'unstructured', fraction: 0.5}}");
    }
    try {
      resolvePruneOptions(o.sparsity as PruneLayerOptions); // every pruning option checked now
    } catch (err) {
      if (err instanceof OptionError) throw new OptionError(`\`sparsity\`: ${err.message}`);
      throw err;
    }
    if (layer.outliers !== undefined && layer.outliers !== false) {
      throw new OptionError('`sparsity` cannot be combined with `outliers` (full-precision outliers would refill pruned weights). Drop one of them.');
    }
    sparsity = o.sparsity as PruneLayerOptions;
  }
  const onProgress = o.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') optionFail('onProgress', onProgress, 'a function');
  const overrides = o.overrides === undefined ? [] : resolveOverrides(o.overrides, layer);
  const depthwiseBits = o.depthwiseBits === undefined ? DEFAULT_DEPTHWISE_BITS
    : o.depthwiseBits === 'same' ? null : checkInteger('depthwiseBits', o.depthwiseBits, 2, 8);
  const withOutliers = overrides.findIndex((ov) => {
    const outliers = (ov.options as { outliers?: unknown }).outliers;
    return outliers !== undefined && outliers !== false;
  });
  if (sparsity !== null && withOutliers >= 0) {
    throw new OptionError(`\`sparsity\` cannot be combined with \`outliers\` (in overrides[${withOutliers}]): full-precision outliers would refill pruned weights.`);
  }
  return {
    layer: layer as QuantizeLayerOptions,
    layerFor: (name, layout = 'out_in') => {
      let chosen = layer as QuantizeLayerOptions;
      let bitsOverridden = false;
      for (const ov of overrides) {
        if (!ov.match.some((r) => r.test(name))) continue;
        chosen = ov.options;
        bitsOverridden = ov.setsBits;
      }
      return layout === 'depthwise' && depthwiseBits !== null && !bitsOverridden ? { ...chosen, bits: depthwiseBits } : chosen;
    },
    include: o.include === undefined ? null : patterns('include', o.include),
    exclude: o.exclude === undefined ? [] : patterns('exclude', o.exclude),
    inPlace: o.inPlace === undefined ? false : checkBoolean('inPlace', o.inPlace),
    batchSize: o.batchSize === undefined ? 128 : checkInteger('batchSize', o.batchSize, 1),
    onProgress: onProgress as ResolvedModelOptions['onProgress'],
    progress: o.progress === undefined ? false : checkBoolean('progress', o.progress),
    compareRtn: o.compareRtn === undefined ? true : checkBoolean('compareRtn', o.compareRtn),
    sequential: o.sequential === undefined ? true : checkBoolean('sequential', o.sequential),
    activationMemoryBytes: o.activationMemoryBytes === undefined ? DEFAULT_ACTIVATION_MEMORY_BYTES : checkFiniteNumber('activationMemoryBytes', o.activationMemoryBytes, 0),
    maxBatches: o.maxBatches === undefined ? Infinity : checkInteger('maxBatches', o.maxBatches, 1),
    workers: o.workers === undefined ? null : checkInteger('workers', o.workers, 1, 256),
    sparsity,
  };
}

