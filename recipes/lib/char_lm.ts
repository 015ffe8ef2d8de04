/**
 * A small character language model: the previous `context` characters predict the next one.
 *
 *   ids [b, T] --Embedding(V, E)--> [b, T, E]
 *       --Conv1D(F, kernel K, stride S, relu)--> [b, (T-K)/S+1, F]   (character n-gram features,
 *                                                                    shared across positions)
 *       --Flatten--> --Dense(H, relu)--> --Dense(V, softmax)--> p(next char)
 *
 * (Bengio et al. 2003's concatenated-embedding MLP with a convolutional front end.) Quantization
 * sees the Conv1D kernel [K*E -> F], and the two Dense kernels; the embedding table stays float.
 *
 * Perplexity over N predicted characters: PPL = exp(-(1/N) sum_i log p(c_i | c_{i-T..i-1})),
 * natural log; a uniform guess scores V (the vocabulary size), a perfect model 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

export interface CharLMOptions {
  /** Vocabulary size V. */
  vocabSize: number;
  /** Characters of context T. Default 32. */
  context?: number;
  /** Embedding width E. Default 16. */
  embeddingDim?: number;
  /** Conv1D filters F; 0 removes the convolution. Default 128. */
  convFilters?: number;
  /** Conv1D kernel K (characters per n-gram feature). Default 4. */
  convKernel?: number;
  /** Conv1D stride S. Default 2. */
  convStride?: number;
  /** Hidden Dense width H. Default 256. */
  hidden?: number;
  /** Seed of every initializer (the same seed gives the same initial weights). Default 0. */
  seed?: number;
}

/** Options with every default filled in. */
export function resolveCharLMOptions(o: CharLMOptions): Required<CharLMOptions> {
  const r = {
    vocabSize: o.vocabSize,
    context: o.context ?? 32,
    embeddingDim: o.embeddingDim ?? 16,
    convFilters: o.convFilters ?? 128,
    convKernel: o.convKernel ?? 4,
    convStride: o.convStride ?? 2,
    hidden: o.hidden ?? 256,
    seed: o.seed ?? 0,
  };
  for (const [k, v] of Object.entries(r)) {
    const min = k === 'convFilters' || k === 'seed' ? 0 : 1;
    if (!Number.isInteger(v) || v < min) throw new Error(`\`${k}\` must be an integer >= ${min}. Received: ${k}=${v}.`);
  }
  if (r.convFilters > 0 && r.convKernel > r.context) {
    throw new Error(`\`convKernel\` must be <= context (${r.context}). Received: convKernel=${r.convKernel}.`);
  }
  return r;
}

/** Builds the (uncompiled) model. Input: token ids [b, context] (int32); output: probabilities [b, V]. */
export function buildCharLM(options: CharLMOptions): tfl.Sequential {
  const o = resolveCharLMOptions(options);
  let seed = o.seed * 7919;
  const init = () => tfl.initializers.glorotUniform({seed: ++seed});
  const model = tfl.sequential({name: 'char_lm'});
  model.add(tfl.layers.embedding({
    inputDim: o.vocabSize, outputDim: o.embeddingDim, inputLength: o.context, name: 'embedding',
    embeddingsInitializer: tfl.initializers.randomUniform({minval: -0.05, maxval: 0.05, seed: ++seed}),
  }));
  if (o.convFilters > 0) {
    model.add(tfl.layers.conv1d({
      filters: o.convFilters, kernelSize: o.convKernel, strides: o.convStride, activation: 'relu',
      padding: 'valid', name: 'ngram_conv', kernelInitializer: init(),
    }));
  }
  model.add(tfl.layers.flatten({name: 'flatten'}));
  model.add(tfl.layers.dense({units: o.hidden, activation: 'relu', name: 'hidden', kernelInitializer: init()}));
  model.add(tfl.layers.dense({units: o.vocabSize, activation: 'softmax', name: 'next_char', kernelInitializer: init()}));
  return model;
}

export interface Windows {
  /** Contexts [n, T], int32 token ids. */
  x: tf.Tensor2D;
  /** Next characters [n, 1], float32 token ids (what sparseCategoricalCrossentropy takes). */
  y: tf.Tensor2D;
}

/** Windows ending at the given positions: x = ids[p-T..p-1], y = ids[p]. */
export function windowsAt(ids: Uint8Array, context: number, positions: ArrayLike<number>): Windows {
  const n = positions.length;
  const x = new Int32Array(n * context);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = positions[i];
    if (p < context || p >= ids.length) throw new Error(`Window end ${p} is outside [${context}, ${ids.length}).`);
    for (let t = 0; t < context; t++) x[i * context + t] = ids[p - context + t];
    y[i] = ids[p];
  }
  return {x: tf.tensor2d(x, [n, context], 'int32'), y: tf.tensor2d(y, [n, 1])};
}

/** `count` windows at uniformly random positions (with replacement), drawn from `random`. */
export function sampleWindows(ids: Uint8Array, context: number, count: number, random: () => number): Windows {
  const positions = new Int32Array(count);
  const span = ids.length - context;
  for (let i = 0; i < count; i++) positions[i] = context + Math.floor(random() * span);
  return windowsAt(ids, context, positions);
}

/**
 * Evaluation windows: every position when `maxCount` >= ids.length - context, else `maxCount`
 * positions evenly spread over the text (deterministic, no randomness).
 */
export function evaluationWindows(ids: Uint8Array, context: number, maxCount = Infinity): Windows {
  const span = ids.length - context;
  const n = Math.min(span, maxCount);
  const positions = new Int32Array(n);
  for (let i = 0; i < n; i++) positions[i] = context + Math.floor((i * span) / n);
  return windowsAt(ids, context, positions);
}

/**
 * Perplexity exp(mean NLL) of `model` on the windows, in batches (natural log; probabilities
 * floored at 1e-12 so a zero never gives Infinity).
 */
export async function perplexity(model: tfl.LayersModel, data: Windows, batchSize = 2048): Promise<number> {
  return Math.exp(await meanNll(model, data, batchSize));
}

/** Mean negative log-likelihood (nats per character) of the windows. */
export async function meanNll(model: tfl.LayersModel, data: Windows, batchSize = 2048): Promise<number> {
  const n = data.x.shape[0];
  let total = 0;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const nll = tf.tidy(() => {
      const xb = tf.slice(data.x, [start, 0], [size, -1]);
      const yb = tf.reshape(tf.cast(tf.slice(data.y, [start, 0], [size, -1]), 'int32'), [size]);
      const probs = model.predict(xb) as tf.Tensor2D;  // [size, V]
      const picked = tf.sum(tf.mul(probs, tf.oneHot(yb, probs.shape[1])), 1);  // [size]
      return tf.sum(tf.neg(tf.log(tf.maximum(picked, 1e-12))));
    });
    total += (await nll.data())[0];
    nll.dispose();
  }
  return total / n;
}

/** Disposes both tensors of a Windows. */
export function disposeWindows(w: Windows): void {
  tf.dispose([w.x, w.y]);
}
