/**
 * Template: mSAM in a custom training loop with `minimizeOnBatch`.
 *
 * Run: npx tsx recipes/template_custom_loop_msam.ts [--quick] [--seed n] [--epochs n]
 *
 * mSAM (Behdin et al. 2023) on one batch B split into m micro-batches B_1..B_m:
 *   g_j = grad L_{B_j}(w + rho grad L_{B_j}(w) / ||grad L_{B_j}(w)||),   g = sum_j |B_j| g_j / |B|,
 * and the base optimizer (Adam here) applies g. `opt.minimizeOnBatch(lossFn, xs, ys, returnCost)` does
 * the split, the perturbations and the single base update; `lossFn(xs, ys)` must return the MEAN loss
 * over the (micro-)batch it is given. With microBatches: 1 it is plain SAM.
 * Replace `makeData` and `forward` with your own data and model.
 */
import * as tf from '@tensorflow/tfjs-core';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {sam} from 'tfjs-sam-quantease/sam';
import {isMain, parseArgs, runMain} from './lib/args.ts';
import {Rng} from './lib/rng.ts';
import {consoleTable} from './lib/report_writer.ts';
import {ProgressBar} from './lib/progress.ts';

// ---- constants (each with one line of guidance) ----
/** Base learning rate (Adam). */
const LEARNING_RATE = 1e-2;
/** SAM radius per micro-batch: 0.05 is the usual start. */
const RHO = 0.05;
/** Micro-batches per batch: 2-8; more = more independent perturbations, more cost per step. */
const MICRO_BATCHES = 4;
/** Batch size, split into MICRO_BATCHES slices. */
const BATCH_SIZE = 64;
/** Epochs (override with --epochs). */
const EPOCHS = 10;
/** Examples of the synthetic stand-in regression data. */
const EXAMPLES = 2048;
/** Input features / hidden units of the stand-in model. */
const FEATURES = 8;
const HIDDEN = 32;

export interface CustomLoopResult {
  /** Mean training loss per epoch (the loss at w, before each update). */
  lossByEpoch: number[];
  /** Mean squared error on held-out data after training. */
  valMse: number;
  /** The variance of the held-out targets: a model worth keeping has valMse well below it. */
  valTargetVariance: number;
}

/** Synthetic stand-in: y = sin(2 x . a) + (x . b)^2 / (2 FEATURES) + noise, ||a|| ~ 1, ||b||^2 ~ FEATURES. */
function makeData(n: number, seed: number): {x: tf.Tensor2D; y: tf.Tensor2D} {
  const rng = new Rng(seed);
  const dirs = new Rng(7);
  const a = Array.from({length: FEATURES}, () => dirs.normal() / Math.sqrt(FEATURES));
  const b = Array.from({length: FEATURES}, () => dirs.normal());
  const x = new Float32Array(n * FEATURES);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let pa = 0;
    let pb = 0;
    for (let j = 0; j < FEATURES; j++) {
      const v = rng.normal();
      x[i * FEATURES + j] = v;
      pa += v * a[j];
      pb += v * b[j];
    }
    y[i] = Math.sin(2 * pa) + (0.5 * pb * pb) / FEATURES + 0.1 * rng.normal();
  }
  return {x: tf.tensor2d(x, [n, FEATURES]), y: tf.tensor2d(y, [n, 1])};
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<CustomLoopResult> {
  const args = parseArgs(argv, {name: 'template_custom_loop_msam', epochs: EPOCHS});
  const epochs = args.quick && !args.explicit.has('epochs') ? 2 : args.epochs!;
  const examples = args.quick ? 256 : EXAMPLES;
  await selectBackend({quiet: true});
  console.log(`template_custom_loop_msam: backend ${tf.getBackend()}, seed ${args.seed}, epochs ${epochs}`);

  // ---- configure: data, weights, the loss, the optimizer ----
  const train = makeData(examples, args.seed);
  const val = makeData(512, args.seed + 1000);
  const variable = (init: tf.Tensor) => { // a variable from an initial value, which is then released
    const v = tf.variable(init);
    init.dispose();
    return v;
  };
  const w1 = variable(tf.randomNormal([FEATURES, HIDDEN], 0, Math.sqrt(2 / FEATURES), 'float32', args.seed));
  const b1 = variable(tf.zeros([HIDDEN]));
  const w2 = variable(tf.randomNormal([HIDDEN, 1], 0, Math.sqrt(1 / HIDDEN), 'float32', args.seed + 1));
  const b2 = variable(tf.zeros([1]));
  const forward = (x: tf.Tensor) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2);
  const lossFn = (x: tf.Tensor, y: tf.Tensor) => tf.losses.meanSquaredError(y, forward(x)) as tf.Scalar;
  const opt = sam(tf.train.adam(LEARNING_RATE), {rho: RHO, microBatches: MICRO_BATCHES});

  // ---- train ----
  const rng = new Rng(args.seed + 1);
  const batches = Math.ceil(examples / BATCH_SIZE);
  const bar = new ProgressBar('mSAM custom loop', epochs * batches);
  const lossByEpoch: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = tf.tensor1d(Array.from(rng.permutation(examples)), 'int32');
    let sum = 0;
    for (let b = 0; b < batches; b++) {
      const cost = tf.tidy(() => {
        const idx = tf.slice(order, b * BATCH_SIZE, Math.min(BATCH_SIZE, examples - b * BATCH_SIZE));
        const xb = tf.gather(train.x, idx);
        const yb = tf.gather(train.y, idx);
        return opt.minimizeOnBatch(lossFn, xb, yb, true)!; // one mSAM step; returns the loss at w
      });
      sum += (await cost.data())[0];
      cost.dispose();
      bar.tick(1, `epoch ${epoch + 1}`);
    }
    order.dispose();
    lossByEpoch.push(sum / batches);
  }
  bar.finish();

  // ---- check ----
  const valMse = tf.tidy(() => lossFn(val.x, val.y).dataSync()[0]);
  const valTargetVariance = tf.tidy(() => tf.moments(val.y).variance.dataSync()[0]);
  console.log(consoleTable(['epoch', 'train loss'], lossByEpoch.map((l, e) => [e + 1, l])));
  console.log(`held-out MSE ${valMse.toFixed(4)} (target variance ${valTargetVariance.toFixed(4)})`);
  tf.dispose([train.x, train.y, val.x, val.y, w1, b1, w2, b2]);
  opt.dispose();
  return {lossByEpoch, valMse, valTargetVariance};
}

if (isMain(import.meta.url)) runMain(main);
