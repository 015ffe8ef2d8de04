/**
 * Capture of a layer's calibration inputs X [n, in] and their second moment S = X^T X, streamed
 * batch by batch into a covariance accumulator (memory O(in^2) per layer; activations of one batch
 * at a time, never all of them).
 *
 * Rows of X, in the kernel's flattening order (adapters/quantize/layer_problems.ts):
 *   Dense   input [..., in]          -> X = reshape(input, [-1, in])
 *   Conv2D  input [b, h, w, cin]     -> one row per output pixel: the receptive-field patch,
 *           X [b*oh*ow, kh*kw*cin], column (i*kw + j)*cin + ch, with the layer's own strides,
 *           dilation and 'same'/'valid' padding: a conv2d with the identity kernel
 *           E[i,j,ch,p] = 1 iff p = (i*kw+j)*cin+ch, or strided slices for wide patches;
 *           so X W^T equals the conv output.
 *   Conv1D  input [b, t, cin]        -> X [b*ot, k*cin], column i*cin + ch, likewise.
 *
 * Where the inputs come from: quantizeModel propagates the calibration set through the graph once
 * (propagate.ts) and hands each layer its input batches here (addLayerInput). captureCovariance,
 * a sub-model from model.inputs to the layer per call, is kept as the reference implementation.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import type { CalibrationSource } from './calibration.ts';

/** What capture needs from plugins/quantease/covariance.ts's CovarianceAccumulator. */
export interface CovarianceLike {
  add(x: tf.Tensor2D): void;
  sigma(): tf.Tensor2D;
  readonly count: number;
  dispose(): void;
}

export interface PatchSpec {
  kernelSize: number[];
  strides: number[];
  dilations: number[];
  padding: 'valid' | 'same';
  channelsFirst: boolean;
  /** How to extract patches; default: by patch width (see IDENTITY_CONV_MAX_WIDTH). */
  method?: 'conv' | 'slices';
}

/**
 * Patches of width P = kh*kw*cin up to this are extracted with one conv against the identity
 * kernel (a single backend-optimized op, cost O(P^2) per output pixel); wider ones by strided
 * slices (O(P) per pixel, but kh*kw separate ops). Measured (2 shared cores, wasm / cpu):
 * P = 72 and 288 the conv is as fast or faster in 7 of 8 cases (up to 15x with stride 2), at
 * P = 1152 stride 1 the slices win 18x on wasm and 3.5x on cpu.
 */
export const IDENTITY_CONV_MAX_WIDTH = 512;

/** Identity kernel [...kernelSize, cin, P], P = prod(kernelSize) * cin: E[..., ch, p] = 1 iff p = flat index. */
function identityKernel(kernelSize: number[], cin: number): tf.Tensor {
  const p = kernelSize.reduce((a, b) => a * b, 1) * cin;
  return tf.reshape(tf.eye(p), [...kernelSize, cin, p]); // [kh, kw, cin, P] rows of eye in row-major tap order
}

/** im2col as a conv with the identity kernel: [b, h, w, cin] -> [b, oh, ow, P]. */
function convPatches(x: tf.Tensor4D, kernel: number[], strides: number[], dilations: number[], padding: 'valid' | 'same'): tf.Tensor4D {
  const eye = identityKernel(kernel, x.shape[3]) as tf.Tensor4D; // [kh, kw, cin, P]
  return tf.conv2d(x, eye, strides as [number, number], padding, 'NHWC', dilations as [number, number]);
}

function patches4d(x: tf.Tensor4D, kernel: number[], strides: number[], dilations: number[], padding: 'valid' | 'same', method?: 'conv' | 'slices'): tf.Tensor4D {
  const width = kernel[0] * kernel[1] * x.shape[3];
  const useConv = method === undefined ? width <= IDENTITY_CONV_MAX_WIDTH : method === 'conv';
  return useConv ? convPatches(x, kernel, strides, dilations, padding) : slicePatches(x, kernel, strides, dilations, padding);
}

function asList(v: unknown, n: number): number[] {
  if (Array.isArray(v)) return v.length === n ? (v as number[]) : Array(n).fill(v[0]);
  return Array(n).fill(v ?? 1);
}

/** Conv geometry of a Conv1D/Conv2D layer, from its config. */
export function patchSpec(layer: tfl.layers.Layer): PatchSpec {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const dims = layer.getClassName() === 'Conv1D' ? 1 : 2;
  const padding = cfg.padding as string;
  if (padding !== 'valid' && padding !== 'same') {
    throw new InputError(`Layer ${layer.name}: padding '${padding}' is not supported for quantization capture.`);
  }
  return {
    kernelSize: asList(cfg.kernelSize, dims),
    strides: asList(cfg.strides, dims),
    dilations: asList(cfg.dilationRate, dims),
    padding,
    channelsFirst: cfg.dataFormat === 'channelsFirst',
  };
}

/** Output size and leading pad of one spatial axis, as tf.conv2d computes them. */
function axisGeometry(n: number, k: number, stride: number, dilation: number, padding: 'valid' | 'same'): { out: number; before: number; after: number } {
  const span = (k - 1) * dilation + 1; // effective kernel extent
  if (padding === 'valid') return { out: Math.floor((n - span) / stride) + 1, before: 0, after: 0 };
  const out = Math.ceil(n / stride);
  const total = Math.max((out - 1) * stride + span - n, 0);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

/**
 * im2col by strided slices: pad as the conv would, then for every kernel tap (i, j) take the input
 * pixels it touches, [b, oh, ow, cin], and concatenate the taps in (i, j) order along the channel
 * axis, so column (i*kw + j)*cin + ch. O(kh*kw*cin) work per output pixel (a conv with an identity
 * kernel would cost O((kh*kw*cin)^2)).
 */
function slicePatches(x: tf.Tensor4D, kernel: number[], strides: number[], dilations: number[], padding: 'valid' | 'same'): tf.Tensor4D {
  const [, h, w, cin] = x.shape;
  const gy = axisGeometry(h, kernel[0], strides[0], dilations[0], padding);
  const gx = axisGeometry(w, kernel[1], strides[1], dilations[1], padding);
  if (gy.out <= 0 || gx.out <= 0) throw new InputError(`Convolution input ${h}x${w} is smaller than the kernel's extent.`);
  const padded = tf.pad(x, [[0, 0], [gy.before, gy.after], [gx.before, gx.after], [0, 0]]); // [b, h', w', cin]
  const taps: tf.Tensor4D[] = [];
  for (let i = 0; i < kernel[0]; i++) {
    for (let j = 0; j < kernel[1]; j++) {
      const y0 = i * dilations[0];
      const x0 = j * dilations[1];
      taps.push(tf.stridedSlice(
        padded,
        [0, y0, x0, 0],
        [x.shape[0], y0 + (gy.out - 1) * strides[0] + 1, x0 + (gx.out - 1) * strides[1] + 1, cin],
        [1, strides[0], strides[1], 1],
      ) as tf.Tensor4D); // [b, oh, ow, cin]
    }
  }
  return taps.length === 1 ? taps[0] : tf.concat(taps, 3); // [b, oh, ow, kh*kw*cin]
}

/** Conv2D patches: x [b, h, w, cin] (or [b, cin, h, w] when channelsFirst) -> [b*oh*ow, kh*kw*cin]. */
export function conv2dPatches(x: tf.Tensor4D, spec: PatchSpec): tf.Tensor2D {
  return tf.tidy(() => {
    const nhwc = (spec.channelsFirst ? tf.transpose(x, [0, 2, 3, 1]) : x) as tf.Tensor4D; // [b, h, w, cin]
    const p = patches4d(nhwc, spec.kernelSize, spec.strides, spec.dilations, spec.padding, spec.method); // [b, oh, ow, P]
    return tf.reshape(p, [-1, p.shape[3]]) as tf.Tensor2D; // [b*oh*ow, kh*kw*cin]
  });
}

/** Conv1D patches: x [b, t, cin] (or [b, cin, t]) -> [b*ot, k*cin]; a Conv2D on a 1-pixel-high image. */
export function conv1dPatches(x: tf.Tensor3D, spec: PatchSpec): tf.Tensor2D {
  return tf.tidy(() => {
    const nwc = spec.channelsFirst ? tf.transpose(x, [0, 2, 1]) : x; // [b, t, cin]
    const img = tf.expandDims(nwc, 1) as tf.Tensor4D; // [b, 1, t, cin]
    const p = patches4d(img, [1, spec.kernelSize[0]], [1, spec.strides[0]], [1, spec.dilations[0]], spec.padding, spec.method); // [b, 1, ot, P]
    return tf.reshape(p, [-1, p.shape[3]]) as tf.Tensor2D; // [b*ot, k*cin]
  });
}

/** A layer's input activations -> rows X [rows, in] in the kernel's flattening order. */
export function activationRows(layer: tfl.layers.Layer, x: tf.Tensor): tf.Tensor2D {
  const cls = layer.getClassName();
  if (cls === 'Conv2D') return conv2dPatches(x as tf.Tensor4D, patchSpec(layer));
  if (cls === 'Conv1D') return conv1dPatches(x as tf.Tensor3D, patchSpec(layer));
  return tf.reshape(x, [-1, x.shape[x.shape.length - 1]]) as tf.Tensor2D; // [n * ..., in]
}

/** The symbolic input of a layer with exactly one inbound node (shared layers are refused). */
export function layerInput(layer: tfl.layers.Layer): tfl.SymbolicTensor {
  let input: tfl.SymbolicTensor | tfl.SymbolicTensor[];
  try {
    input = layer.input;
  } catch {
    throw new InputError(`Layer ${layer.name} is shared (called more than once); it cannot be given one calibration set.`);
  }
  if (Array.isArray(input)) {
    if (input.length !== 1) throw new InputError(`Layer ${layer.name} has ${input.length} inputs; only single-input layers are quantized.`);
    return input[0];
  }
  return input;
}

/**
 * A function batch -> the layer's input activations, through the working model's current weights.
 * Returns the model inputs themselves when the layer reads one of them directly.
 */
export function layerInputFunction(model: tfl.LayersModel, layer: tfl.layers.Layer): (batch: tf.Tensor[]) => tf.Tensor {
  const target = layerInput(layer);
  const direct = model.inputs.indexOf(target);
  if (direct >= 0) return (batch) => batch[direct].clone();
  // The sub-model shares the working model's layers (and so their current weights); it owns no
  // weights of its own, so it is never disposed (disposing it would dispose the shared layers).
  const sub = tfl.model({ inputs: model.inputs, outputs: target });
  return (batch) => sub.predict(batch.length === 1 ? batch[0] : batch) as tf.Tensor;
}

/**
 * Adds one batch of a layer's input activations x to the accumulator: rows X (activationRows),
 * S += X^T X. The accumulator checks the rows are finite (one read-back per batch); its error is
 * re-raised naming the layer. x is not disposed.
 */
export function addLayerInput(layer: tfl.layers.Layer, x: tf.Tensor, accumulator: CovarianceLike): void {
  const rows = tf.tidy(() => activationRows(layer, x));
  try {
    accumulator.add(rows);
  } catch (err) {
    if (err instanceof InputError && /NaN|Inf/.test(err.message)) {
      throw new InputError(
        `The inputs of layer ${layer.name} contain NaN or infinite values on the calibration set ` +
          `(check the calibration data and the layers before it). ${err.message}`,
      );
    }
    throw err;
  } finally {
    rows.dispose();
  }
}

/**
 * The per-layer sub-model capture (quadratic in depth when used for every layer: layer k costs k
 * forwards per batch). quantizeModel propagates once instead (propagate.ts); this stays as the
 * independent reference its tests and `bench:quantize-model` compare against.
 * Streams the calibration set through the working model up to `layer` and accumulates S = X^T X.
 * Throws InputError when an activation is NaN or infinite. The caller owns the returned accumulator.
 */
export async function captureCovariance(
  model: tfl.LayersModel,
  layer: tfl.layers.Layer,
  source: CalibrationSource,
  accumulator: CovarianceLike,
): Promise<CovarianceLike> {
  const forward = layerInputFunction(model, layer);
  await source.forEachBatch((batch) => {
    const x = forward(batch);
    try {
      addLayerInput(layer, x, accumulator);
    } finally {
      x.dispose();
    }
  });
  return accumulator;
}
