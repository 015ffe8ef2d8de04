/**
 * The MNIST pipeline's work: train a small CNN with BatchNormalization under Adam, SAM and mSAM at
 * each label-noise level and seed, measure its sharpness (m-sharpness and the top Hessian eigenvalue of
 * the training loss), then quantize it with every quantizer and bit width and measure test accuracy.
 * Returns a serializable record; report.ts turns it into tables, plots and findings.
 *
 * Seeds: run seed s fixes the initial weights, the flipped labels and the batch order, shared by every
 * optimizer at that seed; the train/test split is fixed (cfg.splitSeed) and independent of s.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {sam} from 'tfjs-sam-quantease/sam';
import {quantizeModel} from 'tfjs-sam-quantease/quantize';
import {modelHessianEigenvalue, modelMSharpness} from 'tfjs-sam-quantease/sharpness';
import {Rng} from '../lib/rng.ts';
import {ProgressBar} from '../lib/progress.ts';
import {writeFileAtomic} from '../lib/report_writer.ts';
import {MNIST_CLASSES, MNIST_PIXELS, loadMnist, splitMnist} from '../lib/data/mnist.ts';
import {optimizerNames, type MnistPipelineConfig, type OptimizerName, type QuantLabel} from './config.ts';

export interface QuantRecord {
  label: QuantLabel;
  bits: number;
  testAccuracy: number;
  /** Float test accuracy minus this one (positive = accuracy lost). */
  drop: number;
  packedBytes: number;
  seconds: number;
}

export interface ModelRecord {
  optimizer: OptimizerName;
  noise: number;
  seed: number;
  /** SAM radius used in training (0 for Adam). */
  rho: number;
  trainLossByEpoch: number[];
  testAccuracyByEpoch: number[];
  testAccuracy: number;
  /** Fraction of the (noisy) training labels the model reproduces: memorization of the flips. */
  trainNoisyFit: number;
  trainSeconds: number;
  trainCpuSeconds: number;
  mSharpness: number;
  hessianEigenvalue: number;
  /** Eigenvalue of largest magnitude (differs from hessianEigenvalue when a negative one dominates). */
  hessianDominant: number;
  hessianIterations: number;
  hessianConverged: boolean;
  hvp: string;
  sharpnessSeconds: number;
  quantized: QuantRecord[];
}

export interface SweepRecord {
  noise: number;
  rho: number;
  seed: number;
  valAccuracy: number;
  trainSeconds: number;
}

export interface PipelineRecord {
  title: string;
  command: string;
  backend: string;
  config: MnistPipelineConfig;
  seeds: number[];
  /** Images in the package, and the training / test images used. */
  split: {total?: number; train: number; test: number};
  /** rho used for SAM and mSAM at each noise level (key: noise as a string). */
  chosenRho: Record<string, number>;
  sweep: SweepRecord[];
  models: ModelRecord[];
  /** How the run was carried out, when it differs from one plain invocation (printed in the report). */
  notes?: string[];
  /** False while running (a partial record is written after every model). */
  complete: boolean;
  totalSeconds: number;
  totalCpuSeconds: number;
}

interface Split {
  x: tf.Tensor4D;
  labels: Int32Array;
}

export function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

/** Symmetric label noise: exactly round(noise * n) labels, chosen at random, moved to a different random class. */
export function noisyLabels(labels: Int32Array, noise: number, rng: Rng): Int32Array {
  const out = Int32Array.from(labels);
  const flips = Math.round(noise * labels.length);
  const perm = rng.permutation(labels.length);
  for (let i = 0; i < flips; i++) out[perm[i]] = (labels[perm[i]] + 1 + rng.int(MNIST_CLASSES - 1)) % MNIST_CLASSES;
  return out;
}

export function buildCnn(cfg: MnistPipelineConfig, seed: number): tfl.Sequential {
  const init = (k: number) => tfl.initializers.heNormal({seed: seed * 101 + k});
  return tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [28, 28, 1], filters: cfg.model.filters1, kernelSize: 3, strides: 2, padding: 'same',
      useBias: false, kernelInitializer: init(1), name: 'conv1'}),
    tfl.layers.batchNormalization({momentum: cfg.model.bnMomentum, name: 'bn1'}),
    tfl.layers.reLU(),
    tfl.layers.conv2d({filters: cfg.model.filters2, kernelSize: 3, strides: 2, padding: 'same', useBias: false,
      kernelInitializer: init(2), name: 'conv2'}),
    tfl.layers.batchNormalization({momentum: cfg.model.bnMomentum, name: 'bn2'}),
    tfl.layers.reLU(),
    tfl.layers.flatten(),
    tfl.layers.dense({units: cfg.model.hidden, activation: 'relu', kernelInitializer: init(3), name: 'dense1'}),
    tfl.layers.dense({units: MNIST_CLASSES, activation: 'softmax', kernelInitializer: init(4), name: 'dense2'}),
  ]});
}

function makeOptimizer(name: OptimizerName, cfg: MnistPipelineConfig, rho: number, model: tfl.LayersModel): tf.Optimizer {
  const base = tf.train.adam(cfg.learningRate);
  if (name === 'Adam') return base;
  if (name === 'SAM') return sam(base, {rho});
  const m = Number(/\d+/.exec(name)![0]);
  return sam(base, {rho, microBatches: m, model});
}

async function accuracy(model: tfl.LayersModel, x: tf.Tensor, labels: Int32Array): Promise<number> {
  const pred = tf.tidy(() => tf.argMax(model.predict(x, {batchSize: 512}) as tf.Tensor, -1));
  const p = await pred.data();
  pred.dispose();
  let ok = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === labels[i]) ok++;
  return ok / p.length;
}

function oneHot(labels: Int32Array): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), MNIST_CLASSES), 'float32') as tf.Tensor2D);
}

interface TrainResult {
  model: tfl.Sequential;
  trainLossByEpoch: number[];
  evalAccuracyByEpoch: number[];
  seconds: number;
  cpuSeconds: number;
}

/** Trains one model on (x, labels) with our own seeded batch order; evaluates on `evalSet` after each epoch. */
async function trainOne(cfg: MnistPipelineConfig, name: OptimizerName, rho: number, seed: number, x: tf.Tensor4D,
  labels: Int32Array, evalSet: Split, tick: () => void): Promise<TrainResult> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const model = buildCnn(cfg, seed);
  model.compile({optimizer: makeOptimizer(name, cfg, rho, model), loss: 'categoricalCrossentropy'});
  const y = oneHot(labels);
  const orderRng = new Rng(seed).fork(2);
  const trainLossByEpoch: number[] = [];
  const evalAccuracyByEpoch: number[] = [];
  try {
    for (let e = 0; e < cfg.epochs; e++) {
      const order = tf.tensor1d(orderRng.permutation(labels.length), 'int32');
      const xe = tf.gather(x, order);
      const ye = tf.gather(y, order);
      const h = await model.fit(xe, ye, {epochs: 1, batchSize: cfg.batchSize, shuffle: false, verbose: 0});
      tf.dispose([order, xe, ye]);
      trainLossByEpoch.push(h.history.loss[0] as number);
      evalAccuracyByEpoch.push(await accuracy(model, evalSet.x, evalSet.labels));
      tick();
    }
  } finally {
    y.dispose();
  }
  return {model, trainLossByEpoch, evalAccuracyByEpoch, seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSince(c0)};
}

function disposeModel(model: tfl.LayersModel): void {
  model.optimizer?.dispose();
  model.dispose();
}

export interface RunOptions {
  out: string;
  seed: number;
  title: string;
  command: string;
  backend: string;
  /** Draw progress bars (default: when stderr is a TTY). */
  progress?: boolean;
  log?: (s: string) => void;
}

/** Runs the whole pipeline; writes `<out>/results.json` after every trained model (atomic). */
export async function runMnistPipeline(cfg: MnistPipelineConfig, opts: RunOptions): Promise<PipelineRecord> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const log = opts.log ?? ((s: string) => console.log(s));
  // ---- data: the fixed split ----
  const data = loadMnist();
  const split = splitMnist(data.count, cfg.trainSize, cfg.splitSeed);
  const trainIdx = split.train.slice(0, cfg.trainLimit ?? split.train.length);
  const testIdx = split.test.slice(0, cfg.testLimit ?? split.test.length);
  const subset = (idx: number[]): Split => {
    const buf = new Float32Array(idx.length * MNIST_PIXELS);
    idx.forEach((r, i) => buf.set(data.images.subarray(r * MNIST_PIXELS, (r + 1) * MNIST_PIXELS), i * MNIST_PIXELS));
    return {x: tf.tensor4d(buf, [idx.length, 28, 28, 1]), labels: Int32Array.from(idx, (r) => data.labels[r])};
  };
  const train = subset(trainIdx);
  const test = subset(testIdx);
  const seeds = Array.from({length: cfg.seeds}, (_, s) => opts.seed + s);
  const names = optimizerNames(cfg);
  const rec: PipelineRecord = {title: opts.title, command: opts.command, backend: opts.backend, config: cfg, seeds,
    split: {total: data.count, train: trainIdx.length, test: testIdx.length}, chosenRho: {}, sweep: [], models: [], complete: false,
    totalSeconds: 0, totalCpuSeconds: 0};
  const save = () => {
    rec.totalSeconds = (performance.now() - t0) / 1000;
    rec.totalCpuSeconds = cpuSince(c0);
    writeFileAtomic(`${opts.out}/results.json`, JSON.stringify(rec, null, 1));
  };
  log(`MNIST pipeline: ${trainIdx.length} train / ${testIdx.length} test images, ${names.join(', ')}, ` +
      `noise ${cfg.noiseLevels.map((n) => `${n * 100}%`).join(' and ')}, seeds ${seeds.join(', ')}, ${cfg.epochs} epochs, ` +
      `backend ${opts.backend}`);
  const calib = tf.slice(train.x, 0, cfg.calibration);
  const sharpN = cfg.sharpness.microBatchSize * cfg.sharpness.microBatches;
  try {
    // ---- 1. rho sweep: SAM on (train minus validation), accuracy on the held-out training images ----
    const nVal = cfg.sweepValidation;
    const sweepBar = new ProgressBar('rho sweep', cfg.sweepNoiseLevels.length * cfg.rhoGrid.length * cfg.epochs,
        {enabled: opts.progress});
    for (const noise of cfg.sweepNoiseLevels) {
      const sweepSeed = opts.seed + 1000;
      const labels = noisyLabels(train.labels, noise, new Rng(sweepSeed).fork(1 + Math.round(noise * 100)));
      const nFit = trainIdx.length - nVal;
      const xFit = tf.slice(train.x, 0, nFit);
      const val: Split = {x: tf.slice(train.x, nFit, nVal), labels: labels.slice(nFit)};
      for (const rho of cfg.rhoGrid) {
        const r = await trainOne(cfg, 'SAM', rho, sweepSeed, xFit, labels.slice(0, nFit), val, () => sweepBar.tick());
        rec.sweep.push({noise, rho, seed: sweepSeed, valAccuracy: r.evalAccuracyByEpoch[cfg.epochs - 1], trainSeconds: r.seconds});
        disposeModel(r.model);
        log(`  sweep ${noise * 100}% noise, rho ${rho}: validation accuracy ${r.evalAccuracyByEpoch[cfg.epochs - 1].toFixed(4)} (${r.seconds.toFixed(0)} s)`);
      }
      tf.dispose([xFit, val.x]);
      const cands = rec.sweep.filter((s) => s.noise === noise);
      rec.chosenRho[String(noise)] = cands.reduce((a, b) => (b.valAccuracy > a.valAccuracy ? b : a)).rho;
      save();
    }
    sweepBar.finish();
    for (const noise of cfg.noiseLevels) {
      if (rec.chosenRho[String(noise)] !== undefined) continue;
      const swept = cfg.sweepNoiseLevels;
      rec.chosenRho[String(noise)] = swept.length === 0 ? cfg.rhoGrid[0] :
        rec.chosenRho[String(swept.reduce((a, b) => (Math.abs(b - noise) < Math.abs(a - noise) ? b : a)))];
    }
    log(`  rho for SAM and mSAM: ${cfg.noiseLevels.map((n) => `${n * 100}% noise: ${rec.chosenRho[String(n)]}`).join(', ')}`);

    // ---- 2. train, measure sharpness, quantize: every (noise, seed, optimizer) ----
    const total = cfg.noiseLevels.length * seeds.length * names.length;
    const bar = new ProgressBar('train + quantize', total * (cfg.epochs + 1), {enabled: opts.progress});
    // Seeds outermost, so that a run stopped early still holds complete seeds of every (noise, optimizer).
    for (const seed of seeds) {
      for (const noise of cfg.noiseLevels) {
        const labels = noisyLabels(train.labels, noise, new Rng(seed).fork(1 + Math.round(noise * 100)));
        const ySharp = oneHot(labels.slice(0, Math.max(sharpN, cfg.hessian.examples)));
        for (const name of names) {
          const rho = name === 'Adam' ? 0 : rec.chosenRho[String(noise)];
          const r = await trainOne(cfg, name, rho, seed, train.x, labels, test,
              () => bar.tick(1, `${noise * 100}% ${name} seed ${seed}`));
          const model = r.model;
          const floatAcc = r.evalAccuracyByEpoch[cfg.epochs - 1];
          // Sharpness at the end of training, on the first training images with the labels trained on.
          const s0 = performance.now();
          const xs = tf.slice(train.x, 0, sharpN);
          const ys = tf.slice(ySharp, 0, sharpN);
          const ms = modelMSharpness(model, xs, ys, {rho: cfg.sharpness.rho, microBatchSize: cfg.sharpness.microBatchSize,
            steps: cfg.sharpness.steps, seed, progress: false});
          const xh = tf.slice(train.x, 0, cfg.hessian.examples);
          const yh = tf.slice(ySharp, 0, cfg.hessian.examples);
          const he = modelHessianEigenvalue(model, xh, yh, {maxIterations: cfg.hessian.maxIterations,
            tolerance: cfg.hessian.tolerance, seed, progress: false});
          tf.dispose([xs, ys, xh, yh]);
          const sharpnessSeconds = (performance.now() - s0) / 1000;
          // Quantize with every method and width (the float model is not modified).
          const quantized: QuantRecord[] = [];
          for (const bits of cfg.bits) {
            for (const v of cfg.variants) {
              const q0 = performance.now();
              const {model: q, report} = await quantizeModel(model, calib, {
                method: v.method, bits, ...(v.outliers ? {outliers: v.outliers} : {}),
                ...(cfg.sweeps !== undefined && v.method === 'quantease' ? {sweeps: cfg.sweeps} : {}),
                compareRtn: false,
              });
              const acc = await accuracy(q, test.x, test.labels);
              q.dispose();
              quantized.push({label: v.label, bits, testAccuracy: acc, drop: floatAcc - acc,
                packedBytes: report.totals.packedBytes, seconds: (performance.now() - q0) / 1000});
            }
          }
          rec.models.push({optimizer: name, noise, seed, rho, trainLossByEpoch: r.trainLossByEpoch,
            testAccuracyByEpoch: r.evalAccuracyByEpoch, testAccuracy: floatAcc,
            trainNoisyFit: await accuracy(model, train.x, labels), trainSeconds: r.seconds,
            trainCpuSeconds: r.cpuSeconds, mSharpness: ms.value, hessianEigenvalue: he.eigenvalue, hessianDominant: he.dominant,
            hessianIterations: he.iterations, hessianConverged: he.converged, hvp: he.hvp, sharpnessSeconds, quantized});
          disposeModel(model);
          bar.tick(1);
          const qs = quantized.filter((x) => x.bits === Math.min(...cfg.bits)).map((x) => `${x.label} ${x.testAccuracy.toFixed(3)}`);
          log(`  ${noise * 100}% ${name} seed ${seed}: test ${floatAcc.toFixed(4)}, m-sharpness ${ms.value.toFixed(4)}, ` +
              `lambda_max ${he.eigenvalue.toFixed(2)} (${he.iterations} it.), ${Math.min(...cfg.bits)}-bit: ${qs.join(', ')} ` +
              `[train ${r.seconds.toFixed(0)} s, sharpness ${sharpnessSeconds.toFixed(0)} s]`);
          save();
        }
        ySharp.dispose();
      }
    }
    bar.finish();
  } finally {
    tf.dispose([train.x, test.x, calib]);
  }
  rec.complete = true;
  save();
  return rec;
}
