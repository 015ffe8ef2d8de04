import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfd from '@tensorflow/tfjs-data';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { calibrationSource } from '../../../adapters/quantize/calibration.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});

function mlp(): tfl.LayersModel {
  return tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [6], units: 8, activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }), name: 'd0' }),
    tfl.layers.dense({ units: 4, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }), name: 'd1' }),
  ] });
}

/** An endless dataset: batches of 5 rows, seeded by their index, forever. Counts what it yielded. */
function endless(): { iterator(): Promise<{ next(): Promise<{ value: tf.Tensor; done: boolean }> }>; pulled: number } {
  const ds = {
    pulled: 0,
    async iterator() {
      let i = 0;
      return {
        next: async () => {
          ds.pulled++;
          return { value: tf.randomNormal([5, 6], 0, 1, 'float32', 100 + i++), done: false };
        },
      };
    },
  };
  return ds;
}

test.serial('maxBatches ends an endless dataset; the event loop keeps running between batches', async (t) => {
  const model = mlp();
  const ds = endless();
  const before = tf.memory().numTensors;
  // An interval must fire while quantizeModel works: it yields a macrotask between batches.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  let immediates = 0;
  const spin = () => {
    immediates++;
    if (immediates < 1e6) setImmediate(spin);
  };
  setImmediate(spin);
  const { model: q, report } = await quantizeModel(model, ds, { method: 'rtn', maxBatches: 4, compareRtn: false });
  clearInterval(timer);
  const spun = immediates;
  immediates = 1e6; // stop the chain
  t.is(report.layers[0].rows, 20); // 4 batches of 5 rows
  t.is(report.layers[1].rows, 20);
  // The frontier fits the budget: the dataset is read once, 4 elements, whatever the depth.
  t.is(ds.pulled, 4);
  t.true(spun > 4, `setImmediate callbacks ran ${spun} times during quantizeModel`);
  t.log(`during quantizeModel: ${ticks} interval ticks, ${spun} immediates`);
  q.dispose();
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test.serial('maxBatches caps tensors too, and a tf.data dataset of infinite size needs it', async (t) => {
  const model = mlp();
  const x = tf.randomNormal([40, 6], 0, 1, 'float32', 3);
  const before = tf.memory().numTensors;
  let rows = 0;
  await calibrationSource(x, model, 16, 2).forEachBatch((b) => {
    rows += b[0].shape[0];
  });
  t.is(rows, 32); // 2 batches of 16 of the 40 rows
  const forever = tfd.array([0, 1, 2]).map(() => tf.ones([2, 6])).repeat();
  t.throws(() => calibrationSource(forever as never, model, 8), { instanceOf: InputError, message: /endless.*maxBatches/ });
  const { model: q, report } = await quantizeModel(model, forever as never, { method: 'rtn', maxBatches: 3 });
  t.is(report.layers[0].rows, 6);
  q.dispose();
  t.is(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});

test.serial('the new options are validated before any work, naming the option and the value', async (t) => {
  const model = mlp();
  const x = tf.randomNormal([10, 6], 0, 1, 'float32', 3);
  const before = tf.memory().numTensors;
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxBatches: 0 }, /`maxBatches`.*Received: maxBatches=0/],
    [{ maxBatches: 1.5 }, /`maxBatches`.*integer/],
    [{ workers: 0 }, /`workers`.*Received: workers=0/],
    [{ workers: '2' }, /`workers`/],
    [{ activationMemoryBytes: -1 }, /`activationMemoryBytes`.*-1/],
    [{ activationMemoryBytes: Infinity }, /`activationMemoryBytes`/],
    [{ sequential: 'no' }, /`sequential`.*true or false/],
  ];
  for (const [options, message] of bad) {
    await t.throwsAsync(quantizeModel(model, x, options), { instanceOf: OptionError, message }, JSON.stringify(options));
  }
  t.is(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});
