import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { quantizeLayer, quantizeLayerSync } from '../../../plugins/quantease/quantize_layer.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';
import type { QuantizeLayerOptions } from '../../../plugins/quantease/types.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});

const W = [[0.5, -1, 2, 0.25, 1], [1, 1, -0.5, 0, 3]]; // [out = 2, in = 5]
const S: number[][] = Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => (i === j ? 2 : 0.5)));

const badOptions: [string, unknown, RegExp][] = [
  ['bits below 2', { bits: 1 }, /`bits` must be an integer in 2\.\.8\. Received: bits=1\./],
  ['bits above 8', { bits: 9 }, /`bits` must be an integer in 2\.\.8\. Received: bits=9\./],
  ['fractional bits', { bits: 3.5 }, /`bits` must be an integer/],
  ['bits as a string', { bits: '4' }, /Received: bits="4"/],
  ['unknown method', { method: 'awq' }, /`method` must be one of 'rtn', 'gptq', 'quantease'/],
  ['negative groupSize', { groupSize: -1 }, /`groupSize` must be an integer >= 0/],
  ['unknown key', { bitz: 4 }, /Unknown option `bitz` for quantizeLayer\. Allowed options: method, bits/],
  ['outliers with gptq', { method: 'gptq', outliers: { fraction: 0.01 } }, /`outliers` needs method 'quantease'/],
  ['outliers with rtn', { method: 'rtn', outliers: {} }, /`outliers` needs method 'quantease'/],
  ['outlier fraction above 1', { outliers: { fraction: 2 } }, /`outliers.fraction` must be a finite number >= 0 and <= 1/],
  ['unknown outlier key', { outliers: { k: 3 } }, /Unknown option `k` for quantizeLayer `outliers`/],
  ['outliers not an object', { outliers: 0.01 }, /`outliers` must be false or an object/],
  ['zero sweeps', { sweeps: 0 }, /`sweeps` must be an integer in 1\.\.100000/],
  ['negative dampening', { dampening: -0.1 }, /`dampening` must be a finite number >= 0/],
  ['blockSize 0', { blockSize: 0 }, /`blockSize` must be an integer >= 1/],
  ['unknown init', { init: 'rtn' }, /`init` must be one of 'weights', 'gptq'/],
  ['init gptq with outliers', { init: 'gptq', outliers: {} }, /cannot be combined with `outliers`/],
  ['actOrder not boolean', { actOrder: 1 }, /`actOrder` must be true or false/],
  ['onProgress not a function', { onProgress: 3 }, /`onProgress` must be a function/],
  ['options not an object', 'fast', /quantizeLayer options must be an object/],
];

for (const [name, options, message] of badOptions) {
  test.serial(`rejects ${name}`, async (t) => {
    const weight = tf.tensor2d(W);
    const sigma = tf.tensor2d(S);
    const before = tf.memory().numTensors;
    await t.throwsAsync(quantizeLayer({ weight, sigma }, options as QuantizeLayerOptions), { instanceOf: OptionError, message });
    t.is(tf.memory().numTensors, before);
    weight.dispose();
    sigma.dispose();
  });
}

const badInputs: [string, () => { weight: unknown; sigma: unknown }, RegExp][] = [
  ['NaN in weight', () => ({ weight: tf.tensor2d([[1, NaN, 0, 0, 0], [0, 0, 0, 0, 0]]), sigma: tf.tensor2d(S) }), /`weight` contains NaN at \[0, 1\]/],
  ['Inf in sigma', () => {
    const s = S.map((r) => r.slice());
    s[2][3] = Infinity;
    return { weight: tf.tensor2d(W), sigma: tf.tensor2d(s) };
  }, /`sigma` contains Inf at \[2, 3\]/],
  ['sigma of the wrong size', () => ({ weight: tf.tensor2d(W), sigma: tf.eye(2) }), /`sigma` must be \[in, in\] = \[5, 5\] for weight \[out, in\] = \[2, 5\]\. Received: sigma shape \[2, 2\]/],
  ['a Dense kernel [in, out] passed as weight', () => ({ weight: tf.tidy(() => tf.transpose(tf.tensor2d(W))), sigma: tf.tensor2d(S) }), /transpose it/],
  ['rank-1 weight', () => ({ weight: tf.tensor1d([1, 2]), sigma: tf.tensor2d(S) }), /`weight` must be a rank-2 tensor/],
  ['int32 weight', () => ({ weight: tf.tensor2d(W, undefined, 'int32'), sigma: tf.tensor2d(S) }), /`weight` must have dtype float32/],
  ['weight not a tensor', () => ({ weight: W, sigma: tf.tensor2d(S) }), /`weight` must be a tf.Tensor2D/],
];

for (const [name, make, message] of badInputs) {
  test.serial(`rejects ${name}`, async (t) => {
    const before = tf.memory().numTensors;
    const problem = make();
    const made = tf.memory().numTensors;
    await t.throwsAsync(quantizeLayer(problem as never), { instanceOf: InputError, message });
    t.is(tf.memory().numTensors, made);
    for (const v of Object.values(problem)) if (v instanceof tf.Tensor) v.dispose();
    t.is(tf.memory().numTensors, before);
  });
}

test.serial('a last partial group is allowed (groupSize 2 on 5 inputs); groupSize >= in is one group', async (t) => {
  const weight = tf.tensor2d(W);
  const sigma = tf.tensor2d(S);
  const res = await quantizeLayer({ weight, sigma }, { groupSize: 2, sweeps: 2 });
  t.is(res.grid.groups, 3);
  t.is(res.grid.scale.length, 6);
  res.weight.dispose();
  const wide = await quantizeLayer({ weight, sigma }, { groupSize: 128, method: 'rtn' });
  t.is(wide.grid.groups, 1);
  t.is(wide.grid.groupSize, 5);
  wide.weight.dispose();
  weight.dispose();
  sigma.dispose();
});

test.serial('flat option objects of the first release stay valid: another method\'s keys are checked, then ignored', async (t) => {
  const weight = tf.tensor2d(W);
  const sigma = tf.tensor2d(S);
  const plain = await quantizeLayer({ weight, sigma }, { method: 'gptq', bits: 3 });
  const flat = await quantizeLayer({ weight, sigma }, { method: 'gptq', bits: 3, sweeps: 7, init: 'weights' } as QuantizeLayerOptions);
  t.deepEqual(flat.codes, plain.codes);
  await t.throwsAsync(quantizeLayer({ weight, sigma }, { method: 'rtn', sweeps: 0 } as QuantizeLayerOptions), { instanceOf: OptionError, message: /`sweeps` must be an integer/ });
  plain.weight.dispose();
  flat.weight.dispose();
  weight.dispose();
  sigma.dispose();
});

test.serial('quantizeLayerSync gives the same result as quantizeLayer and leaks nothing', async (t) => {
  const weight = tf.tensor2d(W);
  const sigma = tf.tensor2d(S);
  const before = tf.memory().numTensors;
  const a = await quantizeLayer({ weight, sigma }, { bits: 3, sweeps: 3 });
  const b = quantizeLayerSync({ weight, sigma }, { bits: 3, sweeps: 3 });
  t.deepEqual(a.codes, b.codes);
  t.deepEqual(a.weight.dataSync(), b.weight.dataSync());
  a.weight.dispose();
  b.weight.dispose();
  t.is(tf.memory().numTensors, before);
  weight.dispose();
  sigma.dispose();
});
