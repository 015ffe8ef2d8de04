/**
 * quantizeModel's `overrides` (mixed precision): each matching layer gets its entry's options, the
 * other layers the model-wide ones; bad entries are refused before any work; a mixed-precision
 * model saves and loads identically.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { saveQuantized } from '../../../adapters/io/save_quantized.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { OptionError } from '../../../plugins/core/errors.ts';
import { convDenseModel, correlatedImages, weightValues } from './models.ts';

let model: tfl.Sequential;
let calib: tf.Tensor4D;

test.before(async () => {
  await tf.setBackend('cpu');
  model = convDenseModel(3);
  calib = correlatedImages(96, 11);
});

test.after.always(() => {
  model.dispose();
  calib.dispose();
});

const kernelName = (m: tfl.LayersModel, layer: string) => m.getLayer(layer).weights[0].originalName;

test.serial('matching layers get the override; the others keep the model-wide options', async (t) => {
  const before = tf.memory().numTensors;
  const mixed = await quantizeModel(model, calib, { method: 'rtn', bits: 3, overrides: [{ layers: 'conv_*', bits: 8 }], workers: 1 });
  const all8 = await quantizeModel(model, calib, { method: 'rtn', bits: 8, workers: 1 });
  const bits = Object.fromEntries(mixed.report.layers.map((l) => [l.name, l.bits]));
  t.deepEqual(bits, { conv_a: 8, conv_b: 8, dense_a: 3, dense_b: 3 });
  for (const layer of ['conv_a', 'conv_b']) {
    // The conv layers come first, so with the same bits they see the same inputs as the 8-bit run.
    const name = kernelName(model, layer);
    t.deepEqual(mixed.payload.get(name)!.codes, all8.payload.get(name)!.codes, layer);
  }
  for (const layer of ['dense_a', 'dense_b']) {
    const p = mixed.payload.get(kernelName(model, layer))!;
    t.is(p.grid.bits, 3);
    t.true(p.codes.every((c) => c < 8), layer);
  }
  // 8-bit convs cost more bytes than 3-bit ones, less than the all-8-bit model.
  const all3 = await quantizeModel(model, calib, { method: 'rtn', bits: 3, workers: 1 });
  t.true(all3.report.totals.packedBytes < mixed.report.totals.packedBytes);
  t.true(mixed.report.totals.packedBytes < all8.report.totals.packedBytes);
  for (const r of [mixed, all8, all3]) r.model.dispose();
  t.is(tf.memory().numTensors, before);
});

test.serial('a later entry wins; an entry with its own method starts from that method\'s defaults', async (t) => {
  const { model: q, report } = await quantizeModel(model, calib, {
    method: 'quantease', bits: 3, sweeps: 4, workers: 1,
    overrides: [
      { layers: ['dense_*'], bits: 5 },
      // sweeps is a quantease option: not inherited by a gptq entry, which would refuse it.
      { layers: 'dense_b', method: 'gptq', actOrder: true },
    ],
  });
  const byName = Object.fromEntries(report.layers.map((l) => [l.name, l]));
  t.is(byName.conv_a.method, 'quantease');
  t.is(byName.conv_a.bits, 3);
  t.is(byName.dense_a.method, 'quantease');
  t.is(byName.dense_a.bits, 5);
  t.is(byName.dense_b.method, 'gptq');
  t.is(byName.dense_b.bits, 3, 'bits comes from the model-wide options, not from the earlier entry');
  q.dispose();
});

test.serial('depthwise kernels default to 8 bits; \'same\' follows bits; an override\'s bits wins', async (t) => {
  const dwModel = tfl.sequential({
    layers: [
      tfl.layers.depthwiseConv2d({ inputShape: [8, 8, 2], kernelSize: 3, depthMultiplier: 2, padding: 'same', depthwiseInitializer: tfl.initializers.glorotNormal({ seed: 7 }), name: 'dw' }),
      tfl.layers.separableConv2d({ filters: 4, kernelSize: 3, depthwiseInitializer: tfl.initializers.glorotNormal({ seed: 8 }), pointwiseInitializer: tfl.initializers.glorotNormal({ seed: 9 }), name: 'sep' }),
    ],
  });
  const bitsOf = async (options: object) => {
    const r = await quantizeModel(dwModel, calib, { method: 'rtn', bits: 3, workers: 1, ...options });
    r.model.dispose();
    return Object.fromEntries([...r.payload].map(([name, p]) => [name, p.grid.bits]));
  };
  t.deepEqual(await bitsOf({}), { 'dw/depthwise_kernel': 8, 'sep/depthwise_kernel': 8, 'sep/pointwise_kernel': 3 });
  t.deepEqual(await bitsOf({ depthwiseBits: 'same' }), { 'dw/depthwise_kernel': 3, 'sep/depthwise_kernel': 3, 'sep/pointwise_kernel': 3 });
  t.deepEqual(await bitsOf({ depthwiseBits: 6, overrides: [{ layers: 'sep', bits: 4 }] }),
    { 'dw/depthwise_kernel': 6, 'sep/depthwise_kernel': 4, 'sep/pointwise_kernel': 4 });
  // An override without bits keeps depthwiseBits for the depthwise kernel.
  t.deepEqual(await bitsOf({ overrides: [{ layers: 'sep', method: 'gptq' }] }),
    { 'dw/depthwise_kernel': 8, 'sep/depthwise_kernel': 8, 'sep/pointwise_kernel': 3 });
  for (const bad of [1, 9, 4.5, 'all']) {
    const err = await t.throwsAsync(() => quantizeModel(dwModel, calib, { depthwiseBits: bad } as never), { instanceOf: OptionError });
    t.regex(err!.message, /depthwiseBits/);
  }
  dwModel.dispose();
});

test.serial('bad overrides are refused before any work, naming the entry', async (t) => {
  const weights = weightValues(model);
  const before = tf.memory().numTensors;
  const cases: Array<[unknown, RegExp]> = [
    [{ layers: 'x', bits: 8 }, /`overrides` must be an array.*Received/s],
    [[{ bits: 8 }], /overrides\[0\]\.layers/],
    [[{ layers: 'dense_*', bitz: 8 }], /bitz.*overrides\[0\]/],
    [[{ layers: 'dense_*' }, { layers: 'conv_*', bits: 1 }], /`overrides\[1\]`: .*bits/],
    [[{ layers: '', bits: 8 }], /overrides\[0\]\.layers/],
    [['dense_*'], /overrides\[0\]/],
  ];
  for (const [overrides, message] of cases) {
    const err = await t.throwsAsync(() => quantizeModel(model, calib, { overrides } as never), { instanceOf: OptionError });
    t.regex(err!.message, message, JSON.stringify(overrides));
  }
  const err = await t.throwsAsync(() => quantizeModel(model, calib, {
    sparsity: { method: 'magnitude', pattern: { kind: 'unstructured', fraction: 0.5 } },
    overrides: [{ layers: 'dense_a', method: 'quantease', outliers: { fraction: 0.01 } }],
  }), { instanceOf: OptionError });
  t.regex(err!.message, /sparsity.*outliers.*overrides\[0\]/);
  t.deepEqual(weightValues(model), weights);
  t.is(tf.memory().numTensors, before);
});

test.serial('a mixed-precision model saves and loads with identical predictions', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'qmixed-'));
  try {
    const quantized = await quantizeModel(model, calib, { bits: 4, sweeps: 4, workers: 1, overrides: [{ layers: 'conv_a', bits: 8 }, { layers: 'dense_b', bits: 2 }] });
    await saveQuantized(quantized, dir);
    const loaded = await loadQuantized(dir);
    const probe = tf.slice(calib, [0, 0, 0, 0], [16, -1, -1, -1]);
    const a = tf.tidy(() => (quantized.model.predict(probe) as tf.Tensor).dataSync());
    const b = tf.tidy(() => (loaded.predict(probe) as tf.Tensor).dataSync());
    t.deepEqual(b, a);
    tf.dispose([probe]);
    loaded.dispose();
    quantized.model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
