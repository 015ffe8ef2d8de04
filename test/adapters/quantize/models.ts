/** Small seeded models and correlated calibration data shared by the adapter tests. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Conv2D(same) -> Conv2D(stride 2, valid) -> Flatten -> Dense -> Dense, seeded weights. */
export function convDenseModel(seed = 1): tfl.Sequential {
  const init = (s: number) => tfl.initializers.glorotNormal({ seed: seed * 100 + s });
  const bias = (s: number) => tfl.initializers.randomNormal({ mean: 0, stddev: 0.1, seed: seed * 100 + 50 + s });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), biasInitializer: bias(1), name: 'conv_a' }),
      tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: init(2), biasInitializer: bias(2), name: 'conv_b' }),
      tfl.layers.flatten({ name: 'flat' }),
      tfl.layers.dense({ units: 24, activation: 'relu', kernelInitializer: init(3), biasInitializer: bias(3), name: 'dense_a' }),
      tfl.layers.dense({ units: 5, kernelInitializer: init(4), name: 'dense_b' }),
    ],
  });
}

/**
 * Correlated images [n, 8, 8, 2]: a smooth low-rank field (rank 6 mixing of seeded Gaussians)
 * plus a little noise, so S is far from diagonal and RTN is clearly suboptimal.
 */
export function correlatedImages(n: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const mix = tf.randomNormal([6, 128], 0, 1, 'float32', 999); // fixed mixing: same distribution for every seed
    const z = tf.randomNormal([n, 6], 0, 1, 'float32', seed);
    const noise = tf.randomNormal([n, 128], 0, 0.1, 'float32', seed + 1);
    return tf.reshape(tf.add(tf.matMul(z, mix), noise), [n, 8, 8, 2]) as tf.Tensor4D; // [n, 128] -> [n, 8, 8, 2]
  });
}

/** Mean squared difference of two models' outputs on x. */
export function outputError(a: tfl.LayersModel, b: tfl.LayersModel, x: tf.Tensor): number {
  return tf.tidy(() => tf.mean(tf.squaredDifference(a.predict(x) as tf.Tensor, b.predict(x) as tf.Tensor)).dataSync()[0]);
}

/** All weights of a model as plain arrays (for untouched-ness checks). */
export function weightValues(m: tfl.LayersModel): Float32Array[] {
  return m.getWeights().map((w) => w.dataSync() as Float32Array);
}
