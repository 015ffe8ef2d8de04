import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quantizeOnTrainEnd } from '../../../adapters/quantize/node_entry.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { dequantize } from '../../../plugins/quantease/dequantize.ts';
import { kernelToProblem } from '../../../adapters/quantize/layer_problems.ts';
import { OptionError } from '../../../plugins/core/errors.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});

test('quantizes the model in place at the end of model.fit, stores the report and saves', async (t) => {
  const model = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [10], units: 16, activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }), name: 'h' }),
    tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }), name: 'o' }),
  ] });
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
  const x = tf.randomNormal([64, 10], 0, 1, 'float32', 3);
  const y = tf.tidy(() => tf.sum(tf.mul(x, tf.linspace(-1, 1, 10)), 1, true));
  const calibration = tf.slice(x, 0, 48);
  const dir = await mkdtemp(path.join(tmpdir(), 'qcb-'));
  const before = tf.memory().numTensors;
  let trainedWeights: Float32Array | undefined;
  const q = quantizeOnTrainEnd({ calibration, method: 'quantease', bits: 3, sweeps: 8, saveTo: dir });
  const probe = new (class extends tfl.Callback {
    override async onTrainEnd() {
      trainedWeights = this.model.getLayer('h').getWeights()[0].dataSync() as Float32Array;
    }
  })();
  const h = await model.fit(x, y, { epochs: 3, batchSize: 16, verbose: 0, shuffle: false, callbacks: [probe, q] });
  t.true(h.history.loss[2] < h.history.loss[0]); // it did train
  t.truthy(q.report);
  t.is(q.report!.totals.quantizedLayers, 2);
  // The model's kernels now sit on the grid: each is dequant(codes) of the report.
  const k = model.getLayer('h').weights[0];
  const onGrid = tf.tidy(() => kernelToProblem(k.read()).dataSync());
  t.deepEqual(onGrid, dequantize(q.payload!.get(k.originalName)!));
  t.notDeepEqual(model.getLayer('h').getWeights()[0].dataSync(), trainedWeights);
  t.is(tf.memory().numTensors, before);
  // Saved, and the saved model predicts exactly what the in-memory model does.
  t.deepEqual((await readdir(dir)).sort(), ['model.json', 'weights.bin']);
  const loaded = await loadQuantized(dir);
  const pa = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
  const pb = tf.tidy(() => (loaded.predict(x) as tf.Tensor).dataSync());
  t.deepEqual(pb, pa);
  loaded.dispose();
  await rm(dir, { recursive: true });
  tf.dispose([x, y, calibration]);
  model.dispose();
});

test('options are validated when the callback is made', (t) => {
  t.throws(() => quantizeOnTrainEnd({} as never), { instanceOf: OptionError, message: /`calibration` is required/ });
  const c = tf.zeros([1, 2]);
  t.throws(() => quantizeOnTrainEnd({ calibration: c, bits: 1 }), { instanceOf: OptionError, message: /`bits`/ });
  t.throws(() => quantizeOnTrainEnd({ calibration: c, inPlace: false } as never), { instanceOf: OptionError, message: /Unknown option `inPlace`/ });
  c.dispose();
});
