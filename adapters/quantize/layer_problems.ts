/**
 * The one place where tfjs-layers kernels are converted to the quantizers' layout W [rows, cols]
 * (rows = output units) and back, and where each layer class is turned into its layer problems.
 *
 *   Dense   kernel [in, out]              -> W = kernel^T                          [out, in]
 *   Conv2D  kernel [kh, kw, cin, cout]     -> W = reshape(kernel, [kh*kw*cin, cout])^T  [cout, kh*kw*cin]
 *   Conv1D  kernel [k, cin, cout]          -> W = reshape(kernel, [k*cin, cout])^T      [cout, k*cin]
 *   DepthwiseConv2D kernel [kh, kw, cin, m] -> W = reshape(kernel, [kh*kw, cin*m])^T     [cin*m, kh*kw]
 *                                              (layout 'depthwise': cin problems of m rows each)
 *   SeparableConv2D: depthwise_kernel as DepthwiseConv2D, then pointwise_kernel [1, 1, cin*m, cout]
 *                    as a Conv2D (a 1x1 convolution) against the depthwise part's outputs
 *   LSTM / GRU / SimpleRNN kernel [in, g*u] and recurrent_kernel [u, g*u], each out_in, against the
 *                    step inputs and the hidden states (adapters/quantize/rnn_problem.ts)
 *   Embedding kernel [vocab, dim]          -> W = kernel (layout 'table': one row and grid per token)
 *                                             against S = I (adapters/quantize/embedding_problem.ts)
 *
 * The out_in rule: flatten every axis but the last (row-major, so column index
 * c = ((i * kw + j) * cin + ch) for Conv2D), then transpose. The calibration inputs X [n, in] are
 * flattened in the same order (adapters/quantize/capture.ts), so X W^T is the layer's output.
 *
 * A layer is a list of kernel parts (KernelPart), quantized in order; a part's W is split in
 * `blocks` equal row blocks, block b quantized against its own S_b (one block for Dense/Conv).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { problemShape, type KernelLayout } from '../io/layout.ts';
import { addLayerInput, type CovarianceLike } from './capture.ts';
import { depthwiseParts } from './depthwise_problem.ts';
import { embeddingPart } from './embedding_problem.ts';
import { recurrentParts } from './rnn_problem.ts';

export { problemShape, problemDataToKernelData } from '../io/layout.ts';

/** Layer classes whose kernels are quantized. */
export type QuantizableKind = 'Dense' | 'Conv2D' | 'Conv1D' | 'DepthwiseConv2D' | 'SeparableConv2D' | 'Embedding' | 'LSTM' | 'GRU' | 'SimpleRNN';

export const QUANTIZABLE_CLASSES: readonly QuantizableKind[] = ['Dense', 'Conv2D', 'Conv1D', 'DepthwiseConv2D', 'SeparableConv2D', 'Embedding', 'LSTM', 'GRU', 'SimpleRNN'];

/** Makes the S accumulator of one problem of width `width` (quantize_model.ts binds the real one). */
export type AccumulatorFactory = (width: number) => CovarianceLike;

/** The calibration statistics of one kernel part: S_b for each of its row blocks. */
export interface PartAccumulator {
  /** Adds one batch of the layer's input activations (not disposed), through the layer's current weights. */
  add(x: tf.Tensor): void;
  /** S_b [width, width] of row block b; a new tensor owned by the caller. */
  sigma(block: number): tf.Tensor2D;
  /** Calibration rows seen (per block). */
  readonly count: number;
  /** Weights of W's rows in the reported error, when they are not in S (Embedding's token counts). */
  rowWeights?(): Float64Array;
  dispose(): void;
}

/** One quantized kernel of a layer. */
export interface KernelPart {
  variable: tfl.LayerVariable;
  layout: KernelLayout;
  /** W [rows, cols] is `blocks` row blocks of rows / blocks rows, each its own problem. */
  blocks: number;
  /** cols of W: the width of every S_b. */
  width: number;
  accumulator(make: AccumulatorFactory): PartAccumulator;
}

/** Why a layer class is left in float32 (shown in the report). */
export function skipReason(layer: tfl.layers.Layer): string {
  const cls = layer.getClassName();
  if (layer.weights.length === 0) return 'no weights';
  switch (cls) {
    case 'BatchNormalization':
    case 'LayerNormalization':
      return 'normalization parameters are per-channel vectors; left float32';
    default:
      if (cls === 'Sequential' || cls === 'Model' || cls === 'Functional') return 'nested model is not traversed; left float32';
      return `layer class ${cls} is not quantized; left float32`;
  }
}

export function isQuantizable(layer: tfl.layers.Layer): boolean {
  return (QUANTIZABLE_CLASSES as readonly string[]).includes(layer.getClassName()) && layer.weights.length > 0;
}

/** The weight of `layer` whose name ends in `/name` (tfjs names them e.g. "dense_1/kernel"). */
export function weightNamed(layer: tfl.layers.Layer, name: string): tfl.LayerVariable {
  const w = layer.weights.find((v) => v.originalName === name || v.originalName.endsWith('/' + name));
  if (!w) throw new Error(`Layer ${layer.name} has no weight named ${name}.`);
  return w;
}

/** One S over the layer's input rows (capture.ts activationRows): Dense, Conv1D, Conv2D. */
function singleProblem(layer: tfl.layers.Layer, variable: tfl.LayerVariable): KernelPart {
  const width = problemShape(variable.shape as number[])[1];
  return {
    variable, layout: 'out_in', blocks: 1, width,
    accumulator(make) {
      const acc = make(width);
      return {
        add: (x) => addLayerInput(layer, x, acc),
        sigma: () => acc.sigma(),
        get count() {
          return acc.count;
        },
        dispose: () => acc.dispose(),
      };
    },
  };
}

/** The kernel parts of a quantizable layer, in the order they are quantized. */
export function kernelParts(layer: tfl.layers.Layer): KernelPart[] {
  switch (layer.getClassName()) {
    case 'DepthwiseConv2D':
    case 'SeparableConv2D':
      return depthwiseParts(layer);
    case 'Embedding':
      return [embeddingPart(layer)];
    case 'LSTM':
    case 'GRU':
    case 'SimpleRNN':
      return recurrentParts(layer);
    default:
      return [singleProblem(layer, layer.weights.find((w) => /(^|\/)kernel$/.test(w.originalName)) ?? layer.weights[0])];
  }
}

/** tfjs kernel -> W [rows, cols] in `layout`. Caller owns the result. */
export function kernelToProblem(kernel: tf.Tensor, layout: KernelLayout = 'out_in'): tf.Tensor2D {
  const [out, inDim] = problemShape(kernel.shape, layout);
  if (layout === 'table') return tf.reshape(kernel, [out, inDim]) as tf.Tensor2D; // W is the kernel (a new handle)
  return tf.tidy(() => {
    const flat = tf.reshape(kernel, [inDim, out]); // [cols, rows]
    return tf.transpose(flat) as tf.Tensor2D; // [rows, cols]
  });
}

/** W [rows, cols] -> tfjs kernel of `kernelShape` in `layout`. Caller owns the result. */
export function problemToKernel(weight: tf.Tensor2D, kernelShape: readonly number[], layout: KernelLayout = 'out_in'): tf.Tensor {
  const [out, inDim] = problemShape(kernelShape, layout);
  if (weight.shape[0] !== out || weight.shape[1] !== inDim) {
    throw new Error(`W has shape [${weight.shape}] but kernel [${kernelShape}] needs [${out}, ${inDim}].`);
  }
  if (layout === 'table') return tf.reshape(weight, kernelShape as number[]);
  return tf.tidy(() => {
    const flat = tf.transpose(weight); // [cols, rows]
    return tf.reshape(flat, kernelShape as number[]);
  });
}
