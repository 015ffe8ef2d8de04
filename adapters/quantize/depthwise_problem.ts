/**
 * Layer problems of DepthwiseConv2D and SeparableConv2D.
 *
 * A depthwise convolution with kernel K [kh, kw, cin, m] filters every input channel c on its own:
 *
 *   y[p, c*m + j] = sum over taps t = i*kw + u of  X_c[p, t] * K[i, u, c, j]
 *
 * with X_c [n, kh*kw] the patches of channel c alone (capture.ts conv2dPatches, columns split by
 * channel). So channel c is one small layer problem
 *
 *   min tr((W_c - What_c) S_c (W_c - What_c)^T),   W_c = K[:, :, c, :] as [m, kh*kw],  S_c = X_c^T X_c
 *
 * and W (layout 'depthwise', [cin*m, kh*kw]) is the cin blocks W_c stacked: each row keeps its own
 * grid, each block its own S_c. The cin matrices S_c [kh*kw, kh*kw] are accumulated together as one
 * batched product [cin, T, T] per calibration batch.
 *
 * SeparableConv2D = depthwise (as above) then pointwise kernel P [1, 1, cin*m, cout], a 1x1
 * convolution: W = P as [cout, cin*m] against the second moment of the depthwise part's outputs,
 * computed with the layer's current (already quantized) depthwise kernel, as tf.separableConv2d does.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import { addLayerInput, conv2dPatches, patchSpec, type PatchSpec } from './capture.ts';
import type { KernelPart, PartAccumulator } from './layer_problems.ts';

function depthwiseKernelOf(layer: tfl.layers.Layer): tfl.LayerVariable {
  const w = layer.weights.find((v) => /(^|\/)depthwise_kernel$/.test(v.originalName));
  if (!w) throw new Error(`Layer ${layer.name} has no depthwise_kernel.`);
  return w;
}

/**
 * Per-channel patches of a depthwise layer's input: x [b, h, w, cin] (or channelsFirst) ->
 * X [cin, b*oh*ow, kh*kw], X[c] the patches of channel c with column i*kw + j.
 */
export function depthwisePatches(x: tf.Tensor4D, spec: PatchSpec): tf.Tensor3D {
  return tf.tidy(() => {
    const p = conv2dPatches(x, spec); // [n, kh*kw*cin], column t*cin + c
    const taps = spec.kernelSize[0] * spec.kernelSize[1];
    const cin = p.shape[1] / taps;
    return tf.transpose(tf.reshape(p, [-1, taps, cin]), [2, 0, 1]) as tf.Tensor3D; // [cin, n, taps]
  });
}

/** S_c = X_c^T X_c for every channel, summed over batches: [cin, T, T]. */
class ChannelCovariance implements PartAccumulator {
  private total: tf.Tensor3D | null = null;
  private rows = 0;
  constructor(private readonly layer: tfl.layers.Layer, private readonly spec: PatchSpec, private readonly taps: number) {}

  get count(): number {
    return this.rows;
  }

  add(x: tf.Tensor): void {
    const xs = depthwisePatches(x as tf.Tensor4D, this.spec); // [cin, n, T]
    try {
      // One read-back per batch: a sum of squares is finite exactly when every patch value is.
      const sq = tf.tidy(() => tf.sum(tf.square(xs)));
      const s = sq.dataSync()[0];
      sq.dispose();
      if (!Number.isFinite(s)) {
        throw new InputError(
          `The inputs of layer ${this.layer.name} contain NaN or infinite values on the calibration set ` +
            '(check the calibration data and the layers before it).',
        );
      }
      const next = tf.tidy(() => {
        const gram = tf.matMul(tf.transpose(xs, [0, 2, 1]), xs) as tf.Tensor3D; // [cin, T, n] x [cin, n, T] = [cin, T, T]
        return this.total ? tf.add(this.total, gram) : gram;
      }) as tf.Tensor3D;
      this.total?.dispose();
      this.total = next;
      this.rows += xs.shape[1];
    } finally {
      xs.dispose();
    }
  }

  sigma(c: number): tf.Tensor2D {
    if (!this.total || this.rows === 0) throw new InputError(`Empty calibration set for layer ${this.layer.name}.`);
    const t = this.taps;
    return tf.tidy(() => tf.reshape(tf.slice(this.total!, [c, 0, 0], [1, t, t]), [t, t]) as tf.Tensor2D); // [T, T]
  }

  dispose(): void {
    this.total?.dispose();
    this.total = null;
  }
}

function depthwisePart(layer: tfl.layers.Layer): KernelPart {
  const variable = depthwiseKernelOf(layer);
  const [kh, kw, cin] = variable.shape as number[];
  const spec = patchSpec(layer);
  // tfjs-layers 4.22's DepthwiseConv2D ignores dilationRate (it calls depthwiseConv2d with null);
  // SeparableConv2D applies it. The patches follow what the layer computes.
  if (layer.getClassName() === 'DepthwiseConv2D') spec.dilations = spec.dilations.map(() => 1);
  return {
    variable, layout: 'depthwise', blocks: cin, width: kh * kw,
    accumulator: () => new ChannelCovariance(layer, spec, kh * kw),
  };
}

/** The depthwise part's output [b, oh, ow, cin*m] (NHWC), as tf.separableConv2d computes it. */
export function depthwiseOutput(layer: tfl.layers.Layer, x: tf.Tensor4D): tf.Tensor4D {
  const spec = patchSpec(layer);
  return tf.tidy(() => {
    const nhwc = (spec.channelsFirst ? tf.transpose(x, [0, 2, 3, 1]) : x) as tf.Tensor4D;
    const k = depthwiseKernelOf(layer).read() as tf.Tensor4D;
    return tf.depthwiseConv2d(nhwc, k, spec.strides as [number, number], spec.padding, 'NHWC', spec.dilations as [number, number]);
  });
}

function pointwisePart(layer: tfl.layers.Layer): KernelPart {
  const variable = layer.weights.find((v) => /(^|\/)pointwise_kernel$/.test(v.originalName));
  if (!variable) throw new Error(`Layer ${layer.name} has no pointwise_kernel.`);
  const width = (variable.shape as number[])[2];
  // addLayerInput flattens a non-convolution's input to rows [n, last axis]: what a 1x1 conv reads.
  const rowsOf = { name: layer.name, getClassName: () => 'Pointwise' } as unknown as tfl.layers.Layer;
  return {
    variable, layout: 'out_in', blocks: 1, width,
    accumulator(make) {
      const acc = make(width);
      return {
        add(x) {
          const d = depthwiseOutput(layer, x as tf.Tensor4D); // [b, oh, ow, cin*m]
          try {
            addLayerInput(rowsOf, d, acc);
          } finally {
            d.dispose();
          }
        },
        sigma: () => acc.sigma(),
        get count() {
          return acc.count;
        },
        dispose: () => acc.dispose(),
      };
    },
  };
}

/** DepthwiseConv2D: [depthwise]; SeparableConv2D: [depthwise, pointwise]. */
export function depthwiseParts(layer: tfl.layers.Layer): KernelPart[] {
  const parts = [depthwisePart(layer)];
  if (layer.getClassName() === 'SeparableConv2D') parts.push(pointwisePart(layer));
  return parts;
}
