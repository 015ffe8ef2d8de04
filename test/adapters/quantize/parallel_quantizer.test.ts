import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { openQuantizer, workerEntry } from '../../../adapters/quantize/parallel_quantizer.ts';
import { mergeRowParts, rowRanges } from '../../../adapters/quantize/row_split.ts';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';
import type { QuantizeLayerOptions } from '../../../plugins/quantease/types.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});

/** W [48, 64] and a correlated S = X^T X from X [256, 64] (rank-8 mixing plus noise). */
function problem(): { weight: tf.Tensor2D; sigma: tf.Tensor2D } {
  return tf.tidy(() => {
    const z = tf.randomNormal([256, 8], 0, 1, 'float32', 5);
    const x = tf.add(tf.matMul(z, tf.randomNormal([8, 64], 0, 1, 'float32', 6)), tf.randomNormal([256, 64], 0, 0.2, 'float32', 7));
    return { weight: tf.randomNormal([48, 64], 0, 0.5, 'float32', 8) as tf.Tensor2D, sigma: tf.matMul(x, x, true, false) as tf.Tensor2D };
  });
}

test('row ranges cover the rows once, in order', (t) => {
  t.deepEqual(rowRanges(10, 3), [[0, 3], [3, 6], [6, 10]]);
  t.deepEqual(rowRanges(2, 4), [[0, 1], [1, 2]]);
  t.deepEqual(rowRanges(5, 1), [[0, 5]]);
});

test('the worker entry keeps this file\'s extension (.ts under tsx, .js when built)', (t) => {
  t.regex(workerEntry().pathname, /adapters\/quantize\/quantize_worker\.ts$/);
});

const cases: Array<[string, QuantizeLayerOptions]> = [
  ['rtn', { method: 'rtn', bits: 3 }],
  ['gptq', { method: 'gptq', bits: 3, blockSize: 16 }],
  ['quantease', { method: 'quantease', bits: 3, sweeps: 6, blockSize: 16 }],
  ['quantease grouped', { method: 'quantease', bits: 4, sweeps: 4, groupSize: 16 }],
];

test.serial('2 workers give the single-thread result: objective within 1e-5, codes equal on >= 99.9% of weights', async (t) => {
  const { weight, sigma } = problem();
  const before = tf.memory().numTensors;
  const pool = await openQuantizer(quantizeLayer, 2, 0); // minFlops 0: split even this small layer
  try {
    for (const [name, options] of cases) {
      const single = await quantizeLayer({ weight, sigma }, options);
      const split = await pool.quantize({ weight, sigma }, options);
      const rel = Math.abs(split.stats.objectiveAfter - single.stats.objectiveAfter) / single.stats.objectiveAfter;
      t.true(rel <= 1e-5, `${name}: objective ${split.stats.objectiveAfter} vs ${single.stats.objectiveAfter}`);
      t.true(Math.abs(split.stats.baseline - single.stats.baseline) <= 1e-5 * single.stats.baseline, `${name}: baseline`);
      let same = 0;
      for (let i = 0; i < single.codes.length; i++) if (single.codes[i] === split.codes[i]) same++;
      t.true(same / single.codes.length >= 0.999, `${name}: ${same} of ${single.codes.length} codes equal`);
      t.deepEqual(split.weight.shape, [48, 64]);
      t.is(split.grid.rows, 48);
      t.is(split.grid.scale.length, single.grid.scale.length);
      if (single.stats.history) t.is(split.stats.history!.length, single.stats.history.length);
      t.log(`${name}: objective rel. diff ${rel.toExponential(2)}, ${same}/${single.codes.length} codes equal`);
      tf.dispose([single.weight, split.weight]);
    }
    t.is(pool.workers, 2);
  } finally {
    await pool.close();
  }
  t.is(tf.memory().numTensors, before);
  tf.dispose([weight, sigma]);
});

test.serial('one worker, the outlier variant and small layers stay on the calling thread', async (t) => {
  const { weight, sigma } = problem();
  const one = await openQuantizer(quantizeLayer, 1);
  t.is(one.quantize, quantizeLayer);
  await one.close();
  const pool = await openQuantizer(quantizeLayer, 2); // default threshold: this layer is too small
  const small = await pool.quantize({ weight, sigma }, { method: 'rtn', bits: 4 });
  const outl = await (await openQuantizer(quantizeLayer, 2, 0)).quantize({ weight, sigma }, { method: 'quantease', sweeps: 2, outliers: { fraction: 0.01 } });
  t.is(pool.workers, 1);
  t.is(outl.outliers!.indices.length, Math.round(0.01 * 48 * 64));
  await pool.close();
  tf.dispose([weight, sigma, small.weight, outl.weight]);
});

test('merged statistics add up over row parts', (t) => {
  const part = (rows: number, v: number) => ({
    codes: new Uint8Array(rows * 2).fill(v),
    values: new Float32Array(rows * 2).fill(v),
    grid: { bits: 2, groupSize: 2, groups: 1, rows, scale: new Float32Array(rows).fill(v), zero: new Float32Array(rows) },
    stats: { method: 'quantease' as const, bits: 2, baseline: 10 * v, objectiveBefore: 2 * v, objectiveAfter: v, relativeError: 0.1, iterations: 3, milliseconds: 1, history: [3 * v, 2 * v] },
  });
  const m = mergeRowParts([part(1, 1), part(2, 2)], 5);
  t.deepEqual([...m.codes], [1, 1, 2, 2, 2, 2]);
  t.deepEqual([...m.grid.scale], [1, 2, 2]);
  t.is(m.grid.rows, 3);
  t.is(m.stats.baseline, 30);
  t.is(m.stats.objectiveAfter, 3);
  t.is(m.stats.relativeError, 0.1);
  t.deepEqual(m.stats.history, [9, 6]);
  t.is(m.stats.milliseconds, 5);
});
