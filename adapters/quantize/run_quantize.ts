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
import { addLayerInput, captureCovariance, type CovarianceLike } from './capture.ts';
import { buildPlan, forwardsPerBatch, type PlanTarget } from './graph_plan.ts';
import { Propagator, type PropagationStats } from './propagate.ts';
import { openQuantizer, type LayerQuantizerHandle } from './parallel_quantizer.ts';
import { backendMemoryLimit, checkLayerMemory } from './memory.ts';
import { isQuantizable, kernelToProblem, skipReason } from './layer_problems.ts';
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

/** The kernel variable of a Dense / Conv layer. */
function kernelOf(layer: tfl.layers.Layer): tfl.LayerVariable {
  return layer.weights.find((w) => /(^|\/)kernel$/.test(w.originalName)) ?? layer.weights[0];
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
  const newKernels = new Map<string, tf.Tensor>(); // layer name -> kernel [..., out]
  const reports = new Map<tfl.layers.Layer, LayerReport>();
  const quantized = new Map<string, QuantizedWeight>();
  const flow: PropagationStats = { forwards: 0, recomputedForwards: 0, peakActivationBytes: 0 };
  let propagator: Propagator | undefined;
  let quantizer: LayerQuantizerHandle | undefined;
  const accumulators: CovarianceLike[] = [];
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
      const [, inDim] = problemShape(kernelOf(layer).shape as number[]);
      checkLayerMemory(layer.name, inDim, tf.memory().numBytes + pending, backendMemoryLimit(tf.getBackend()), tf.getBackend());
      if (!opts.sequential) pending += 4 * inDim * inDim;
    }
    for (const layer of withWeights) {
      if (todo.includes(layer)) continue;
      const reason = isQuantizable(layer) ? 'excluded by include/exclude' : skipReason(layer);
      const bytes = weightBytes(layer);
      reports.set(layer, { name: layer.name, className: layer.getClassName(), float32Bytes: bytes, status: 'skipped', reason, milliseconds: 0, packedBytes: bytes });
    }
    const plan = buildPlan(working, todo);
    quantizer = await openQuantizer(quantizeLayer, opts.workers);
    let done = 0;
    /** Quantizes one layer from its filled accumulator and writes the new kernel into `working`. */
    const quantizeOne = async (layer: tfl.layers.Layer, acc: CovarianceLike, t0: number): Promise<void> => {
      const bytes = weightBytes(layer);
      const kernel = kernelOf(layer);
      const shape = kernel.shape as number[];
      const [out, inDim] = problemShape(shape);
      let weight: tf.Tensor2D | undefined;
      let sigma: tf.Tensor2D | undefined;
      let result: QuantizedLayer | undefined;
      let mask: Uint8Array | undefined;
      let pruneStats: PruneStats | undefined;
      try {
        const rows = acc.count;
        sigma = acc.sigma(); // [in, in]
        acc.dispose(); // the running sum is no longer needed: one [in, in] copy at a time
        weight = kernelToProblem(kernel.read()); // [out, in]
        emit({ done, total: todo.length, layer: layer.name, stage: 'quantize' });
        let rtnError: number | undefined;
        if (opts.sparsity) {
          // Prune, then quantize the kept weights on that support (calling thread; rows share it).
          const pruned = pruneLayer({ weight, sigma }, opts.sparsity);
          try {
            const l = opts.layer;
            const onSupport: SupportQuantizeOptions = { method: l.method, bits: l.bits, groupSize: l.groupSize, symmetric: l.symmetric, sweeps: l.sweeps };
            const sparse = quantizeOnSupport({ weight, sigma }, pruned, onSupport);
            result = sparse;
            mask = sparse.mask;
            pruneStats = pruned.stats;
            if (opts.compareRtn || l.method === 'rtn') {
              // the RTN reference is RTN of the same pruned weights (on the same support)
              const rtn = l.method === 'rtn' ? sparse : quantizeOnSupport({ weight, sigma }, pruned, { ...onSupport, method: 'rtn' });
              if (rtn !== sparse) rtn.weight.dispose();
              rtnError = rtn.stats.relativeError;
            }
          } finally {
            pruned.weight.dispose();
          }
        } else {
          result = await quantizer!.quantize({ weight, sigma }, opts.layer);
          rtnError = result.stats.method === 'rtn' ? result.stats.relativeError : undefined;
        }
        if (opts.compareRtn && rtnError === undefined) {
          const rtn = await quantizeLayer({ weight, sigma }, { method: 'rtn', bits: opts.layer.bits, groupSize: opts.layer.groupSize, symmetric: opts.layer.symmetric });
          rtn.weight.dispose();
          rtnError = rtn.stats.relativeError;
        }
        const q: QuantizedWeight = { shape, codes: result.codes, grid: result.grid, outliers: result.outliers };
        if (mask) q.mask = mask;
        const deq = dequantize(q); // [out, in]
        const newKernel = tf.tensor(problemDataToKernelData(deq, shape), shape, 'float32'); // [..., out]
        newKernels.set(layer.name, newKernel);
        setKernel(kernel, newKernel); // later layers now see this layer quantized
        quantized.set(kernel.originalName, q);
        const k = result.outliers?.indices.length ?? 0;
        reports.set(layer, {
          name: layer.name,
          className: layer.getClassName(),
          float32Bytes: bytes,
          status: 'quantized',
          method: result.stats.method,
          bits: result.grid.bits,
          groupSize: result.grid.groupSize,
          shape,
          rtnRelativeError: rtnError,
          relativeError: result.stats.relativeError,
          outliers: k,
          rows,
          fallback: result.stats.fallback,
          milliseconds: performance.now() - t0,
          packedBytes: bytes - out * inDim * 4 + (mask
            ? sparseAffineByteLength(mask, out, inDim, result.grid.bits, result.grid.groups)
            : affineByteLength(out, inDim, result.grid.bits, result.grid.groups, k)),
          ...(pruneStats ? {
            sparsity: pruneStats.sparsity,
            pruneMethod: pruneStats.method,
            pruneRelativeError: pruneStats.relativeError,
            pruneLowerBound: pruneStats.lowerBound / (pruneStats.baseline || 1),
            pruneGap: pruneStats.gap,
          } : {}),
        });
      } finally {
        acc.dispose();
        weight?.dispose();
        sigma?.dispose();
        result?.weight.dispose();
      }
      done++;
      emit({ done, total: todo.length, layer: layer.name, stage: done === todo.length ? 'done' : 'quantized' });
    };
    const newAccumulator = (target: PlanTarget): CovarianceLike => {
      const acc = makeAccumulator(problemShape(kernelOf(target.layer).shape as number[])[1]);
      accumulators.push(acc);
      return acc;
    };
    if (capture === 'submodel') {
      for (const target of plan.targets) {
        const t0 = performance.now();
        emit({ done, total: todo.length, layer: target.layer.name, stage: 'capture' });
        const acc = newAccumulator(target);
        const before = batches;
        await captureCovariance(working, target.layer, source, acc);
        flow.forwards += forwardsPerBatch(buildPlan(working, [target.layer])) * (batches - before);
        await quantizeOne(target.layer, acc, t0);
      }
    } else if (opts.sequential) {
      propagator = new Propagator(plan, source, opts.activationMemoryBytes);
      for (const target of plan.targets) {
        const t0 = performance.now();
        emit({ done, total: todo.length, layer: target.layer.name, stage: 'capture' });
        const acc = newAccumulator(target);
        await propagator.visit(target, (x) => addLayerInput(target.layer, x, acc));
        await quantizeOne(target.layer, acc, t0);
      }
    } else {
      propagator = new Propagator(plan, source, opts.activationMemoryBytes);
      const t0 = performance.now();
      emit({ done, total: todo.length, layer: plan.targets[0]?.layer.name ?? '', stage: 'capture' });
      const accs = plan.targets.map((t) => newAccumulator(t));
      if (plan.targets.length > 0) await propagator.visitAll((k, x) => addLayerInput(plan.targets[k].layer, x, accs[k]));
      const share = (performance.now() - t0) / Math.max(1, plan.targets.length); // capture time split evenly
      for (const [k, target] of plan.targets.entries()) await quantizeOne(target.layer, accs[k], performance.now() - share);
    }
    if (propagator) Object.assign(flow, propagator.stats);
  } catch (err) {
    tf.dispose([...newKernels.values()]);
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
      quantizedLayers: quantized.size,
      float32Bytes,
      packedBytes,
      ratio: packedBytes > 0 ? float32Bytes / packedBytes : 1,
      milliseconds: performance.now() - started,
      forwards: flow.forwards,
      recomputedForwards: flow.recomputedForwards,
      peakActivationBytes: flow.peakActivationBytes,
      workers: quantizer?.workers ?? 1,
      sequential: opts.sequential,
    },
  };
  if (!opts.inPlace) {
    tf.dispose([...newKernels.values()]);
    return { model: working, report, payload: quantized };
  }
  // Every layer succeeded: now (and only now) write into the caller's model.
  for (const [name, k] of newKernels) setKernel(kernelOf(model.getLayer(name)), k);
  tf.dispose([...newKernels.values()]);
  working.dispose();
  return { model, report, payload: quantized };
}
