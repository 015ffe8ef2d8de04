/**
 * Layer problems of the recurrent layers LSTM, GRU and SimpleRNN.
 *
 * Each time step t computes its gate pre-activations from the step's input x_t and the previous
 * hidden state h_{t-1}:
 *
 *   z_t = x_t K + h_{t-1} U + b,   K [in, g*u],  U [u, g*u]   (g = 4 LSTM, 3 GRU, 1 SimpleRNN)
 *
 * so the layer has two problems, quantized in this order:
 *   - the input kernel, W = K^T [g*u, in] against S = sum over examples and steps of x_t^T x_t
 *     (the layer's input rows, reshape(input, [-1, in]));
 *   - the recurrent kernel, W = U^T [g*u, u] against S = sum of h_{t-1}^T h_{t-1} over every step,
 *     the hidden states computed with the already quantized K (h_0 = 0 adds nothing).
 * The gate blocks (rows) of a kernel share its S; every row keeps its own grid. For GRU the
 * candidate gate reads r_t * h_{t-1} rather than h_{t-1} (reset before the product); its rows use
 * the S of h_{t-1} like the other gates, an approximation.
 *
 * The hidden states are captured without touching the user's layer: a copy of the layer with
 * `returnSequences: true` (same config, the layer's current weights) runs on the batch, and its
 * outputs h_1..h_T shifted by one step are the states the recurrent kernel reads.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../plugins/core/errors.ts';
import { addLayerInput } from './capture.ts';
import type { AccumulatorFactory, KernelPart, PartAccumulator } from './layer_problems.ts';

function weightOf(layer: tfl.layers.Layer, name: string): tfl.LayerVariable {
  const w = layer.weights.find((v) => new RegExp(`(^|/)${name}$`).test(v.originalName));
  if (!w) throw new Error(`Layer ${layer.name} has no ${name}.`);
  return w;
}

/** Rows [n, last axis] (the default of capture.ts activationRows). */
const flatRows = (name: string) => ({ name, getClassName: () => 'RecurrentRows' }) as unknown as tfl.layers.Layer;

/** A returnSequences copy of `layer` with its current weights; the caller disposes it. */
function sequenceCopy(layer: tfl.layers.Layer, x: tf.Tensor): tfl.layers.Layer {
  const cfg = { ...(layer.getConfig() as Record<string, unknown>) };
  if (cfg.stateful) throw new InputError(`Layer ${layer.name} is stateful; stateful recurrent layers are not quantized (set stateful: false or exclude it).`);
  delete cfg.name;
  // Zeros: the weights are set right below, and Orthogonal (the recurrent default) needs the full
  // tfjs bundle (rMat.flatten) and O(u^3) work for nothing.
  for (const key of ['kernelInitializer', 'recurrentInitializer', 'biasInitializer']) if (key in cfg) cfg[key] = 'zeros';
  const Cls = layer.constructor as new (c: object) => tfl.layers.Layer;
  const copy = new Cls({ ...cfg, returnSequences: true, returnState: false });
  copy.build(x.shape);
  copy.built = true; // as Layer.apply marks it after build (RNN.build does not)
  copy.setWeights(layer.getWeights());
  return copy;
}

/**
 * The hidden states the recurrent kernel reads on input x [b, T, in]: h_1..h_{T-1} in processing
 * order as rows [b*(T-1), u] (h_0 = 0 contributes nothing to S).
 */
export function recurrentInputs(layer: tfl.layers.Layer, x: tf.Tensor3D): tf.Tensor2D {
  const copy = sequenceCopy(layer, x);
  try {
    return tf.tidy(() => {
      let seq = copy.apply(x, { training: false }) as tf.Tensor3D; // [b, T, u]
      if ((layer.getConfig() as { goBackwards?: boolean }).goBackwards) seq = tf.reverse(seq, 1) as tf.Tensor3D; // to processing order
      const [b, T, u] = seq.shape;
      if (T < 2) return tf.zeros([0, u]) as tf.Tensor2D;
      return tf.reshape(tf.slice(seq, [0, 0, 0], [b, T - 1, u]), [-1, u]) as tf.Tensor2D; // [b*(T-1), u]
    });
  } finally {
    for (const w of copy.weights) w.dispose(); // Layer.dispose refuses a layer never called symbolically
  }
}

function part(variable: tfl.LayerVariable, width: number, add: (x: tf.Tensor, acc: ReturnType<AccumulatorFactory>) => void): KernelPart {
  return {
    variable, layout: 'out_in', blocks: 1, width,
    accumulator(make): PartAccumulator {
      const acc = make(width);
      return {
        add: (x) => add(x, acc),
        sigma: () => acc.sigma(),
        get count() {
          return acc.count;
        },
        dispose: () => acc.dispose(),
      };
    },
  };
}

/** LSTM / GRU / SimpleRNN: [input kernel, recurrent kernel]. */
export function recurrentParts(layer: tfl.layers.Layer): KernelPart[] {
  const kernel = weightOf(layer, 'kernel');
  const recurrent = weightOf(layer, 'recurrent_kernel');
  const [inDim] = kernel.shape as number[];
  const [units] = recurrent.shape as number[];
  return [
    part(kernel, inDim, (x, acc) => addLayerInput(flatRows(layer.name), x, acc)),
    part(recurrent, units, (x, acc) => {
      const h = recurrentInputs(layer, x as tf.Tensor3D);
      try {
        if (h.shape[0] > 0) acc.add(h);
      } finally {
        h.dispose();
      }
    }),
  ];
}
