/**
 * The ablation of the default (recipes/bench_quant_ablation.ts) at its quick size: one row per
 * generator, the steps in order, and the default below act-order GPTQ on both (the first column
 * is GPTQ's relative error, the others are ratios to it).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { ablation, STEPS } from '../../../recipes/bench_quant_ablation.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});

test.serial('quick ablation: both generators, every step, the default below act-order GPTQ', async (t) => {
  const before = tf.memory().numTensors;
  const table = await ablation(['--quick', '--bits', '3', '--groups', '0'], () => {});
  t.is(tf.memory().numTensors, before);
  const rows = table.split('\n').filter((l) => /^\| [AB] 128 \| 3 \| row \|/.test(l));
  t.is(rows.length, 2);
  for (const row of rows) {
    const cells = row.split('|').slice(4, -1).map((c) => Number.parseFloat(c));
    t.is(cells.length, STEPS.length);
    t.true(cells[0] > 0 && cells[0] < 0.1, row); // GPTQ act-order's relative error at 3 bits
    t.true(cells[STEPS.length - 1] < 0.95, row); // the default, relative to it
  }
});
