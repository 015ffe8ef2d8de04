import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { runQuantizeModel, type CaptureStrategy, type QuantizeModelResult } from '../../../adapters/quantize/run_quantize.ts';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { captureCovariance } from '../../../adapters/quantize/capture.ts';
import { calibrationSource } from '../../../adapters/quantize/calibration.ts';
import { buildPlan, forwardsPerBatch } from '../../../adapters/quantize/graph_plan.ts';
import { quantizeLayer } from '../../../plugins/quantease/quantize_layer.ts';
import { CovarianceAccumulator } from '../../../plugins/quantease/covariance.ts';
import { kernelToProblem } from '../../../adapters/quantize/layer_problems.ts';
import type { QuantizeModelOptions } from '../../../adapters/quantize/options.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});

/**
 * InceptionV3-style: two inputs; a stem conv; three branches (1x1, 1x1 -> 3x3, avg-pool -> 1x1)
 * concatenated; a residual Add; a layer left float (DepthwiseConv2D) and a Dropout in the path;
 * a second input joined by Concatenate before the Dense head.
 */
function branchedModel(): tfl.LayersModel {
  let s = 0;
  const init = () => tfl.initializers.glorotNormal({ seed: 700 + s++ });
  const img = tfl.input({ shape: [8, 8, 3], name: 'img' });
  const aux = tfl.input({ shape: [5], name: 'aux' });
  const stem = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), name: 'stem' }).apply(img) as tfl.SymbolicTensor;
  const b1 = tfl.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', kernelInitializer: init(), name: 'b1_1x1' }).apply(stem) as tfl.SymbolicTensor;
  const b2a = tfl.layers.conv2d({ filters: 3, kernelSize: 1, activation: 'relu', kernelInitializer: init(), name: 'b2_1x1' }).apply(stem) as tfl.SymbolicTensor;
  const b2 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(), name: 'b2_3x3' }).apply(b2a) as tfl.SymbolicTensor;
  const b3a = tfl.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'b3_pool' }).apply(stem) as tfl.SymbolicTensor;
  const b3 = tfl.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', kernelInitializer: init(), name: 'b3_1x1' }).apply(b3a) as tfl.SymbolicTensor;
  const mixed = tfl.layers.concatenate({ name: 'mixed' }).apply([b1, b2, b3]) as tfl.SymbolicTensor; // [8, 8, 12]
  const dw = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: init(), name: 'dw' }).apply(mixed) as tfl.SymbolicTensor;
  const proj = tfl.layers.conv2d({ filters: 12, kernelSize: 1, kernelInitializer: init(), name: 'proj' }).apply(dw) as tfl.SymbolicTensor;
  const res = tfl.layers.add({ name: 'residual' }).apply([mixed, proj]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(res) as tfl.SymbolicTensor;
  const drop = tfl.layers.dropout({ rate: 0.5, name: 'drop' }).apply(pooled) as tfl.SymbolicTensor;
  const joined = tfl.layers.concatenate({ name: 'join' }).apply([drop, aux]) as tfl.SymbolicTensor; // [17]
  const hidden = tfl.layers.dense({ units: 10, activation: 'tanh', kernelInitializer: init(), name: 'hidden' }).apply(joined) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: init(), name: 'head' }).apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: [img, aux], outputs: out });
}

const QUANTIZED = ['stem', 'b1_1x1', 'b2_1x1', 'b2_3x3', 'b3_1x1', 'proj', 'hidden', 'head'];

function calibrationData(): tf.Tensor[] {
  return [tf.randomNormal([40, 8, 8, 3], 0, 1, 'float32', 31), tf.randomNormal([40, 5], 0, 1, 'float32', 32)];
}

async function run(model: tfl.LayersModel, calib: tf.Tensor[], options: QuantizeModelOptions, capture: CaptureStrategy): Promise<QuantizeModelResult> {
  return runQuantizeModel(model, calib, options, quantizeLayer, (w) => new CovarianceAccumulator(w), capture);
}

/** Every quantized kernel, codes and reported error of `a` equal `b`'s exactly. */
function assertSameResult(t: import('ava').ExecutionContext, a: QuantizeModelResult, b: QuantizeModelResult, what: string): void {
  t.deepEqual([...a.payload.keys()].sort(), [...b.payload.keys()].sort());
  for (const [name, q] of a.payload) {
    t.deepEqual(q.codes, b.payload.get(name)!.codes, `${what}: codes of ${name}`);
    t.deepEqual(q.grid.scale, b.payload.get(name)!.grid.scale, `${what}: grid of ${name}`);
  }
  for (const name of QUANTIZED) {
    const ka = a.model.getLayer(name).weights[0].read().dataSync();
    const kb = b.model.getLayer(name).weights[0].read().dataSync();
    t.deepEqual(ka, kb, `${what}: kernel of ${name}`);
  }
  a.report.layers.forEach((l, i) => t.is(l.relativeError, b.report.layers[i].relativeError, `${what}: error of ${l.name}`));
}

test.serial('one propagation gives bit-identical results to per-layer sub-model capture on a branched two-input model', async (t) => {
  const model = branchedModel();
  const calib = calibrationData();
  const before = tf.memory().numTensors;
  // dw stays float32 here (excluded): a layer the propagation runs without quantizing it.
  const options: QuantizeModelOptions = { method: 'quantease', bits: 3, sweeps: 4, batchSize: 16, compareRtn: false, exclude: [/^dw$/] };
  const old = await run(model, calib, options, 'submodel');
  const fresh = await run(model, calib, options, 'propagate');
  assertSameResult(t, fresh, old, 'propagate vs submodel');
  t.deepEqual(fresh.report.layers.filter((l) => l.status === 'quantized').map((l) => l.name).sort(), [...QUANTIZED].sort());
  t.is(fresh.report.layers.find((l) => l.name === 'dw')!.status, 'skipped');
  // Forwards: every node a target depends on, once per batch (40 rows / 16 = 3 batches). The
  // needed nodes are all but the head (its output feeds no target): 17 layers - 2 inputs - head.
  const plan = buildPlan(fresh.model, QUANTIZED.map((n) => fresh.model.getLayer(n)));
  t.is(forwardsPerBatch(plan), 14);
  t.is(fresh.report.totals.forwards, 14 * 3);
  t.is(fresh.report.totals.recomputedForwards, 0);
  t.true(fresh.report.totals.peakActivationBytes! > 0);
  // The sub-model path pays each target's ancestors again: strictly more.
  t.true(old.report.totals.forwards! > fresh.report.totals.forwards!, `${old.report.totals.forwards} vs ${fresh.report.totals.forwards}`);
  old.model.dispose();
  fresh.model.dispose();
  t.is(tf.memory().numTensors, before);
  tf.dispose(calib);
  model.dispose();
});

test.serial('a memory budget too small for the frontier recomputes from a checkpoint, with the same result', async (t) => {
  const model = branchedModel();
  const calib = calibrationData();
  const before = tf.memory().numTensors;
  const options: QuantizeModelOptions = { method: 'gptq', bits: 3, batchSize: 16, compareRtn: false };
  const roomy = await run(model, calib, options, 'propagate');
  // 0 bytes: nothing is ever stored, every target restarts from the calibration source.
  const none = await run(model, calib, { ...options, activationMemoryBytes: 0 }, 'propagate');
  // Room for the small late frontiers (the pooled [n, 12] + aux) but not the 8x8 maps.
  const some = await run(model, calib, { ...options, activationMemoryBytes: 40 * (12 + 5 + 17) * 4 + 1 }, 'propagate');
  assertSameResult(t, none, roomy, 'budget 0');
  assertSameResult(t, some, roomy, 'small budget');
  t.is(roomy.report.totals.recomputedForwards, 0);
  t.true(none.report.totals.recomputedForwards! > 0);
  t.is(none.report.totals.forwards! - none.report.totals.recomputedForwards!, roomy.report.totals.forwards!);
  t.true(some.report.totals.recomputedForwards! > 0 && some.report.totals.recomputedForwards! < none.report.totals.recomputedForwards!);
  t.true(some.report.totals.peakActivationBytes! < roomy.report.totals.peakActivationBytes!);
  for (const r of [roomy, none, some]) r.model.dispose();
  t.is(tf.memory().numTensors, before);
  tf.dispose(calib);
  model.dispose();
});

test.serial('sequential: false calibrates every layer on the float model, in one pass', async (t) => {
  const model = branchedModel();
  const calib = calibrationData();
  const before = tf.memory().numTensors;
  const { model: q, report } = await quantizeModel(model, calib, { method: 'rtn', bits: 4, batchSize: 16, sequential: false });
  t.is(report.totals.sequential, false);
  const plan = buildPlan(model, QUANTIZED.map((n) => model.getLayer(n)));
  t.is(report.totals.forwards, forwardsPerBatch(plan) * 3);
  // Reference: each layer's S through the float model (sub-model capture), then RTN on it.
  for (const name of QUANTIZED) {
    const layer = model.getLayer(name);
    const weight = kernelToProblem(layer.weights[0].read()); // [out, in]
    const acc = new CovarianceAccumulator(weight.shape[1]);
    await captureCovariance(model, layer, calibrationSource(calib, model, 16), acc);
    const sigma = acc.sigma();
    acc.dispose();
    const ref = await quantizeLayer({ weight, sigma }, { method: 'rtn', bits: 4 });
    t.is(report.layers.find((l) => l.name === name)!.relativeError, ref.stats.relativeError, name);
    tf.dispose([sigma, weight, ref.weight]);
  }
  q.dispose();
  t.is(tf.memory().numTensors, before);
  tf.dispose(calib);
  model.dispose();
});

test.serial('a shared quantizable layer is refused before any work', async (t) => {
  const x = tfl.input({ shape: [4] });
  const shared = tfl.layers.dense({ units: 4, name: 'shared' });
  const y = shared.apply(shared.apply(x) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: x, outputs: y });
  const calib = tf.randomNormal([8, 4], 0, 1, 'float32', 1);
  const before = tf.memory().numTensors;
  await t.throwsAsync(quantizeModel(model, calib, { method: 'rtn' }), { message: /shared \(called 2 times\)/ });
  t.is(tf.memory().numTensors, before);
  calib.dispose();
  model.dispose();
});
