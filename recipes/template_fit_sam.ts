/**
 * Template: adopt SAM, or mSAM, in an existing `model.fit` pipeline by changing one line, the optimizer.
 *
 * Run: npx tsx recipes/template_fit_sam.ts [--quick] [--seed n] [--epochs n]
 *
 *   Adam:  optimizer: tf.train.adam(LEARNING_RATE)
 *   SAM:   optimizer: sam(tf.train.adam(LEARNING_RATE), {rho: RHO})
 *   mSAM:  optimizer: sam(tf.train.adam(LEARNING_RATE), {rho: RHO, microBatches: MICRO_BATCHES, model})
 *
 * SAM (Foret et al. 2021) takes each gradient at w + rho g/||g||, costing about two forward/backward
 * passes per step; mSAM (Behdin et al. 2023) perturbs each of `microBatches` slices of the batch on its
 * own. The base optimizer keeps its learning rate, schedule and state. The data below is a synthetic
 * stand-in: replace `makeData` with your own tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {sam} from 'tfjs-sam-quantease/sam';
import {isMain, parseArgs, runMain} from './lib/args.ts';
import {Rng} from './lib/rng.ts';
import {consoleTable} from './lib/report_writer.ts';
import {fitProgress} from './lib/progress.ts';

// ---- constants (each with one line of guidance) ----
/** Base learning rate: keep the one your pipeline already uses; SAM does not change it. */
const LEARNING_RATE = 1e-3;
/** SAM radius: 0.05 is the usual start; try 0.02-0.2 (larger = flatter, slower to fit). */
const RHO = 0.05;
/** mSAM micro-batches: 2-8; each needs BATCH_SIZE / MICRO_BATCHES >= 8 or so examples. */
const MICRO_BATCHES = 4;
/** Batch size: unchanged from your pipeline. */
const BATCH_SIZE = 64;
/** Epochs (override with --epochs). SAM costs ~2x per epoch; compare at equal epochs or equal time. */
const EPOCHS = 10;
/** Training examples of the synthetic stand-in data. */
const EXAMPLES = 2048;

type Method = 'Adam' | 'SAM' | 'mSAM';

export interface TemplateRow {
  method: Method;
  trainLoss: number;
  valAccuracy: number;
  secondsPerEpoch: number;
}

/** Synthetic stand-in: two noisy interleaved spirals in 2-D plus 6 distractor features, 10% labels flipped. */
function makeData(n: number, seed: number): {x: tf.Tensor2D; y: tf.Tensor2D} {
  const rng = new Rng(seed);
  const dims = 8;
  const x = new Float32Array(n * dims);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const t = 0.5 + 3 * rng.uniform();
    const angle = t * 1.4 + label * Math.PI;
    x[i * dims] = (t * Math.cos(angle)) / 3 + 0.08 * rng.normal();
    x[i * dims + 1] = (t * Math.sin(angle)) / 3 + 0.08 * rng.normal();
    for (let j = 2; j < dims; j++) x[i * dims + j] = rng.normal();
    y[i] = rng.uniform() < 0.1 ? 1 - label : label;
  }
  return {x: tf.tensor2d(x, [n, dims]), y: tf.tensor2d(y, [n, 1])};
}

function makeModel(seed: number): tfl.LayersModel {
  return tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [8], units: 64, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({seed})}),
    tfl.layers.dense({units: 64, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({seed: seed + 1})}),
    tfl.layers.dense({units: 1, activation: 'sigmoid', kernelInitializer: tfl.initializers.glorotUniform({seed: seed + 2})}),
  ]});
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<TemplateRow[]> {
  const args = parseArgs(argv, {name: 'template_fit_sam', epochs: EPOCHS});
  const epochs = args.quick && !args.explicit.has('epochs') ? 2 : args.epochs!;
  const examples = args.quick ? 256 : EXAMPLES;
  await selectBackend({quiet: true});
  console.log(`template_fit_sam: backend ${tf.getBackend()}, seed ${args.seed}, epochs ${epochs}`);

  // ---- configure: data ----
  const train = makeData(examples, args.seed);
  const val = makeData(Math.max(256, examples / 4), args.seed + 1000);

  const rows: TemplateRow[] = [];
  for (const method of ['Adam', 'SAM', 'mSAM'] as Method[]) {
    const model = makeModel(args.seed);
    // ---- the one line that changes ----
    const optimizer =
      method === 'Adam' ? tf.train.adam(LEARNING_RATE) :
      method === 'SAM' ? sam(tf.train.adam(LEARNING_RATE), {rho: RHO}) :
      sam(tf.train.adam(LEARNING_RATE), {rho: RHO, microBatches: MICRO_BATCHES, model});
    model.compile({optimizer, loss: 'binaryCrossentropy', metrics: ['accuracy']});

    // ---- train: unchanged ----
    const t0 = Date.now();
    const history = await model.fit(train.x, train.y, {
      epochs, batchSize: BATCH_SIZE, shuffle: true, verbose: 0, callbacks: [fitProgress(method)],
    });
    const seconds = (Date.now() - t0) / 1000;

    // ---- check ----
    const evaluated = model.evaluate(val.x, val.y, {batchSize: 512}) as tf.Scalar[]; // [loss, accuracy]
    const losses = history.history.loss as number[];
    rows.push({method, trainLoss: losses[losses.length - 1], valAccuracy: (await evaluated[1].data())[0],
      secondsPerEpoch: seconds / epochs});
    tf.dispose(evaluated);
    optimizer.dispose();
    model.dispose();
  }
  tf.dispose([train.x, train.y, val.x, val.y]);

  console.log(consoleTable(['method', 'train loss', 'val accuracy', 's / epoch'],
      rows.map((r) => [r.method, r.trainLoss, r.valAccuracy, r.secondsPerEpoch])));
  return rows;
}

if (isMain(import.meta.url)) runMain(main);
