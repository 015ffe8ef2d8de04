/**
 * The model-level hook's procedure, with the layer quantizer passed in (quantize_model.ts binds
 * the real one). For each quantizable layer in topological order (model.layers):
 *
 *   1. stream the calibration set through the working copy up to the layer: S = X^T X
 *   2. W = kernel as [out, in]; quantize (and RTN for the report)
 *   3. write dequant(codes, grid, outliers) back as the kernel of the working copy, so the next
 *      layers see the quantized outputs (sequential quantization)
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
import { affineByteLength, type QuantizedPayload, type QuantizedWeight } from '../io/format.ts';
import { problemDataToKernelData, problemShape } from '../io/layout.ts';
import { calibrationSource, type Calibration } from './calibration.ts';
import { captureCovariance, type CovarianceLike } from './capture.ts';
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

/** What quantizeModel returns: the quantized model, the report (JSON) and the codes to pack. */
export interface QuantizeModelResult {
  model: tfl.LayersModel;
  report: QuantizationReport;
  /** Codes, grid and outliers of every quantized kernel, by weight name: what the encoder packs. */
  payload: QuantizedPayload;
}

export async function runQuantizeModel(
  model: tfl.LayersModel,
  calibration: Calibration,
  options: QuantizeModelOptions | undefined,
  quantizeLayer: LayerQuantizer,
  makeAccumulator: AccumulatorFactory,
): Promise<QuantizeModelResult> {
  const opts = resolveModelOptions(options);
  if (!isLayersModel(model)) {
    throw new InputError(`\`model\` must be a tfjs-layers LayersModel (Sequential or functional). Received: ${describeValue(model)}.`);
  }
  // Validates tensors against model.inputs now; datasets are checked element by element.
  calibrationSource(calibration, model, opts.batchSize);
  const bar = opts.progress ? progressBar() : () => {};
  const emit = (e: ProgressEvent) => {
    opts.onProgress?.(e);
    bar(e);
  };
  const started = performance.now();
  const working = await cloneModel(model);
  const newKernels = new Map<string, tf.Tensor>(); // layer name -> kernel [..., out]
  const layers: LayerReport[] = [];
  const quantized = new Map<string, QuantizedWeight>();
  try {
    const source = calibrationSource(calibration, working, opts.batchSize);
    const withWeights = working.layers.filter((l) => l.weights.length > 0);
    const selected = (l: tfl.layers.Layer) =>
      (opts.include === null || opts.include.some((r) => r.test(l.name))) && !opts.exclude.some((r) => r.test(l.name));
    const todo = withWeights.filter((l) => isQuantizable(l) && selected(l));
    // Before any work: refuse, with the fix, a layer whose S [in, in] cannot fit in the backend's
    // memory (wasm fails silently past its 4 GiB heap).
    for (const layer of todo) {
      const [, inDim] = problemShape(kernelOf(layer).shape as number[]);
      checkLayerMemory(layer.name, inDim, tf.memory().numBytes, backendMemoryLimit(tf.getBackend()), tf.getBackend());
    }
    let done = 0;
    for (const layer of withWeights) {
      const bytes = weightBytes(layer);
      const base = { name: layer.name, className: layer.getClassName(), float32Bytes: bytes };
      if (!todo.includes(layer)) {
        const reason = isQuantizable(layer) ? 'excluded by include/exclude' : skipReason(layer);
        layers.push({ ...base, status: 'skipped', reason, milliseconds: 0, packedBytes: bytes });
        continue;
      }
      const t0 = performance.now();
      const kernel = kernelOf(layer);
      const shape = kernel.shape as number[];
      const [out, inDim] = problemShape(shape);
      emit({ done, total: todo.length, layer: layer.name, stage: 'capture' });
      const acc = makeAccumulator(inDim);
      let weight: tf.Tensor2D | undefined;
      let sigma: tf.Tensor2D | undefined;
      let result: QuantizedLayer | undefined;
      try {
        await captureCovariance(working, layer, source, acc);
        const rows = acc.count;
        sigma = acc.sigma(); // [in, in]
        acc.dispose(); // the running sum is no longer needed: one [in, in] copy at a time
        weight = kernelToProblem(kernel.read()); // [out, in]
        emit({ done, total: todo.length, layer: layer.name, stage: 'quantize' });
        result = await quantizeLayer({ weight, sigma }, opts.layer);
        let rtnError = result.stats.method === 'rtn' ? result.stats.relativeError : undefined;
        if (opts.compareRtn && rtnError === undefined) {
          const rtn = await quantizeLayer({ weight, sigma }, { method: 'rtn', bits: opts.layer.bits, groupSize: opts.layer.groupSize, symmetric: opts.layer.symmetric });
          rtn.weight.dispose();
          rtnError = rtn.stats.relativeError;
        }
        const q: QuantizedWeight = { shape, codes: result.codes, grid: result.grid, outliers: result.outliers };
        const deq = dequantize(q); // [out, in]
        const newKernel = tf.tensor(problemDataToKernelData(deq, shape), shape, 'float32'); // [..., out]
        newKernels.set(layer.name, newKernel);
        setKernel(kernel, newKernel); // later layers now see this layer quantized
        quantized.set(kernel.originalName, q);
        const k = result.outliers?.indices.length ?? 0;
        layers.push({
          ...base,
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
          packedBytes: bytes - out * inDim * 4 + affineByteLength(out, inDim, result.grid.bits, result.grid.groups, k),
        });
      } finally {
        acc.dispose();
        weight?.dispose();
        sigma?.dispose();
        result?.weight.dispose();
      }
      done++;
      emit({ done, total: todo.length, layer: layer.name, stage: done === todo.length ? 'done' : 'quantized' });
    }
  } catch (err) {
    tf.dispose([...newKernels.values()]);
    working.dispose();
    throw err;
  }
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
