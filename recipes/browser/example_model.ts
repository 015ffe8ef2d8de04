/**
 * The browser example's model: a seeded MLP (input 16*16 pixels, two ReLU hidden layers, softmax
 * over six shapes) trained for a few epochs on synthetic shapes. Small enough to train and
 * quantize in seconds, large enough that the weights dominate the download (about 0.53 MB float32 with 256 hidden units).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { CLASS_NAMES, SIDE, makeShapes } from './shapes.ts';

export interface ExampleModelOptions {
  /** Units in each hidden layer. Default 256. */
  hidden?: number;
  /** Initializer and shuffling seed. Default 7. */
  seed?: number;
  /** Training images (labels cycle through the classes). Default 1200. */
  trainCount?: number;
  /** Epochs of Adam. Default 4. */
  epochs?: number;
  /** Batch size. Default 64. */
  batchSize?: number;
}

/** The untrained, seeded architecture. */
export function buildExampleModel(hidden = 256, seed = 7): tfl.LayersModel {
  const inputs = SIDE * SIDE;
  return tfl.sequential({
    name: 'shapes_mlp',
    layers: [
      tfl.layers.dense({ name: 'hidden1', inputShape: [inputs], units: hidden, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
      tfl.layers.dense({ name: 'hidden2', units: hidden, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }),
      tfl.layers.dense({ name: 'logits', units: CLASS_NAMES.length, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 2 }) }),
    ],
  });
}

/** Builds and trains the example model; returns it with its accuracy on fresh shapes. */
export async function trainExampleModel(options: ExampleModelOptions = {}): Promise<{ model: tfl.LayersModel; accuracy: number; trainMs: number }> {
  const { hidden = 256, seed = 7, trainCount = 1200, epochs = 4, batchSize = 64 } = options;
  const t0 = Date.now();
  const model = buildExampleModel(hidden, seed);
  model.compile({ optimizer: tf.train.adam(2e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const train = makeShapes(trainCount, seed + 100);
  const xs = tf.tensor2d(train.x, [trainCount, SIDE * SIDE]);
  const ys = tf.tensor1d(Float32Array.from(train.labels));
  // shuffle: false keeps the run deterministic (tfjs shuffles with Math.random).
  await model.fit(xs, ys, { epochs, batchSize, shuffle: false, verbose: 0 });
  xs.dispose();
  ys.dispose();
  const accuracy = evaluateAccuracy(model, 300, seed + 200);
  return { model, accuracy, trainMs: Date.now() - t0 };
}

/** Fraction of `count` fresh seeded shapes the model classifies correctly. */
export function evaluateAccuracy(model: tfl.LayersModel, count: number, seed: number): number {
  const test = makeShapes(count, seed);
  return tf.tidy(() => {
    const pred = tf.argMax(model.predict(tf.tensor2d(test.x, [count, SIDE * SIDE])) as tf.Tensor, -1).dataSync();
    let right = 0;
    for (let i = 0; i < count; i++) if (pred[i] === test.labels[i]) right++;
    return right / count;
  });
}

/** Calibration inputs for quantization: `count` seeded shapes, [count, SIDE*SIDE]. Caller disposes. */
export function calibrationInputs(count = 512, seed = 99): tf.Tensor2D {
  const data = makeShapes(count, seed);
  return tf.tensor2d(data.x, [count, SIDE * SIDE]);
}
