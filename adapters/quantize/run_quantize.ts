/**
 * The model-level hook's procedure, with the layer quantizer passed in (quantize_model.ts binds
 * the real one). For each quantizable layer in topological order (graph_plan.ts):
 *
 *   1. advance the calibration set's activations through the working copy to the layer's input
 *      (propagate.ts: every layer runs once per batch) and accumulate S = X^T X
 *   2. W = kernel as [out, in]; quantize (and RTN for the report), rows split over `workers`
 *   3. write dequant(codes, grid, outliers) back as the kernel of the working copy, so the next
 *      layers see the quantized outputs (sequential quantization)
 *
 * With `sequential: false`, step 1 is one pass over the float model for all layers, then 2 and 3.
 *
 * The input model is never touched while this runs: all the work happens on a copy. With
 * `inPlace`, the new kernels are copied into the input model only once every layer succeeded.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InputError, describeValue } from '../../plugins/core/errors.ts';
import type { LayerProblem, QuantizeLayerOptions, QuantizedLayer } from '../../plugins/quantease/types.ts';
import { cloneModel } from '../io/artifacts.ts';
import { dequantize } from '../../plugins/quantease/dequantize.ts';
import { pruneLayer, quantizeOnSupport, type PruneStats, type SupportQuantizeOptions } from '../../plugins/prune/index.ts';
import { sparseAffineByteLength } from '../io/support.ts';
import { affineByteLength, type QuantizedPayload, type QuantizedWeight } from '../io/format.ts';
import { problemDataToKernelData, problemShape } from '../io/layout.ts';
import { calibrationSource, type Calibration } from './calibration.ts';
import { layerInputFunction, type CovarianceLike } from './capture.ts';
import { buildPlan, forwardsPerBatch } from './graph_plan.ts';
import { Propagator, type PropagationStats } from './propagate.ts';
import { openQuantizer, type LayerQuantizerHandle } from './parallel_quantizer.ts';
import { backendMemoryLimit, checkLayerMemory } from './memory.ts';
import { isQuantizable, kernelParts, kernelToProblem, skipReason, weightNamed, type KernelPart, type PartAccumulator } from './layer_problems.ts';
import { resolveModelOptions, type QuantizeModelOptions } from './options.ts';
import { progressBar, type ProgressEvent } from './progress.ts';
import type { LayerReport, QuantizationReport } from './report.ts';

export type LayerQuantizer = (problem: LayerProblem, options: QuantizeLayerOptions) => Promise<QuantizedLayer>;
export type AccumulatorFactory = (width: number) => CovarianceLike;


/**
 * Sets a kernel without LayerVariable.write, which would re-apply the layer's kernel constraint
 * (e.g. maxNorm) and move the weights off their grid. read() returns the backing tf.Variable.
 */
function setKernel(kernel: tfl.LayerVariable, value: tf.Tensor): void {
  (kernel.read() as tf.Variable).assign(value);
}

/** What quantizing one kernel part produced (objectives summed over its row blocks). */
interface PartOutcome {
  q: QuantizedWeight;
  baseline: number;
  after: number;
  /** NaN when RTN was not compared. */
  rtnAfter: number;
  rows: number;
  cols: number;
  outliers: number;
  count: number;
  method: QuantizedLayer['stats']['method'];
  fallback?: string;
  /** Set when the kernel was pruned before it was quantized (option `sparsity`). */
  pruneStats?: PruneStats;
}

/** The report's pruning fields of a layer whose kernels were pruned (the first pruned kernel's). */
function pruneReport(outcomes: PartOutcome[]): Partial<LayerReport> {
  const p = outcomes.find((o) => o.pruneStats)?.pruneStats;
  if (!p) return {};
  return {
    sparsity: p.sparsity,
    pruneMethod: p.method,
    pruneRelativeError: p.relativeError,
    pruneLowerBound: p.lowerBound / (p.baseline || 1),
    pruneGap: p.gap,
  };
}

/** The results of row blocks of `per` rows (same cols, same grid spec) as one matrix's codes and grid. */
function stackBlocks(blocks: QuantizedLayer[], per: number, cols: number): Pick<QuantizedWeight, 'codes' | 'grid' | 'outliers'> {
  if (blocks.length === 1) return { codes: blocks[0].codes, grid: blocks[0].grid, outliers: blocks[0].outliers };
  const g0 = blocks[0].grid;
  const cat = (f: (r: QuantizedLayer) => Float32Array) => {
    const out = new Float32Array(blocks.reduce((a, r) => a + f(r).length, 0));
    let at = 0;
    for (const r of blocks) {
      out.set(f(r), at);
      at += f(r).length;
    }
    return out;
  };
  const codes = new Uint8Array(blocks.length * per * cols);
  blocks.forEach((r, b) => codes.set(r.codes, b * per * cols));
  const indices: number[] = [];
  const values: number[] = [];
  blocks.forEach((r, b) => r.outliers?.indices.forEach((ix, k) => {
    indices.push(ix + b * per * cols); // flat r*cols + c in the block -> in the stacked matrix
    values.push(r.outliers!.values[k]);
  }));
  return {
    codes,
    grid: { bits: g0.bits, groupSize: g0.groupSize, groups: g0.groups, rows: blocks.length * per, scale: cat((r) => r.grid.scale), zero: cat((r) => r.grid.zero) },
    outliers: indices.length > 0 ? { indices: Int32Array.from(indices), values: Float32Array.from(values) } : undefined,
  };
}

function weightBytes(layer: tfl.layers.Layer): number {
  return layer.weights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1) * 4, 0);
}

function isLayersModel(m: unknown): m is tfl.LayersModel {
  return m instanceof tfl.LayersModel || (typeof m === 'object' && m !== null && Array.isArray((m as tfl.LayersModel).layers) && Array.isArray((m as tfl.LayersModel).inputs));
}

/**
 * Disposes the working copy after a failure, including the weights of shared layers, which
 * LayersModel.dispose keeps (tfjs counts one reference per call of the layer).
 */
function disposeWorkingCopy(working: tfl.LayersModel): void {
  working.dispose();
  for (const layer of working.layers) {
    for (const w of layer.weights) {
      try {
        const v = w.read();
        if (!v.isDisposed) v.dispose();
      } catch {
        // already disposed by working.dispose()
      }
    }
  }
}

/** What quantizeModel returns: the quantized model, the report (JSON) and the codes to pack. */
export interface QuantizeModelResult {
  model: tfl.LayersModel;
  report: QuantizationReport;
  /** Codes, grid and outliers of every quantized kernel, by weight name: what the encoder packs. */
  payload: QuantizedPayload;
}

/**
 * How calibration inputs are captured. 'propagate' (what quantizeModel does); 'submodel' is the
 * former per-layer sub-model path (quadratic in depth), kept callable for tests and benchmarks.
 */
export type CaptureStrategy = 'propagate' | 'submodel';

export async function runQuantizeModel(
  model: tfl.LayersModel,
  calibration: Calibration,
  options: QuantizeModelOptions | undefined,
  quantizeLayer: LayerQuantizer,
  makeAccumulator: AccumulatorFactory,
  capture: CaptureStrategy = 'propagate',
): Promise<QuantizeModelResult> {
  const opts = resolveModelOptions(options);
  if (!isLayersModel(model)) {
    throw new InputError(`\`model\` must be a tfjs-layers LayersModel (Sequential or functional). Received: ${describeValue(model)}.`);
  }
  // Validates tensors against model.inputs now; datasets are checked element by element.
  calibrationSource(calibration, model, opts.batchSize, opts.maxBatches);
  const bar = opts.progress ? progressBar() : () => {};
  const emit = (e: ProgressEvent) => {
    opts.onProgress?.(e);
    bar(e);
  };
  const started = performance.now();
  const working = await cloneModel(model);
  const newKernels = new Map<string, { layer: string; part: string; kernel: tf.Tensor }>(); // weight name -> new kernel
  const reports = new Map<tfl.layers.Layer, LayerReport>();
  const quantized = new Map<string, QuantizedWeight>();
  const flow: PropagationStats = { forwards: 0, recomputedForwards: 0, peakActivationBytes: 0 };
  let propagator: Propagator | undefined;
  let quantizer: LayerQuantizerHandle | undefined;
  const accumulators: PartAccumulator[] = [];
  let withWeights: tfl.layers.Layer[] = [];
  try {
    let batches = 0;
    const counted = calibrationSource(calibration, working, opts.batchSize, opts.maxBatches);
    const source: typeof counted = {
      forEachBatch: (fn) => counted.forEachBatch((batch) => {
        batches++;
        return fn(batch);
      }),
    };
    withWeights = working.layers.filter((l) => l.weights.length > 0);
    const selected = (l: tfl.layers.Layer) =>
      (opts.include === null || opts.include.some((r) => r.test(l.name))) && !opts.exclude.some((r) => r.test(l.name));
    const todo = withWeights.filter((l) => isQuantizable(l) && selected(l));
    // Before any work: refuse, with the fix, a layer whose S [in, in] cannot fit in the backend's
    // memory (wasm fails silently past its 4 GiB heap). Without `sequential`, all S live at once.
    let pending = 0;
    for (const layer of todo) {
      for (const part of kernelParts(layer)) {
        checkLayerMemory(layer.name, part.width, tf.memory().numBytes + pending, backendMemoryLimit(tf.getBackend()), tf.getBackend());
        if (!opts.sequential) pending += 4 * part.width * part.width * part.blocks;
      }
    }
    for (const layer of withWeights) {
      if (todo.includes(layer)) continue;
      const reason = isQuantizable(layer) ? 'excluded by include/exclude' : skipReason(layer);
      const bytes = weightBytes(layer);
      reports.set(layer, { name: layer.name, className: layer.getClassName(), float32Bytes: bytes, status: 'skipped', reason, milliseconds: 0, packedBytes: bytes, float32KeptBytes: bytes });
    }
    const plan = buildPlan(working, todo);
    quantizer = await openQuantizer(quantizeLayer, opts.workers);
    let done = 0;
    /** Quantizes one kernel part from its filled accumulator and writes it into `working`. */
    const quantizePart = async (layer: tfl.layers.Layer, part: KernelPart, acc: PartAccumulator): Promise<PartOutcome> => {
      const shape = part.variable.shape as number[];
      const [rows, cols] = problemShape(shape, part.layout);
      const per = rows / part.blocks;
      const weight = kernelToProblem(part.variable.read(), part.layout); // [rows, cols]
      const blocks: QuantizedLayer[] = [];
      const count = acc.count; // read before the accumulator is disposed
      let rtnData: Float32Array | undefined; // RTN's W (one block), for row-weighted errors
      // Sparsity (issue 14) applies to whole out_in kernels (Dense, Conv, recurrent); per-channel and
      // table kernels are quantized dense.
      const sparse = opts.sparsity !== null && opts.sparsity !== undefined && part.layout === 'out_in' && part.blocks === 1;
      let mask: Uint8Array | undefined;
      let pruneStats: PruneStats | undefined;
      let baseline = 0;
      let after = 0;
      let rtnAfter = 0;
      const layerOptions = opts.layerFor(layer.name, part.layout);
      try {
        emit({ done, total: todo.length, layer: layer.name, stage: 'quantize' });
        for (let b = 0; b < part.blocks; b++) {
          const sigma = acc.sigma(b); // [cols, cols]
          const w = part.blocks === 1 ? weight : tf.slice(weight, [b * per, 0], [per, cols]); // [per, cols]
          try {
            if (sparse) {
              // Prune, then quantize the kept weights on that support (calling thread; rows share it).
              const pruned = pruneLayer({ weight: w, sigma }, opts.sparsity!);
              try {
                const l = layerOptions;
                const onSupport: SupportQuantizeOptions = { method: l.method, bits: l.bits, groupSize: l.groupSize, symmetric: l.symmetric, sweeps: (l as { sweeps?: number }).sweeps };
                const result = quantizeOnSupport({ weight: w, sigma }, pruned, onSupport);
                result.weight.dispose();
                blocks.push(result);
                mask = result.mask;
                pruneStats = pruned.stats;
                baseline += result.stats.baseline;
                after += result.stats.objectiveAfter;
                if (opts.compareRtn || l.method === 'rtn') {
                  // the RTN reference is RTN of the same pruned weights (on the same support)
                  const rtn = l.method === 'rtn' ? result : quantizeOnSupport({ weight: w, sigma }, pruned, { ...onSupport, method: 'rtn' });
                  if (rtn !== result) rtn.weight.dispose();
                  rtnAfter += rtn.stats.objectiveAfter;
                  rtnData = dequantize(rtn);
                } else rtnAfter = NaN;
              } finally {
                pruned.weight.dispose();
              }
              continue;
            }
            const result = await quantizer!.quantize({ weight: w, sigma }, layerOptions);
            result.weight.dispose();
            blocks.push(result);
            baseline += result.stats.baseline;
            after += result.stats.objectiveAfter;
            if (result.stats.method === 'rtn') {
              rtnAfter += result.stats.objectiveAfter;
              rtnData = dequantize(result);
            } else if (opts.compareRtn) {
              const rtn = await quantizeLayer({ weight: w, sigma }, { method: 'rtn', bits: layerOptions.bits, groupSize: layerOptions.groupSize, symmetric: layerOptions.symmetric });
              rtn.weight.dispose();
              rtnAfter += rtn.stats.objectiveAfter;
              rtnData = dequantize(rtn);
            } else rtnAfter = NaN;
          } finally {
            sigma.dispose();
            if (w !== weight) w.dispose();
          }
        }
      } finally {
        acc.dispose();
        weight.dispose();
      }
      const q: QuantizedWeight = { shape, ...(part.layout === 'out_in' ? {} : { layout: part.layout }), ...stackBlocks(blocks, per, cols) };
      if (mask) q.mask = mask;
      const rowWeights = acc.rowWeights?.();
      if (rowWeights) {
        // The error as the layer's outputs see it: sum_r w_r ||W_r - What_r||^2 (embedding_problem.ts).
        const wData = part.variable.read().dataSync() as Float32Array; // 'table' layout: W is the kernel
        const weighted = (a: Float32Array) => {
          let e = 0;
          for (let i = 0; i < a.length; i++) e += rowWeights[Math.floor(i / cols)] * (wData[i] - a[i]) ** 2;
          return e;
        };
        baseline = weighted(new Float32Array(wData.length));
        after = weighted(dequantize(q));
        rtnAfter = rtnData ? weighted(rtnData) : NaN;
      }
      const newKernel = tf.tensor(problemDataToKernelData(dequantize(q), shape, part.layout), shape, 'float32'); // exact zeros off a mask: the zero code
      newKernels.set(part.variable.originalName, { layer: layer.name, part: part.variable.originalName, kernel: newKernel });
      setKernel(part.variable, newKernel); // later parts and layers now see this kernel quantized
      quantized.set(part.variable.originalName, q);
      const k = q.outliers?.indices.length ?? 0;
      return {
        q, baseline, after, rtnAfter, rows, cols, outliers: k, count, pruneStats,
        method: blocks[0].stats.method, fallback: blocks.find((r) => r.stats.fallback)?.stats.fallback,
      };
    };
    /** Quantizes every part of a layer in order (capturing each through the parts before it) and reports it. */
    const quantizeLayerParts = async (layer: tfl.layers.Layer, fill: (part: KernelPart, acc: PartAccumulator) => Promise<void>, t0: number, filled?: PartAccumulator[]): Promise<void> => {
      const outcomes: PartOutcome[] = [];
      const parts = kernelParts(layer);
      for (const [i, part] of parts.entries()) {
        let acc = filled?.[i];
        if (!acc) {
          emit({ done, total: todo.length, layer: layer.name, stage: 'capture' });
          acc = part.accumulator(makeAccumulator);
          accumulators.push(acc);
          await fill(part, acc);
        }
        outcomes.push(await quantizePart(layer, part, acc));
      }
      const bytes = weightBytes(layer);
      const sum = (f: (o: PartOutcome) => number) => outcomes.reduce((a, o) => a + f(o), 0);
      const baseline = sum((o) => o.baseline);
      const ratio = (x: number) => (baseline > 0 ? x / baseline : 0);
      const first = outcomes[0];
      reports.set(layer, {
        name: layer.name,
        className: layer.getClassName(),
        float32Bytes: bytes,
        status: 'quantized',
        method: first.method,
        bits: first.q.grid.bits,
        groupSize: first.q.grid.groupSize,
        shape: first.q.shape,
        rtnRelativeError: Number.isNaN(sum((o) => o.rtnAfter)) ? undefined : ratio(sum((o) => o.rtnAfter)),
        relativeError: ratio(sum((o) => o.after)),
        outliers: sum((o) => o.outliers),
        rows: first.count,
        fallback: outcomes.find((o) => o.fallback)?.fallback,
        milliseconds: performance.now() - t0,
        packedBytes: bytes - sum((o) => (o.rows * o.cols * 4 - (o.q.mask
          ? sparseAffineByteLength(o.q.mask, o.rows, o.cols, o.q.grid.bits, o.q.grid.groups)
          : affineByteLength(o.rows, o.cols, o.q.grid.bits, o.q.grid.groups, o.outliers)))),
        float32KeptBytes: bytes - sum((o) => o.rows * o.cols * 4),
        ...pruneReport(outcomes),
      });
      done++;
      emit({ done, total: todo.length, layer: layer.name, stage: done === todo.length ? 'done' : 'quantized' });
    };
    if (capture === 'submodel') {
      for (const target of plan.targets) {
        const t0 = performance.now();
        const forward = layerInputFunction(working, target.layer);
        await quantizeLayerParts(target.layer, async (_part, acc) => {
          const before = batches;
          await source.forEachBatch((batch) => {
            const x = forward(batch);
            try {
              acc.add(x);
            } finally {
              x.dispose();
            }
          });
          flow.forwards += forwardsPerBatch(buildPlan(working, [target.layer])) * (batches - before);
        }, t0);
      }
    } else if (opts.sequential) {
      propagator = new Propagator(plan, source, opts.activationMemoryBytes);
      for (const target of plan.targets) {
        const t0 = performance.now();
        await quantizeLayerParts(target.layer, (_part, acc) => propagator!.visit(target, (x) => acc.add(x)), t0);
      }
    } else {
      propagator = new Propagator(plan, source, opts.activationMemoryBytes);
      const t0 = performance.now();
      emit({ done, total: todo.length, layer: plan.targets[0]?.layer.name ?? '', stage: 'capture' });
      // One pass on the float model: every part of every layer sees float inputs.
      const accs = plan.targets.map((t) => kernelParts(t.layer).map((part) => {
        const acc = part.accumulator(makeAccumulator);
        accumulators.push(acc);
        return acc;
      }));
      if (plan.targets.length > 0) await propagator.visitAll((k, x) => accs[k].forEach((acc) => acc.add(x)));
      const share = (performance.now() - t0) / Math.max(1, plan.targets.length); // capture time split evenly
      for (const [k, target] of plan.targets.entries()) {
        await quantizeLayerParts(target.layer, async () => {}, performance.now() - share, accs[k]);
      }
    }
    if (propagator) Object.assign(flow, propagator.stats);
  } catch (err) {
    tf.dispose([...newKernels.values()].map((n) => n.kernel));
    disposeWorkingCopy(working);
    throw err;
  } finally {
    propagator?.dispose();
    for (const acc of accumulators) acc.dispose();
    await quantizer?.close();
  }
  const layers = withWeights.map((l) => reports.get(l)!);
  const float32Bytes = layers.reduce((a, l) => a + l.float32Bytes, 0);
  const packedBytes = layers.reduce((a, l) => a + l.packedBytes, 0);
  const report: QuantizationReport = {
    layers,
    totals: {
      quantizedLayers: layers.filter((l) => l.status === 'quantized').length,
      float32Bytes,
      packedBytes,
      ratio: packedBytes > 0 ? float32Bytes / packedBytes : 1,
      float32KeptBytes: layers.reduce((a, l) => a + (l.float32KeptBytes ?? 0), 0),
      milliseconds: performance.now() - started,
      forwards: flow.forwards,
      recomputedForwards: flow.recomputedForwards,
      peakActivationBytes: flow.peakActivationBytes,
      workers: quantizer?.workers ?? 1,
      sequential: opts.sequential,
    },
  };
  if (!opts.inPlace) {
    tf.dispose([...newKernels.values()].map((n) => n.kernel));
    return { model: working, report, payload: quantized };
  }
  // Every layer succeeded: now (and only now) write into the caller's model.
  for (const n of newKernels.values()) setKernel(weightNamed(model.getLayer(n.layer), n.part.slice(n.part.lastIndexOf('/') + 1)), n.kernel);
  tf.dispose([...newKernels.values()].map((n) => n.kernel));
  working.dispose();
  return { model, report, payload: quantized };
}
