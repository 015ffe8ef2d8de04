/**
 * Embedding and LSTM / GRU / SimpleRNN layer problems (embedding_problem.ts, rnn_problem.ts): the
 * problems reproduce the layers' own pre-activations, rounding is what every method does when S is
 * diagonal, and a quantized text model saves, loads and predicts identically.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { runQuantizeModel } from '../../../adapters/quantize/run_quantize.ts';
import { recurrentInputs } from '../../../adapters/quantize/rnn_problem.ts';
import { kernelParts, kernelToProblem } from '../../../adapters/quantize/layer_problems.ts';
import { CovarianceAccumulator } from '../../../plugins/quantease/covariance.ts';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';
import { dequantize } from '../../../plugins/quantease/dequantize.ts';
import { saveQuantized } from '../../../adapters/io/save_quantized.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { problemDataToKernelData } from '../../../adapters/io/layout.ts';
import { weightValues } from './models.ts';

const init = (s: number) => tfl.initializers.glorotNormal({ seed: 700 + s });
const VOCAB = 40;
const T = 6;

/** Embedding(40, 8) -> LSTM(12, sequences) -> GRU(10, sequences) -> SimpleRNN(6) -> Dense(40). */
function textModel(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.embedding({ inputDim: VOCAB, outputDim: 8, inputLength: T, embeddingsInitializer: tfl.initializers.randomNormal({ seed: 701 }), name: 'emb' }),
      tfl.layers.lstm({ units: 12, returnSequences: true, kernelInitializer: init(2), recurrentInitializer: init(3), name: 'lstm' }),
      tfl.layers.gru({ units: 10, returnSequences: true, kernelInitializer: init(4), recurrentInitializer: init(5), name: 'gru' }),
      tfl.layers.simpleRNN({ units: 6, kernelInitializer: init(6), recurrentInitializer: init(7), name: 'rnn' }),
      tfl.layers.dense({ units: VOCAB, kernelInitializer: init(8), name: 'head' }),
    ],
  });
}

/** Token ids [n, T] with a skewed (Zipf-like) distribution; token 39 never appears. */
function tokens(n: number, seed: number): tf.Tensor2D {
  return tf.tidy(() => {
    const u = tf.randomUniform([n, T], 0, 1, 'float32', seed);
    return tf.floor(tf.mul(tf.pow(u, 2), VOCAB - 1)) as tf.Tensor2D; // ids 0..38, small ids frequent
  });
}

let calib: tf.Tensor2D;
let probe: tf.Tensor2D;
test.before(async () => {
  await tf.setBackend('cpu');
  calib = tokens(48, 1);
  probe = tokens(16, 2);
});
test.after.always(() => tf.dispose([calib, probe]));

for (const cls of ['lstm', 'gru', 'simpleRNN'] as const) {
  test.serial(`${cls}: the step inputs times K and the captured states times U are the layer's own pre-activations`, (t) => {
    const units = 5;
    const make = tfl.layers[cls] as (c: object) => tfl.layers.Layer;
    const layer = make({ units, returnSequences: true, kernelInitializer: init(10), recurrentInitializer: init(11), useBias: false, activation: 'linear', recurrentActivation: 'linear' });
    const x = tf.randomNormal([3, 4, 7], 0, 1, 'float32', 3) as tf.Tensor3D;
    const seq = layer.apply(x) as tf.Tensor3D; // [3, 4, units]
    const before = tf.memory().numTensors;
    const h = recurrentInputs(layer, x); // [3*3, units]: h_1..h_3 of every example
    t.deepEqual(h.shape, [9, units]);
    const want = tf.tidy(() => tf.reshape(tf.slice(seq, [0, 0, 0], [3, 3, units]), [-1, units]));
    t.true(tf.tidy(() => tf.max(tf.abs(tf.sub(h, want))).dataSync()[0]) < 1e-5);
    tf.dispose([h, want]);
    t.is(tf.memory().numTensors, before);
    // SimpleRNN with linear activation and no bias: h_t = x_t K + h_{t-1} U, so the two problems'
    // X W^T add up to the layer's output at every step (h_0 = 0 for the first).
    if (cls === 'simpleRNN') {
      const [pk, pu] = kernelParts(layer);
      const err = tf.tidy(() => {
        const xk = tf.matMul(tf.reshape(x, [-1, 7]), kernelToProblem(pk.variable.read()), false, true); // [12, units]
        const prev = tf.concat([tf.zeros([3, 1, units]), tf.slice(seq, [0, 0, 0], [3, 3, units])], 1); // h_{t-1}
        const hu = tf.matMul(tf.reshape(prev, [-1, units]), kernelToProblem(pu.variable.read()), false, true);
        return tf.max(tf.abs(tf.sub(tf.add(xk, hu), tf.reshape(seq, [-1, units])))).dataSync()[0];
      });
      t.true(err < 1e-5, `max error ${err}`);
    }
    tf.dispose([x, seq]);
    layer.dispose();
  });
}

test.serial('Embedding: every method gives the RTN codes, and the reported error is weighted by calibration counts + 1', async (t) => {
  const model = textModel();
  const acc = (w: number) => new CovarianceAccumulator(w);
  const codes: Uint8Array[] = [];
  for (const method of ['rtn', 'gptq', 'quantease'] as const) {
    const r = await runQuantizeModel(model, calib, { method, bits: 3, workers: 1, sweeps: 4, clip: false, refit: 0, include: ['emb'] }, quantizeLayer, acc);
    const p = r.payload.get('emb/embeddings')!;
    t.is(p.layout, 'table');
    t.deepEqual(p.grid.rows, VOCAB); // one grid per token
    codes.push(p.codes);
    // Independent check of the reported error: sum_t (c_t + 1) ||E_t - Ehat_t||^2 / sum_t (c_t + 1) ||E_t||^2.
    const e = model.getLayer('emb').getWeights()[0].arraySync() as number[][];
    const eq = r.model.getLayer('emb').getWeights()[0].arraySync() as number[][];
    const counts = new Array(VOCAB).fill(0);
    for (const id of calib.dataSync()) counts[id]++;
    let num = 0;
    let den = 0;
    e.forEach((row, i) => row.forEach((v, j) => {
      num += (counts[i] + 1) * (v - eq[i][j]) ** 2;
      den += (counts[i] + 1) * v * v;
    }));
    const l = r.report.layers.find((x) => x.name === 'emb')!;
    t.true(Math.abs(l.relativeError! - num / den) < 1e-6 * (num / den), `${l.relativeError} vs ${num / den}`);
    t.is(l.rows, 48 * T);
    r.model.dispose();
  }
  t.deepEqual(codes[1], codes[0]);
  t.deepEqual(codes[2], codes[0]);
  model.dispose();
});

test.serial('with S diagonal, GPTQ and QuantEase give the RTN codes for LSTM, GRU and SimpleRNN kernels', async (t) => {
  const model = textModel();
  const diagonal = (p: { weight: tf.Tensor2D; sigma: tf.Tensor2D }, o: object) => {
    const s = tf.tidy(() => tf.mul(p.sigma, tf.eye(p.sigma.shape[0])) as tf.Tensor2D);
    return quantizeLayer({ weight: p.weight, sigma: s }, o).finally(() => s.dispose());
  };
  const acc = (w: number) => new CovarianceAccumulator(w);
  const all: Record<string, Map<string, Uint8Array>> = {};
  for (const method of ['rtn', 'gptq', 'quantease'] as const) {
    // The same min/max grid for every method (the default's clip search and refit move the grid).
    const r = await runQuantizeModel(model, calib, { method, bits: 3, workers: 1, sweeps: 4, clip: false, refit: 0, include: ['lstm', 'gru', 'rnn'] }, diagonal, acc);
    all[method] = new Map([...r.payload].map(([k, v]) => [k, v.codes]));
    t.deepEqual([...r.payload.keys()].sort(), ['gru/kernel', 'gru/recurrent_kernel', 'lstm/kernel', 'lstm/recurrent_kernel', 'rnn/kernel', 'rnn/recurrent_kernel']);
    r.model.dispose();
  }
  for (const k of all.rtn.keys()) {
    t.deepEqual(all.gptq.get(k), all.rtn.get(k), k);
    t.deepEqual(all.quantease.get(k), all.rtn.get(k), k);
  }
  model.dispose();
});

test.serial('quantizeModel quantizes a text model end to end (sequential and one pass), never worse than RTN, no leaks; save/load is identical', async (t) => {
  const model = textModel();
  const floatWeights = weightValues(model);
  const before = tf.memory().numTensors;
  const dir = await mkdtemp(path.join(tmpdir(), 'qrnn-'));
  try {
    for (const sequential of [true, false]) {
      const quantized = await quantizeModel(model, calib, { method: 'quantease', bits: 4, sweeps: 6, sequential, workers: 1 });
      const { model: q, report, payload } = quantized;
      t.is(report.totals.quantizedLayers, 5);
      for (const l of report.layers) {
        t.is(l.status, 'quantized', l.name);
        t.true(l.relativeError! <= l.rtnRelativeError! * 1.0001 + 1e-9, `${l.name}: ${l.relativeError} vs RTN ${l.rtnRelativeError}`);
      }
      for (const [name, p] of payload) {
        const w = q.getLayer(name.split('/')[0]).weights.find((v) => v.originalName === name)!;
        t.deepEqual(w.read().dataSync(), problemDataToKernelData(dequantize(p), p.shape, p.layout), name);
      }
      t.true(report.totals.ratio > 2, `ratio ${report.totals.ratio}`); // rows of 6..40 columns: the grids weigh
      if (sequential) {
        await saveQuantized(quantized, dir);
        const loaded = await loadQuantized(dir);
        const a = tf.tidy(() => (q.predict(probe) as tf.Tensor).dataSync());
        const b = tf.tidy(() => (loaded.predict(probe) as tf.Tensor).dataSync());
        t.deepEqual(b, a);
        loaded.dispose();
      }
      q.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  t.deepEqual(weightValues(model), floatWeights);
  t.is(tf.memory().numTensors, before);
  model.dispose();
});
