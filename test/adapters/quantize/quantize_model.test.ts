import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfd from '@tensorflow/tfjs-data';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { formatReport } from '../../../adapters/quantize/report.ts';
import { dequantize } from '../../../plugins/quantease/dequantize.ts';
import { kernelToProblem } from '../../../adapters/quantize/layer_problems.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';
import { convDenseModel, correlatedImages, outputError, weightValues } from './models.ts';

let model: tfl.Sequential;
let calib: tf.Tensor4D;
let heldOut: tf.Tensor4D;

test.before(async () => {
  await tf.setBackend('cpu');
  model = convDenseModel(1);
  calib = correlatedImages(192, 3);
  heldOut = correlatedImages(256, 7);
});

test.after.always(() => {
  model.dispose();
  tf.dispose([calib, heldOut]);
});

test.serial('the hook on a Dense + Conv2D model lowers held-out output error against RTN (QuantEase and GPTQ)', async (t) => {
  const before = tf.memory().numTensors;
  const errors: Record<string, number> = {};
  for (const method of ['rtn', 'gptq', 'quantease'] as const) {
    const { model: q, report, payload } = await quantizeModel(model, calib, { method, bits: 3 });
    errors[method] = outputError(model, q, heldOut);
    t.is(report.totals.quantizedLayers, 4);
    for (const l of report.layers) {
      t.is(l.status, 'quantized');
      t.is(l.method, method);
      t.true(l.relativeError! >= 0);
      // QuantEase starts from RTN's point and its rounded sweeps never raise the objective;
      // GPTQ has no such guarantee per layer (it may lose on a tiny first layer), only overall.
      if (method !== 'gptq') t.true(l.relativeError! <= l.rtnRelativeError! * 1.0001 + 1e-9, `${method} ${l.name}: ${l.relativeError} vs RTN ${l.rtnRelativeError}`);
    }
    // Every quantized kernel is exactly dequant(codes) (grid membership, in the model itself).
    for (const layer of q.layers.filter((l) => l.weights.length > 0)) {
      const k = layer.weights[0];
      const pay = payload.get(k.originalName)!;
      t.truthy(pay, k.originalName);
      const w = tf.tidy(() => kernelToProblem(k.read()).dataSync());
      t.deepEqual(w, dequantize(pay));
      t.true(pay.codes.every((c) => c < 8));
    }
    if (method === 'quantease') t.log(formatReport(report));
    q.dispose();
  }
  t.log(`held-out output MSE at 3 bits: RTN ${errors.rtn.toExponential(3)}, GPTQ ${errors.gptq.toExponential(3)}, QuantEase ${errors.quantease.toExponential(3)}`);
  t.true(errors.quantease < 0.7 * errors.rtn);
  t.true(errors.gptq < 0.7 * errors.rtn);
  t.is(tf.memory().numTensors, before);
});

test.serial('inPlace false leaves the input model untouched; inPlace true writes into it only at the end', async (t) => {
  const before = tf.memory().numTensors;
  const original = weightValues(model);
  const { model: q } = await quantizeModel(model, calib, { method: 'rtn', bits: 4 });
  t.not(q, model);
  t.deepEqual(weightValues(model), original);
  const expected = weightValues(q);
  q.dispose();
  t.is(tf.memory().numTensors, before);

  const copy = convDenseModel(1);
  const { model: same, report } = await quantizeModel(copy, calib, { method: 'rtn', bits: 4, inPlace: true });
  t.is(same, copy);
  t.deepEqual(weightValues(copy), expected);
  t.true(report.totals.ratio > 4);
  copy.dispose();
  t.is(tf.memory().numTensors, before);
});

test.serial('calibration as a tensor, an array and a tf.data.Dataset give the same quantized model', async (t) => {
  const before = tf.memory().numTensors;
  const opts = { method: 'quantease' as const, bits: 3, sweeps: 6, batchSize: 64 };
  const a = await quantizeModel(model, calib, opts);
  const b = await quantizeModel(model, [calib], opts);
  const batches = [0, 64, 128].map((s) => tf.slice(calib, s, 64));
  const c = await quantizeModel(model, tfd.array(batches).map((x) => ({ xs: x as tf.Tensor })), opts);
  tf.dispose(batches);
  const codes = (r: typeof a) => [...r.payload.values()].map((p) => Array.from(p.codes));
  t.deepEqual(codes(a), codes(b));
  // Same S up to float32 summation order: the codes may differ in a few ties at most.
  const ca = codes(a).flat();
  const cc = codes(c).flat();
  const differ = ca.filter((v, i) => v !== cc[i]).length;
  t.true(differ <= ca.length * 0.01, `${differ} of ${ca.length} codes differ`);
  for (const r of [a, b, c]) r.model.dispose();
  t.is(tf.memory().numTensors, before);
});

test.serial('include / exclude patterns, and skipped layers are reported with a reason', async (t) => {
  const { model: q, report } = await quantizeModel(model, calib, { method: 'rtn', bits: 4, include: ['conv_*', /^dense_b$/], exclude: 'conv_b' });
  const status = Object.fromEntries(report.layers.map((l) => [l.name, l.status]));
  t.deepEqual(status, { conv_a: 'quantized', conv_b: 'skipped', dense_a: 'skipped', dense_b: 'quantized' });
  t.regex(report.layers.find((l) => l.name === 'conv_b')!.reason!, /excluded/);
  // Skipped layers keep their float32 weights exactly.
  t.deepEqual(q.getLayer('dense_a').getWeights()[0].dataSync(), model.getLayer('dense_a').getWeights()[0].dataSync());
  q.dispose();

  // A functional two-input model with an Embedding, a DepthwiseConv2D (both quantized) and a
  // BatchNormalization (left float32 with a reason).
  const img = tfl.input({ shape: [6, 6, 2], name: 'img' });
  const ids = tfl.input({ shape: [3], name: 'ids' });
  const dw = tfl.layers.depthwiseConv2d({ kernelSize: 3, name: 'dw', depthwiseInitializer: tfl.initializers.glorotNormal({ seed: 5 }) }).apply(img) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization({ name: 'bn' }).apply(dw) as tfl.SymbolicTensor;
  const f1 = tfl.layers.flatten().apply(bn) as tfl.SymbolicTensor;
  const emb = tfl.layers.embedding({ inputDim: 10, outputDim: 4, name: 'emb', embeddingsInitializer: tfl.initializers.randomNormal({ seed: 6 }) }).apply(ids) as tfl.SymbolicTensor;
  const f2 = tfl.layers.flatten().apply(emb) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate().apply([f1, f2]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, name: 'head', kernelInitializer: tfl.initializers.glorotNormal({ seed: 7 }) }).apply(cat) as tfl.SymbolicTensor;
  const fm = tfl.model({ inputs: [img, ids], outputs: out });
  const xi = tf.randomNormal([40, 6, 6, 2], 0, 1, 'float32', 8);
  const xd = tf.floor(tf.mul(tf.randomUniform([40, 3], 0, 1, 'float32', 9), 10));
  const before = tf.memory().numTensors;
  const r = await quantizeModel(fm, [xi, xd], { method: 'gptq', bits: 4 });
  const by = Object.fromEntries(r.report.layers.map((l) => [l.name, l]));
  t.is(by.head.status, 'quantized');
  t.is(by.dw.status, 'quantized');
  t.is(by.emb.status, 'quantized');
  t.is(by.bn.status, 'skipped');
  t.regex(by.bn.reason!, /normalization/);
  t.is(by.bn.float32KeptBytes, 4 * 2 * 4); // gamma, beta, moving mean and variance of 2 channels
  t.true(outputError(fm, r.model, [xi, xd] as unknown as tf.Tensor) < 1e-2);
  r.model.dispose();
  t.is(tf.memory().numTensors, before);
  tf.dispose([xi, xd]);
  fm.dispose();
});

test.serial('bad calibration and options are rejected with clear errors; nothing is modified or leaked', async (t) => {
  const original = weightValues(model);
  const before = tf.memory().numTensors;
  const empty = tf.zeros([0, 8, 8, 2]);
  await t.throwsAsync(quantizeModel(model, empty, {}), { instanceOf: InputError, message: /calibration set is empty/ });
  await t.throwsAsync(quantizeModel(model, tfd.array([] as tf.Tensor[]), {}), { instanceOf: InputError, message: /empty/ });
  const wrong = tf.zeros([4, 8, 8, 3]);
  await t.throwsAsync(quantizeModel(model, wrong, {}), { instanceOf: InputError, message: /shape \[4,8,8,3\].*expects \[n, 8, 8, 2\]/ });
  await t.throwsAsync(quantizeModel(model, [calib, calib], {}), { instanceOf: InputError, message: /2 input tensor\(s\) but the model has 1/ });
  const nan = tf.tidy(() => tf.concat([tf.slice(calib, 0, 3), tf.fill([1, 8, 8, 2], NaN)]));
  await t.throwsAsync(quantizeModel(model, nan, { inPlace: true }), { instanceOf: InputError, message: /conv_a contain NaN/ });
  await t.throwsAsync(quantizeModel(model, calib, { bits: 9 }), { instanceOf: OptionError, message: /`bits` must be an integer in 2..8. Received: bits=9/ });
  await t.throwsAsync(quantizeModel(model, calib, { bogus: 1 } as never), { instanceOf: OptionError, message: /Unknown option `bogus`/ });
  await t.throwsAsync(quantizeModel(model, calib, { include: '' }), { instanceOf: OptionError, message: /`include`/ });
  await t.throwsAsync(quantizeModel(model, 'x' as never, {}), { instanceOf: InputError, message: /`calibration` must be/ });
  // A NaN weight deep in the model fails after earlier layers were done: still nothing half-modified.
  const broken = convDenseModel(1);
  const w = broken.getLayer('dense_b').getWeights();
  const bad = tf.tidy(() => tf.where(tf.equal(tf.reshape(tf.range(0, 120), [24, 5]), 7), tf.scalar(NaN), w[0]));
  broken.getLayer('dense_b').setWeights([bad, w[1]]);
  bad.dispose();
  const brokenBefore = weightValues(broken);
  await t.throwsAsync(quantizeModel(broken, calib, { method: 'rtn', inPlace: true }), { message: /NaN/ });
  t.deepEqual(weightValues(broken), brokenBefore);
  broken.dispose();
  tf.dispose([empty, wrong, nan]);
  t.is(tf.memory().numTensors, before);
  t.deepEqual(weightValues(model), original);
});

test.serial('onProgress reports every layer; a non-TTY progress bar is silent', async (t) => {
  const events: string[] = [];
  const { model: q } = await quantizeModel(model, calib, { method: 'rtn', progress: true, onProgress: (e) => events.push(`${e.done}/${e.total} ${e.stage} ${e.layer}`) });
  q.dispose();
  t.is(events.filter((e) => / capture /.test(e)).length, 4);
  t.is(events[events.length - 1], '4/4 done dense_b');
});

test.serial('Conv1D layers are quantized as patches, and a kernel constraint does not move weights off the grid', async (t) => {
  const m = tfl.sequential({ layers: [
    tfl.layers.conv1d({ inputShape: [12, 3], filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed: 31 }), name: 'c1' }),
    tfl.layers.conv1d({ filters: 4, kernelSize: 2, dilationRate: 2, kernelInitializer: tfl.initializers.glorotNormal({ seed: 32 }), name: 'c2' }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 3, kernelConstraint: tfl.constraints.maxNorm({ maxValue: 0.05 }), kernelInitializer: tfl.initializers.glorotNormal({ seed: 33 }), name: 'd' }),
  ] });
  const x = tf.tidy(() => tf.reshape(tf.matMul(tf.randomNormal([80, 4], 0, 1, 'float32', 34), tf.randomNormal([4, 36], 0, 1, 'float32', 35)), [80, 12, 3]));
  const before = tf.memory().numTensors;
  const rtn = await quantizeModel(m, x, { method: 'rtn', bits: 3 });
  const qe = await quantizeModel(m, x, { method: 'quantease', bits: 3 });
  for (const r of [rtn, qe]) {
    t.deepEqual(r.report.layers.map((l) => `${l.name}:${l.status}:${l.shape}`), ['c1:quantized:3,3,6', 'c2:quantized:2,6,4', 'd:quantized:16,3']);
    for (const layer of r.model.layers.filter((l) => l.weights.length > 0)) {
      const k = layer.weights[0];
      const w = tf.tidy(() => kernelToProblem(k.read()).dataSync());
      t.deepEqual(w, dequantize(r.payload.get(k.originalName)!), layer.name);
    }
  }
  const eR = outputError(m, rtn.model, x);
  const eQ = outputError(m, qe.model, x);
  t.log(`Conv1D model, 3 bits, output MSE: RTN ${eR.toExponential(3)}, QuantEase ${eQ.toExponential(3)}`);
  // Per layer QuantEase beats RTN on its own objective; on this tiny toy model the output error
  // through ReLU need not follow (measured: 3.2e-2 RTN vs 4.0e-2 QuantEase), so only the layer proxy is asserted.
  for (const l of qe.report.layers) t.true(l.relativeError! < l.rtnRelativeError!, l.name);
  t.true(eQ < 0.1 && eR < 0.1);
  rtn.model.dispose();
  qe.model.dispose();
  t.is(tf.memory().numTensors, before);
  x.dispose();
  m.dispose();
});
