/**
 * quantizeModel: post-training quantization of a tfjs-layers model (Sequential or functional) in
 * one call. The kernels of Dense, Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, LSTM, GRU,
 * SimpleRNN and Embedding layers (layer_problems.ts) are quantized layer by layer, each against the
 * second moment S = X^T X of its own inputs computed through the layers already quantized before
 * it (sequential quantization); biases stay float32. Other layers with weights (BatchNormalization,
 * LayerNormalization, ...) are left float32, with the reason in the report.
 *
 * Per layer, with W [out, in] and the chosen method (plugins/quantease/quantize_layer.ts):
 *   What = argmin tr((W - What) S (W - What)^T), every row of What on its grid (+ outliers)
 *
 * @example
 * const quantized = await quantizeModel(model, xCalib, { method: 'quantease', bits: 4 });
 * console.log(formatReport(quantized.report));
 * await saveQuantized(quantized, 'out/');   // quantized = {model, report, payload}
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { CovarianceAccumulator } from '../../plugins/quantease/covariance.ts';
import { quantizeLayer } from '../../plugins/quantease/quantize_layer.ts';
import type { Calibration } from './calibration.ts';
import type { QuantizeModelOptions } from './options.ts';
import { runQuantizeModel, type QuantizeModelResult } from './run_quantize.ts';

export type { Calibration, DatasetLike } from './calibration.ts';
export type { QuantizeModelOptions, LayerPattern, LayerOverride } from './options.ts';
export type { QuantizationReport, LayerReport } from './report.ts';
export type { QuantizeModelResult } from './run_quantize.ts';

/**
 * Quantizes `model` with calibration inputs `calibration` (a tensor, one tensor per model input,
 * or a dataset of such batches / {xs}).
 *
 * Options (defaults): the layer options of QuantizeLayerOptions (method 'quantease', bits 4,
 * whole-row grid, asymmetric, no outliers, ...), `include`/`exclude` layer-name patterns (all /
 * none), `inPlace` (false: the input model is never modified and a new model is returned),
 * `batchSize` (128 rows per forward pass), `onProgress`, `progress` (false; true draws a bar on a
 * terminal), `compareRtn` (true), `sequential` (true: each layer calibrated through the quantized
 * layers before it; false: all on the float model in one pass), `activationMemoryBytes` (2 GiB of
 * kept activations before recomputing from a checkpoint), `maxBatches` (all; needed for an endless
 * dataset), `workers` (the number of cores in Node; 1 in browsers). The calibration set runs
 * through every layer once per batch (adapters/quantize/propagate.ts).
 *
 * Throws OptionError on bad options and InputError on an empty calibration set, a calibration
 * shape that does not match the model inputs, or NaN/Inf activations; then nothing is modified
 * and nothing leaks.
 */
export function quantizeModel(
  model: tfl.LayersModel,
  calibration: Calibration,
  options: QuantizeModelOptions = {},
): Promise<QuantizeModelResult> {
  return runQuantizeModel(model, calibration, options, quantizeLayer, (width) => new CovarianceAccumulator(width));
}
