/**
 * SAM and mSAM under tfjs-layers' model.fit, fitDataset and trainOnBatch: metrics at w, no leaks,
 * BatchNorm policy (with and without the fit integration), mSAM equal to minimizeOnBatch, save /
 * load and continue with no re-attach.
 * Tests are serial and ordered: the first runs before anything installs the fit integration.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tfd from '@tensorflow/tfjs-data';
import { isSamFitInstalled, sam, SAMOptimizer } from '../../../adapters/fit/index.ts';
import { close, randomArray, useCpu } from '../../plugins/sam/helpers.ts';

test.before(useCpu);

const IN = 4;
const N = 12;
const xData = () => tf.tensor2d(randomArray(N * IN, 21), [N, IN]);
const yData = () => tf.tensor2d(randomArray(N, 22), [N, 1]);

/** Dense -> (BatchNorm) -> Dense regression model with seeded initializers. */
function mlp(opts: { batchNorm?: boolean; functional?: boolean; seed?: number } = {}): tfl.LayersModel {
  const seed = opts.seed ?? 1;
  const hidden = tfl.layers.dense({ units: 6, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed }) });
  const bn = tfl.layers.batchNormalization({ momentum: 0.5 });
  const out = tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) });
  if (opts.functional) {
    const input = tfl.input({ shape: [IN] });
    let h = hidden.apply(input) as tfl.SymbolicTensor;
    if (opts.batchNorm) h = bn.apply(h) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: out.apply(h) as tfl.SymbolicTensor });
  }
  const m = tfl.sequential();
  m.add(tfl.layers.dense({ inputShape: [IN], units: 6, activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  if (opts.batchNorm) m.add(bn);
  m.add(out);
  return m;
}

/** A twin with the same weights (all of them, moving statistics included). */
function twin(model: tfl.LayersModel, opts: { batchNorm?: boolean; functional?: boolean }): tfl.LayersModel {
  const m = mlp({ ...opts, seed: 99 });
  m.setWeights(model.getWeights());
  return m;
}

const values = (m: tfl.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

function movingStats(m: tfl.LayersModel): number[][] {
  return m.getWeights().filter((_, i) => /moving/.test(m.weights[i].originalName)).map((w) => Array.from(w.dataSync()));
}

/**
 * Without the integration SAM runs through minimize() and restores the registered variables the
 * closure wrote (the custom-loop fallback); with it (`model` given), the model's non-trainable
 * weights. Both must give the same result.
 */
async function batchNormPolicies(t: import('ava').ExecutionContext, integrated: boolean): Promise<void> {
  const x = xData();
  const y = yData();
  for (const policy of ['first', 'both'] as const) {
    const model = mlp({ batchNorm: true });
    const ref = twin(model, { batchNorm: true });
    model.compile({ optimizer: sam(tf.train.sgd(0.1), { rho: 0.5, batchNormStatistics: policy, model: integrated ? model : null }), loss: 'meanSquaredError', metrics: ['mae'] });
    t.is(isSamFitInstalled(model), integrated);
    // Metrics at w: a training-mode forward at w before the step (BatchNorm uses batch statistics).
    const [lossAtW, maeAtW] = tf.tidy(() => {
      const p = ref.apply(x, { training: true }) as tf.Tensor;
      return [tf.mean(tf.square(tf.sub(p, y))).dataSync()[0], tf.mean(tf.abs(tf.sub(p, y))).dataSync()[0]];
    });
    // `ref.apply(training)` also moved ref's statistics once, at w: what policy 'first' must keep.
    const h = await model.fit(x, y, { batchSize: N, epochs: 1, shuffle: false, verbose: 0 });
    t.true(Math.abs((h.history.loss[0] as number) - lossAtW) < 1e-5, `${policy}: loss reported at w`);
    t.true(Math.abs((h.history.mae[0] as number) - maeAtW) < 1e-5, `${policy}: mae reported at w`);
    const got = movingStats(model);
    const atW = movingStats(ref);
    t.is(got.length, 2);
    if (policy === 'first') {
      got.forEach((g, i) => close(t, g, atW[i], 1e-6, 1e-5, 'first: moving statistics of the pass at w'));
    } else {
      const diff = got.flat().reduce((a, v, i) => a + Math.abs(v - atW.flat()[i]), 0);
      t.true(diff > 1e-4, `both: a second update at w + eps changes the statistics (diff ${diff})`);
    }
    // No leak per step: the count after 3 more epochs equals the count after 1 (2 batches per epoch).
    await model.fit(x, y, { batchSize: 6, epochs: 1, verbose: 0 });
    const after1 = tf.memory().numTensors;
    await model.fit(x, y, { batchSize: 6, epochs: 3, verbose: 0 });
    t.is(tf.memory().numTensors, after1, `${policy}: no tensor leaked over 3 epochs`);
    model.dispose();
    ref.dispose();
  }
  tf.dispose([x, y]);
}

test.serial('fit with BatchNorm and metrics, no fit integration: stats follow the policy, metrics at w, no leak', (t) => batchNormPolicies(t, false));

test.serial('fit with BatchNorm and metrics, fit integration (model given): the same', (t) => batchNormPolicies(t, true));

test.serial('loss and metrics reported by fit are those at w (no BatchNorm, large rho)', async (t) => {
  const x = xData();
  const y = yData();
  const model = mlp({ functional: true });
  model.compile({ optimizer: sam(tf.train.sgd(0.1), { rho: 2 }), loss: 'meanSquaredError', metrics: ['mse'] });
  const before = model.evaluate(x, y) as tf.Scalar[];
  const lossW = before[0].dataSync()[0];
  tf.dispose(before);
  const h = await model.fit(x, y, { batchSize: N, epochs: 1, shuffle: false, verbose: 0 });
  t.true(Math.abs((h.history.loss[0] as number) - lossW) < 1e-5);
  t.true(Math.abs((h.history.mse[0] as number) - lossW) < 1e-5);
  // Validation runs the test function, untouched by SAM: val_loss is the loss of the last 3 rows
  // at the weights the epoch ended with.
  const hv = await model.fit(x, y, { batchSize: 4, epochs: 1, validationSplit: 0.25, verbose: 0 });
  const [xv, yv] = [tf.slice(x, [9, 0], [3, IN]), tf.slice(y, [9, 0], [3, 1])];
  const valLoss = model.evaluate(xv, yv) as tf.Scalar[];
  t.true(Math.abs((hv.history.val_loss[0] as number) - valLoss[0].dataSync()[0]) < 1e-6);
  tf.dispose([xv, yv, ...valLoss]);
  model.dispose();
  tf.dispose([x, y]);
});

test.serial('mSAM under fit (one line, Sequential and functional) equals minimizeOnBatch on the same batch', async (t) => {
  const x = xData();
  const y = yData();
  for (const functional of [false, true]) {
    const model = mlp({ functional });
    const ref = twin(model, { functional });
    // The one-line change: the model is passed so the optimizer can split the batch.
    model.compile({ optimizer: sam(tf.train.sgd(0.1), { rho: 0.3, microBatches: 5, model }), loss: 'meanSquaredError', metrics: ['mae'] });
    const opt = sam(tf.train.sgd(0.1), { rho: 0.3, microBatches: 5 });
    // 12 rows in 5 micro-batches: sizes [3, 3, 2, 2, 2]. The mae to report: the size-weighted mean
    // of each slice's mae at w, from the twin's predictions before the step.
    const sizes = [3, 3, 2, 2, 2];
    const absErr = tf.tidy(() => Array.from(tf.abs(tf.sub(ref.predict(x) as tf.Tensor, y)).dataSync()));
    let maeW = 0;
    let row = 0;
    for (const n of sizes) {
      maeW += (n / N) * (absErr.slice(row, row + n).reduce((a, b) => a + b, 0) / n);
      row += n;
    }
    const before = tf.memory().numTensors;
    const out = (await model.trainOnBatch(x, y)) as number[];
    t.is(tf.memory().numTensors, before, 'trainOnBatch leaked');
    t.is(out.length, 2, 'trainOnBatch returns [loss, mae], nothing from the perturbed passes');
    const lossFn = (xs: tf.Tensor, ys: tf.Tensor) => tf.mean(tf.square(tf.sub(ref.apply(xs, { training: true }) as tf.Tensor, ys))) as tf.Scalar;
    const cost = opt.minimizeOnBatch(lossFn, x, y, true, ref.trainableWeights.map((w) => w.read() as tf.Variable))!;
    t.true(Math.abs(out[0] - cost.dataSync()[0]) < 1e-6, 'size-weighted mean loss at w');
    cost.dispose();
    values(model).forEach((v, i) => close(t, v, values(ref)[i], 1e-6, 1e-5, `functional=${functional} weight ${i}`));
    t.true(Math.abs(out[1] - maeW) < 1e-6, `mae ${out[1]} is the size-weighted mean of slice mae at w ${maeW}`);
    model.dispose();
    ref.dispose();
  }
  tf.dispose([x, y]);
});

test.serial('mSAM under fit reports the size-weighted mean of loss and metrics at w; fit does not leak', async (t) => {
  const x = xData();
  const y = yData();
  const model = mlp({});
  const ref = twin(model, {});
  const p = ref.predict(x) as tf.Tensor;
  const maeW = tf.tidy(() => tf.mean(tf.abs(tf.sub(p, y))).dataSync()[0]);
  const mseW = tf.tidy(() => tf.mean(tf.square(tf.sub(p, y))).dataSync()[0]);
  p.dispose();
  model.compile({ optimizer: sam(tf.train.adam(0.01), { rho: 0.1, microBatches: 4, model }), loss: 'meanSquaredError', metrics: ['mae'] });
  const h = await model.fit(x, y, { batchSize: N, epochs: 1, shuffle: false, verbose: 0 });
  // Equal slices (3 rows each): the weighted mean of slice means is the batch mean.
  t.true(Math.abs((h.history.loss[0] as number) - mseW) < 1e-5);
  t.true(Math.abs((h.history.mae[0] as number) - maeW) < 1e-5);
  await model.fit(x, y, { batchSize: 5, epochs: 1, verbose: 0 });
  const after1 = tf.memory().numTensors;
  await model.fit(x, y, { batchSize: 5, epochs: 3, verbose: 0 });
  t.is(tf.memory().numTensors, after1, 'no leak over 3 epochs (uneven last batch of 2 < microBatches)');
  model.dispose();
  ref.dispose();
  tf.dispose([x, y]);
});

test.serial('the train function falls back to the original when the model has another optimizer', async (t) => {
  const x = xData();
  const y = yData();
  const model = mlp({});
  const ref = twin(model, {});
  sam(tf.train.sgd(0.1), { microBatches: 3, model }); // the integration is installed, but this optimizer is never compiled in
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  ref.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  await model.trainOnBatch(x, y);
  await ref.trainOnBatch(x, y);
  t.deepEqual(values(model), values(ref));
  model.dispose();
  ref.dispose();
  tf.dispose([x, y]);
});

test.serial('fitDataset with SAM and mSAM equals minimizeOnBatch on the same batches (BatchNorm too) and does not leak', async (t) => {
  const xs = randomArray(N * IN, 31);
  const ys = randomArray(N, 32);
  const rows = Array.from({ length: N }, (_, i) => ({ xs: xs.slice(i * IN, (i + 1) * IN), ys: [ys[i]] }));
  for (const microBatches of [1, 3]) {
    const model = mlp({ batchNorm: true });
    const ref = twin(model, { batchNorm: true });
    model.compile({ optimizer: sam(tf.train.adam(0.01), { rho: 0.05, microBatches, model }), loss: 'meanSquaredError', metrics: ['mae'] });
    const ds = tfd.array(rows).map((r) => {
      const row = r as { xs: number[]; ys: number[] };
      return { xs: tf.tensor1d(row.xs), ys: tf.tensor1d(row.ys) };
    }).batch(5);
    const h1 = await model.fitDataset(ds, { epochs: 1, verbose: 0 });
    // The same epoch by hand: batches of 5, 5, 2 rows; the twin's non-trainable weights restored.
    const opt = sam(tf.train.adam(0.01), { rho: 0.05, microBatches });
    const lossFn = (a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.square(tf.sub(ref.apply(a, { training: true }) as tf.Tensor, b))) as tf.Scalar;
    const vars = ref.trainableWeights.map((w) => w.read() as tf.Variable);
    const restore = ref.nonTrainableWeights.map((w) => w.read() as tf.Variable);
    let lossSum = 0;
    for (const [from, n] of [[0, 5], [5, 5], [10, 2]]) {
      const bx = tf.tensor2d(xs.slice(from * IN, (from + n) * IN), [n, IN]);
      const by = tf.tensor2d(ys.slice(from, from + n), [n, 1]);
      const c = opt.minimizeOnBatch(lossFn, bx, by, true, vars, { restore })!;
      lossSum += c.dataSync()[0] * n;
      tf.dispose([bx, by, c]);
    }
    values(model).forEach((v, i) => close(t, v, values(ref)[i], 1e-6, 1e-5, `microBatches=${microBatches} weight ${i}`));
    // fitDataset reports the mean over batches weighted by batch size.
    t.true(Math.abs((h1.history.loss[0] as number) - lossSum / N) < 1e-5, `microBatches=${microBatches}: epoch loss`);
    const after1 = tf.memory().numTensors;
    await model.fitDataset(ds, { epochs: 3, verbose: 0 });
    t.is(tf.memory().numTensors, after1, `microBatches=${microBatches}: no leak over 3 epochs`);
    model.dispose();
    ref.dispose();
    opt.dispose();
  }
});

test.serial('save with the optimizer, load, continue: same weights as uninterrupted training; config round trip', async (t) => {
  const x = xData();
  const y = yData();
  const options = {
    rho: 0.2, adaptive: true, eta: 0.02, epsilon: 1e-10, microBatches: 2, interval: 2, clipNorm: 5, batchNormStatistics: 'both' as const,
  };
  const straight = mlp({ batchNorm: true });
  const resumed = twin(straight, { batchNorm: true });
  straight.compile({ optimizer: sam(tf.train.adam(0.01), { ...options, model: straight }), loss: 'meanSquaredError' });
  resumed.compile({ optimizer: sam(tf.train.adam(0.01), { ...options, model: resumed }), loss: 'meanSquaredError' });
  const fitArgs = { batchSize: 6, shuffle: false, verbose: 0 } as const;
  await straight.fit(x, y, { ...fitArgs, epochs: 4 });
  await resumed.fit(x, y, { ...fitArgs, epochs: 2 });

  let artifacts: tf.io.ModelArtifacts | undefined;
  await resumed.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }), { includeOptimizer: true });
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
  const opt = loaded.optimizer as SAMOptimizer;
  t.true(opt instanceof SAMOptimizer);
  const expected = { ...options, base: { className: 'Adam', config: tf.train.adam(0.01).getConfig() } };
  t.deepEqual(opt.getConfig(), expected, 'every option survives');
  t.deepEqual((straight.optimizer as SAMOptimizer).getConfig(), expected);
  t.is(opt.iterations, 4, 'iteration count restored (2 epochs x 2 batches)');
  t.true(isSamFitInstalled(loaded), 'no re-attach: the integration found the loaded model through its class');
  await loaded.fit(x, y, { ...fitArgs, epochs: 2 });
  values(loaded).forEach((v, i) => close(t, v, values(straight)[i], 1e-6, 1e-5, `weight ${i}`));
  straight.dispose();
  resumed.dispose();
  loaded.dispose();
  tf.dispose([x, y]);
});
